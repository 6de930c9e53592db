"""The transfer-learning engine: glyph world, backbones, strategies, trainer. Never imports streamlit."""

from engine.core.config import ConfigError, TrainConfig

__all__ = ["ConfigError", "TrainConfig"]
