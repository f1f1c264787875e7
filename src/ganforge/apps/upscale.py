"""`ganforge upscale`: apply a super-resolution run (srgan, or pix2pix on downscaleK pairs) to the user's files.

As `translate` (the same inputs: a file, a folder or a glob; the same outputs: PNG under each input's name, or one
named .png; grey/RGB converted to the model's channels), but only for runs whose outputs are K > 1 times their
input's size, and tiled: each image is cut into tiles of `tile` input px, each run with `overlap` px of context
that is cropped off again (ganforge.tiling), so a large photograph fits in memory. For SRResNet the default overlap
is G's receptive radius, and the tiled result is the whole image's up to float rounding (no seam). Nothing is
written unless every input can be read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from ganforge.apps.translate import plan_outputs, read_image, to_pil
from ganforge.atomic import write_atomic
from ganforge.run import DEFAULT_TILE, Run


def upscale_files(run: Run, inputs: list[Path], out: Path, tile: int = DEFAULT_TILE, overlap: int | None = None,
                  device: str = "cpu", progress: bool = True) -> Iterator[Path]:
    """Upscale each input into its output file, one at a time (images may differ in size); yields the outputs."""
    # The one-line refusals (a noise run, a scale-1 run, a negative tile) before anything is read or written.
    run.upscale(torch.zeros(1, run.condition["channels"] if run.image_conditioned else 1, 2, 2), tile=tile,
                overlap=overlap)
    targets = plan_outputs(inputs, out)
    images = [read_image(p) for p in inputs]  # every input is readable before anything is written
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    for image, target in tqdm(list(zip(images, targets, strict=True)), disable=not progress or len(images) < 2,
                              unit="image"):
        result = to_pil(run.upscale(image, device=device, tile=tile, overlap=overlap)[0])
        write_atomic(target, lambda temp, result=result: result.save(temp, format="PNG"))
        yield target
