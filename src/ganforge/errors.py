"""Errors a user can cause: each names the input, what was expected and how to fix it."""


class GanforgeError(Exception):
    """Base class: the CLI prints these in one line and exits with status 2."""


class ConfigError(GanforgeError):
    """A config key, value or file is wrong."""


class DataError(GanforgeError):
    """A data source is missing, empty, unreadable or too small."""


class CheckpointError(GanforgeError):
    """A run folder or checkpoint is missing, damaged or belongs to another run."""


class TrainingDiverged(GanforgeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
