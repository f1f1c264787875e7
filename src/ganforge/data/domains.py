"""Two unpaired image domains (CycleGAN): data.source is domain A, data.target domain B, any two image sources.

Each domain is loaded as a data source of its own (built-in set, folder or array file; data.split, data.max_samples
and data.labels apply to each), then both are brought to one form so that one net shape serves both directions:
the side is data.resolution, else the larger of the two domains' sides; the channels are data.channels, else the
larger count of the two (grey repeated to RGB). A domain not yet in that form is loaded again with it, so it goes
through the same resize and conversion as any source (Pillow bicubic on the shorter side, centre crop; ITU-R 601
luma). Domain B's samples ride along in `TensorData.domain_b`; batches draw them with their own indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ganforge.config import DataConfig
from ganforge.data.spec import TensorData
from ganforge.errors import DataError


def load_domains(config: DataConfig, load: Callable[[DataConfig], TensorData]) -> TensorData:
    """Domain A (data.source) with domain B (data.target) in `domain_b`, both of one shape; `load` loads one source."""
    single = replace(config, target="", unpaired=False)
    configs = {"data.source": single, "data.target": replace(single, source=config.target)}
    loaded = {key: load(each) for key, each in configs.items()}
    for key, data in loaded.items():
        if data.spec.kind != "image":
            raise DataError(f"{key} '{data.spec.name}' holds vectors, but two unpaired domains are translated into "
                            "each other as images; use image sources (a built-in image set, a folder, an .npy of "
                            "images) for data.source and data.target")
    shapes = [data.spec.shape for data in loaded.values()]
    side = config.resolution or max(max(shape[1:]) for shape in shapes)
    channels = config.channels or max(shape[0] for shape in shapes)
    for key, data in loaded.items():
        if data.spec.shape != (channels, side, side):
            loaded[key] = load(replace(configs[key], resolution=side, channels=channels))
    a, b = loaded["data.source"], loaded["data.target"]
    spec = replace(a.spec, domain_b=config.target)
    return TensorData(a.x, a.y, spec, a.c, None, domain_b=b)
