"""A history of generated images for D (Shrivastava et al. 2017, as CycleGAN uses it): D also sees older fakes.

Until the pool holds `size` images, each new image goes in and is returned; once full, each new image is returned
as is with probability 1/2, and otherwise swapped for a stored one picked uniformly, which is returned instead while
the new image takes its place. The draws come from the pool's own torch.Generator, so a pool's choices depend only
on its seed and what it was given; its images and RNG state are checkpointed (state_tensors) for exact resume.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Up to `size` past images (detached); `size` 0 passes images through."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.rng = torch.Generator().manual_seed(seed)
        self.images: Tensor | None = None  # (k, C, H, W), k <= size

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """The batch D sees in place of `images`: each one new or, half the time once full, a stored one."""
        if self.size == 0:
            return images.detach()
        images = images.detach()
        stored = self.images.to(images.device, images.dtype) if self.images is not None else images[:0].clone()
        out = []
        for image in images:
            if len(stored) < self.size:
                stored = torch.cat([stored, image[None].clone()])
                out.append(image)
            elif float(torch.rand((), generator=self.rng)) < 0.5:
                slot = int(torch.randint(self.size, (), generator=self.rng))
                out.append(stored[slot].clone())
                stored[slot] = image
            else:
                out.append(image)
        self.images = stored
        return torch.stack(out)

    def state_tensors(self) -> dict[str, Tensor]:
        """The stored images (CPU) and the RNG state; an empty pool stores a 0-image tensor."""
        images = self.images if self.images is not None else torch.zeros(0)
        return {"images": images.detach().cpu(), "rng": self.rng.get_state()}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        images = tensors["images"]
        self.images = images.clone() if images.ndim == 4 and len(images) else None
        self.rng.set_state(tensors["rng"])
