"""ganforge: train, evaluate and use Generative Adversarial Networks.

The public names are imported on first use, so `import ganforge` (and the `ganforge` command's start)
does not load torch until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import ganforge.train  # noqa: F401 - the sub-package (light); loaded now so that its import never rebinds `ganforge.train`

del train  # noqa: F821 - `ganforge.train` is the function (from __getattr__), as users expect

__version__ = "0.1.0"

_EXPORTS = {
    "Run": "ganforge.run", "load": "ganforge.api", "resume": "ganforge.api", "train": "ganforge.api",
    "Config": "ganforge.config", "DataConfig": "ganforge.config", "ModelConfig": "ganforge.config",
    "TrainConfig": "ganforge.config", "CheckpointError": "ganforge.errors", "ConfigError": "ganforge.errors",
    "DataError": "ganforge.errors", "GanforgeError": "ganforge.errors", "TrainingDiverged": "ganforge.errors",
    "RunLocked": "ganforge.errors", "StorageError": "ganforge.errors", "TrainingInterrupted": "ganforge.errors",
}

__all__ = [
    "CheckpointError", "Config", "ConfigError", "DataConfig", "DataError", "GanforgeError", "ModelConfig", "Run",
    "RunLocked", "StorageError", "TrainConfig", "TrainingDiverged", "TrainingInterrupted", "load", "resume", "train",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ganforge' has no attribute '{name}'")


if TYPE_CHECKING:
    from ganforge.api import load, resume, train
    from ganforge.config import Config, DataConfig, ModelConfig, TrainConfig
    from ganforge.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        GanforgeError,
        RunLocked,
        StorageError,
        TrainingDiverged,
        TrainingInterrupted,
    )
    from ganforge.run import Run
