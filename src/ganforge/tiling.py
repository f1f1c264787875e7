"""Apply an image-to-image G to a large image tile by tile, each tile with a margin of context that is cropped off.

The image is cut into `tile` x `tile` cores (input pixels; the last row and column may be smaller). G runs on each
core grown by `overlap` pixels of the image on every side (less at the image's edges, which G sees as in the whole
image), and only the core's part of the output is kept. For a fully convolutional G whose output pixel depends on
inputs at most `overlap` pixels away and whose normalisation is a fixed per-channel map (SRResNet in eval mode: its
`receptive_radius()`), the result is G's output on the whole image, up to float rounding (the convolutions sum in
another order on other sizes): no seam, nothing blended. With a smaller overlap, or a G that normalises each input
on its own statistics (pix2pix's U-Net with instance norm), the tiles differ from the whole near their edges.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


def tiled(forward: Callable[[Tensor], Tensor], images: Tensor, scale: int, tile: int, overlap: int) -> Tensor:
    """forward(images) on (N, C, H, W), computed on tiles of `tile` input px with `overlap` px of context; tile 0
    (or an image no larger than a tile) runs forward once on the whole. forward must return `scale` times the
    size of what it is given."""
    height, width = images.shape[-2:]
    if tile <= 0 or (height <= tile and width <= tile):
        return forward(images)
    out: Tensor | None = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            top_c, left_c = max(top - overlap, 0), max(left - overlap, 0)  # the core grown by its context
            piece = forward(images[..., top_c : min(bottom + overlap, height), left_c : min(right + overlap, width)])
            if out is None:
                out = piece.new_empty((*piece.shape[:-2], height * scale, width * scale))
            rows, columns = slice(top - top_c, bottom - top_c), slice(left - left_c, right - left_c)
            out[..., top * scale : bottom * scale, left * scale : right * scale] = piece[
                ..., rows.start * scale : rows.stop * scale, columns.start * scale : columns.stop * scale]
    assert out is not None
    return out
