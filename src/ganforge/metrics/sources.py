"""Turn what a user passes to a metric into images or features: tensors, arrays, folders, data sets, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.config import DataConfig
from ganforge.data import BUILTIN, load_data
from ganforge.errors import DataError
from ganforge.metrics.features import as_uint8

Source = Any  # Tensor | np.ndarray | str | Path | Run


def generate_uint8(run: Any, n: int, seed: int = 0, device: str = "cpu", chunk: int = 1000) -> Tensor:
    """n samples of a run's generator, quantised to uint8 chunk by chunk (bounded memory)."""
    parts = [as_uint8(run.sample(min(chunk, n - start), seed=seed + start, device=device))
             for start in range(0, n, chunk)]
    return torch.cat(parts)


def resolve_source(source: Source, n: int | None = None, seed: int = 0, device: str = "cpu") -> Tensor:
    """Images as uint8 (N, C, H, W), or features (N, D) when given a 2-D array.

    A run folder (or Run) is sampled (n samples, default 10,000); a built-in data set name, an image
    folder or an array file is loaded (first n samples when n is given).
    """
    from ganforge.run import Run  # local: a Run is optional here, and the run module imports nets

    if isinstance(source, Run):
        return generate_uint8(source, n or 10_000, seed, device)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if (path / "config.toml").is_file():
            return generate_uint8(Run(path), n or 10_000, seed, device)
        if str(source) in BUILTIN or path.exists():
            data = load_data(DataConfig(source=str(source), max_samples=n))
            if data.x.dtype != torch.uint8:
                return data.spec.decode(data.x)
            return data.x
        raise DataError(f"metric input '{source}' is neither a run folder, a built-in data set "
                        f"({', '.join(BUILTIN)}), an image folder nor an array file")
    tensor = torch.as_tensor(np.asarray(source)) if isinstance(source, np.ndarray) else source
    if not isinstance(tensor, Tensor):
        raise DataError(f"metric input of type {type(source).__name__} is not supported; pass a tensor, an array, "
                        "a folder, a data set name or a run")
    if tensor.ndim == 4 and tensor.shape[1] not in (1, 3) and tensor.shape[-1] in (1, 3):
        tensor = tensor.permute(0, 3, 1, 2)  # NHWC arrays, as images are usually stored
    return tensor[:n] if n is not None else tensor
