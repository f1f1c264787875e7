"""Where ganforge caches what it computes once (trained classifiers, real-data features): $GANFORGE_CACHE."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$GANFORGE_CACHE, else ~/.cache/ganforge."""
    return Path(os.environ.get("GANFORGE_CACHE") or Path.home() / ".cache" / "ganforge")
