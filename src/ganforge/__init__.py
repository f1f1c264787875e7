"""ganforge: train, evaluate and use Generative Adversarial Networks."""

from ganforge.api import Run, load, resume, train
from ganforge.config import Config, DataConfig, ModelConfig, TrainConfig
from ganforge.errors import CheckpointError, ConfigError, DataError, GanforgeError, TrainingDiverged

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataConfig", "DataError", "GanforgeError", "ModelConfig", "Run",
    "TrainConfig", "TrainingDiverged", "load", "resume", "train",
]
