"""The bottom layer: TrainConfig (every knob), the device, paths and the server's settings. Imports nothing of the engine."""
