"""Training: strategies, schedules, metrics, the Trainer loop and its callbacks, make_trainer(config), pretraining."""
