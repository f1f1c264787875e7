"""Two unpaired image domains (CycleGAN): data.source is domain A, data.target domain B, any two image sources.

Each domain is loaded as a data source of its own (built-in set, folder or array file; data.split, data.max_samples
and data.labels apply to each), then both are brought to one form so that one net shape serves both directions:
the side is data.resolution, else the larger of the two domains' sides; the channels are data.channels, else the
larger count of the two (grey repeated to RGB). A domain not yet in that form is loaded again with it, so it goes
through the same resize and conversion as any source (Pillow bicubic on the shorter side, centre crop; ITU-R 601
luma). With data.target_box, domain B is brought to that side instead and padded with black to the common side, its
content centred in a box as MNIST's digits are (20 px in 28): two domains that frame their content alike leave a
translator nothing to move. Domain B's samples ride along in `TensorData.domain_b`; batches draw them with their
own indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from ganforge.config import DataConfig
from ganforge.data.spec import TensorData
from ganforge.errors import DataError

MIN_BOX = 4  # px: the smallest box data.target_box accepts


def in_frame(data: TensorData, side: int) -> TensorData:
    """`data`'s images centred in a black frame of `side` px (an odd margin puts the extra pixel below / right)."""
    box = data.spec.shape[1]
    before = (side - box) // 2
    x = torch.nn.functional.pad(data.x, (before, side - box - before, before, side - box - before))
    return TensorData(x, data.y, replace(data.spec, shape=(data.spec.shape[0], side, side)), data.c, data.source)


def box_of(images: Tensor, box: int) -> Tensor:
    """The centred `box` px of (N, C, S, S) images: the part in_frame put there."""
    before = (images.shape[-1] - box) // 2
    return images[..., before : before + box, before : before + box]


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
    box = config.target_box
    if box and not MIN_BOX <= box < side:
        raise DataError(f"data.target_box {box} must be at least {MIN_BOX} px and smaller than the images' side "
                        f"({side} px, data.resolution or the larger domain's side), e.g. 20 for MNIST's framing in 28")
    wanted = {"data.source": side, "data.target": box or side}
    for key, data in loaded.items():
        if data.spec.shape != (channels, wanted[key], wanted[key]):
            loaded[key] = load(replace(configs[key], resolution=wanted[key], channels=channels))
    a, b = loaded["data.source"], loaded["data.target"]
    if box:
        b = in_frame(b, side)
    spec = replace(a.spec, domain_b=config.target)
    return TensorData(a.x, a.y, spec, a.c, None, domain_b=b)
