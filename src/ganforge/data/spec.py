"""DataSpec (what the nets must produce) and TensorData (the samples, held in memory)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.schema import Choice, Fields, Float, Int, ListOf, Str


@dataclass(frozen=True)
class DataSpec:
    """Shape and meaning of one sample, enough to build nets and decode their output."""

    name: str                          # source as given (built-in name or path)
    kind: str                          # "image" (C, H, W) or "vector" (D,)
    shape: tuple[int, ...]             # shape of one encoded sample
    num_samples: int = 0
    num_classes: int = 0               # 0 = unlabelled
    class_names: tuple[str, ...] = ()
    shift: tuple[float, ...] = ()      # vectors: decoded = encoded * scale + shift
    scale: tuple[float, ...] = ()
    modes: tuple[tuple[float, ...], ...] = ()  # toy mixtures: the component centres
    mode_std: float = 0.0              # toy mixtures: the component std
    captions: tuple[str, ...] = field(default=(), repr=False)  # text-conditioned data, if any
    condition_dim: int = 0             # width of a float condition vector per sample (batch key "c"); 0 = none
    labelled: int = 0                  # semi-supervised: labels kept per class (the rest are -1); 0 = all
    pairs: str = ""                    # image-conditioned data: data.pairs (e.g. "downscale4"), "target" for paired
                                       # folders, "" = none; the input image is the batch key "source"
    source_shape: tuple[int, ...] = ()  # shape of one input image (batch key "source"), e.g. (1, 7, 7); () = none
    domain_b: str = ""                 # unpaired data (CycleGAN): the second domain's source (data.target), its
                                       # images (batch key "x_b") of this spec's shape; "" = one domain

    @property
    def conditional(self) -> bool:
        """Whether samples come with something to condition on: a class (y) or a vector (c)."""
        return self.num_classes > 0 or self.condition_dim > 0

    @property
    def image_conditioned(self) -> bool:
        """Whether each sample comes with an input image (batch key "source") for G to translate."""
        return bool(self.source_shape)

    @property
    def unpaired(self) -> bool:
        """Whether the data holds a second, unpaired domain (batch key "x_b") beside `x`."""
        return bool(self.domain_b)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DataSpec:
        """From `to_dict`'s output (JSON); check it against SPEC_SCHEMA first when it comes from a file."""
        raw = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        tupled = {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
                  for k, v in raw.items()}
        return cls(**tupled)

    def decode(self, encoded: Tensor) -> Tensor:
        """Map net output back to data units: images to [0, 1], vectors to their own scale."""
        if self.kind == "image":
            return ((encoded.float() + 1.0) / 2.0).clamp(0.0, 1.0)
        if self.shift:
            shift = torch.tensor(self.shift, dtype=torch.float32, device=encoded.device)
            scale = torch.tensor(self.scale, dtype=torch.float32, device=encoded.device)
            return encoded.float() * scale + shift
        return encoded.float()


class TensorData:
    """Samples in memory: uint8 images (encoded to [-1, 1] per batch) or float32 vectors, with optional class
    labels `y` (int64; -1 where data.labelled hid a label), condition vectors `c` (float32), input images
    `source` (uint8 (N, C_in, h, w), row i derived from or paired with x[i]; encoded to [-1, 1] like x) and a
    second, unpaired domain `domain_b` (its own samples, of x's shape; batches of it come from their own indices)."""

    def __init__(self, x: Tensor, y: Tensor | None, spec: DataSpec, c: Tensor | None = None,
                 source: Tensor | None = None, domain_b: TensorData | None = None) -> None:
        self.x, self.y, self.spec, self.c, self.source = x, y, spec, c, source
        self.domain_b = domain_b

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device) -> TensorData:
        """The same samples held on `device` (a GPU run keeps them there: no host copy per step)."""
        return TensorData(self.x.to(device), None if self.y is None else self.y.to(device), self.spec,
                          None if self.c is None else self.c.to(device),
                          None if self.source is None else self.source.to(device),
                          None if self.domain_b is None else self.domain_b.to(device))

    def batch(self, indices: Tensor, device: torch.device, indices_b: Tensor | None = None) -> dict[str, Tensor]:
        """Rows `indices` as float batches (keys x, y, c, source as present); with `indices_b`, domain B's rows
        too (x_b, y_b), drawn by their own sampler: the domains are unpaired."""
        out = self._rows(indices, device)
        if indices_b is not None and self.domain_b is not None:
            out.update({f"{key}_b": value for key, value in self.domain_b._rows(indices_b, device).items()
                        if key in ("x", "y")})
        return out

    def _rows(self, indices: Tensor, device: torch.device) -> dict[str, Tensor]:
        x = self.x[indices].to(device, non_blocking=True)
        x = x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x
        out = {"x": x}
        if self.y is not None:
            out["y"] = self.y[indices].to(device, non_blocking=True)
        if self.c is not None:
            out["c"] = self.c[indices].to(device, non_blocking=True)
        if self.source is not None:
            out["source"] = self.source[indices].to(device, non_blocking=True).float().div_(127.5).sub_(1.0)
        return out


class EpochSampler:
    """Shuffled batches without replacement, reproducible from (seed, epoch); its state resumes exactly.

    Under DDP each rank takes its own stride of the same permutation.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu") -> None:
        self.size, self.batch_size, self.seed, self.device = size, batch_size, seed, torch.device(device)
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0
        self.per_epoch = size // (batch_size * world_size)
        self._order: Tensor | None = None

    def _permutation(self) -> Tensor:
        seed = int(np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0])
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(seed))

    def next_indices(self) -> Tensor:
        if self.position >= self.per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:  # drawn on the CPU (the same on every device), moved once per epoch
            self._order = self._permutation().to(self.device)
        span = self.batch_size * self.world_size
        start = self.position * span + self.rank * self.batch_size
        self.position += 1
        return self._order[start : start + self.batch_size]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None


SPEC_SCHEMA = Fields(
    required={"name": Str(), "kind": Choice("image", "vector"), "shape": ListOf(Int(1))},
    optional={"num_samples": Int(0), "num_classes": Int(0), "class_names": ListOf(Str()), "shift": ListOf(Float()),
              "scale": ListOf(Float()), "modes": ListOf(ListOf(Float())), "mode_std": Float(),
              "captions": ListOf(Str()), "condition_dim": Int(0), "labelled": Int(0), "pairs": Str(),
              "source_shape": ListOf(Int(1)), "domain_b": Str()},
)


class ShardedSampler:
    """MD-GAN's data layout (Hardy et al. 2019): the samples cut into `shards` fixed shards (by the seed); each step
    takes `batch_size` from every shard, in shard order, each shard shuffled by epochs of its own. Its state
    resumes exactly."""

    def __init__(self, size: int, batch_size: int, seed: int, shards: int, device: torch.device | str = "cpu") -> None:
        order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
        per_shard = size // shards
        self.members = [order[k * per_shard : (k + 1) * per_shard] for k in range(shards)]
        self.samplers = [EpochSampler(per_shard, batch_size, seed + 1 + k, device=device) for k in range(shards)]
        self.device = torch.device(device)

    def next_indices(self, parts: list[int] | None = None) -> Tensor:
        """The next batch of every shard (or of the shards in `parts`), concatenated; all shards advance."""
        drawn = [members.to(self.device)[sampler.next_indices()]
                 for members, sampler in zip(self.members, self.samplers, strict=True)]
        return torch.cat(drawn if parts is None else [drawn[k] for k in parts])

    def state_dict(self) -> dict[str, int]:
        """The epoch and position of every shard (all advance together: one batch each per step)."""
        return self.samplers[0].state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        for sampler in self.samplers:
            sampler.load_state_dict(state)
