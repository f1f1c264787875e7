"""How a net is told what to make: a class label `y` (int) or a condition vector `c` (float, e.g. a sentence
embedding), turned into one learned vector per sample, and the ways G and D use it.

- G: the embedding joins z (Mirza & Osindero 2014), or sets each BatchNorm's scale and shift
  (conditional BatchNorm: de Vries et al. 2017, as in Miyato & Koyama 2018's generator).
- D: `concat` (the embedding joins D's input units, or, tiled, the maps of a conv D's first block: Mirza &
  Osindero's cGAN D gives x and y first layers of their own and joins them there; on 28 px MNIST a step
  then costs what DCGAN's does, where label maps at the input's full resolution cost 1.8x),
  `projection` (score + <embed(y), phi(x)> with phi the sum-pooled last features: Miyato & Koyama 2018),
  `auxiliary` (a K-way class head beside the real/fake score: AC-GAN, Odena et al. 2017).
Labels use an embedding table, vectors a linear map: the same nets serve labels now and text next.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganforge.errors import ConfigError

EMBED_MAX = 32          # width of the condition embedding G and a concat D get (a one-hot of <= 32 classes fits)
D_CONDITIONS = ("none", "concat", "projection", "auxiliary")


def embed_width(num_classes: int, condition_dim: int) -> int:
    return min(EMBED_MAX, num_classes or condition_dim)


class ConditionEmbedding(nn.Module):
    """y -> Embedding(num_classes, width)[y], or c -> Linear(condition_dim, width)(c): (N, width)."""

    def __init__(self, num_classes: int, condition_dim: int, width: int) -> None:
        super().__init__()
        if not num_classes and not condition_dim:
            raise ConfigError("a conditional net needs labels (num_classes > 0) or condition vectors "
                              "(condition_dim > 0)")
        self.num_classes, self.condition_dim = num_classes, condition_dim
        if num_classes:
            self.table = nn.Embedding(num_classes, width)
        else:
            self.project = nn.Linear(condition_dim, width)

    def forward(self, y: Tensor | None, c: Tensor | None) -> Tensor:
        if self.num_classes:
            if y is None:
                raise ValueError("this net is conditioned on class labels: pass y")
            return self.table(y)
        if c is None:
            raise ValueError("this net is conditioned on vectors: pass c")
        return self.project(c.float())


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm without an affine of its own, then a per-condition scale (starting at 1) and shift (at 0)."""

    def __init__(self, channels: int, num_classes: int, condition_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.scale = ConditionEmbedding(num_classes, condition_dim, channels)
        self.shift = ConditionEmbedding(num_classes, condition_dim, channels)
        for embedding in (self.scale, self.shift):  # the identity at first: scale - 1 and shift start at 0
            for parameter in embedding.parameters():
                nn.init.zeros_(parameter)

    def forward(self, x: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        scale = 1.0 + self.scale(y, c)
        return self.norm(x) * scale[:, :, None, None] + self.shift(y, c)[:, :, None, None]


def run_layers(layers: nn.Sequential, x: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
    """A Sequential whose conditional BatchNorms also take the condition."""
    for layer in layers:
        x = layer(x, y, c) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
    return x


def tile(embedding: Tensor, like: Tensor) -> Tensor:
    """(N, E) to (N, E, H, W) maps the size of `like`'s."""
    return embedding[:, :, None, None].expand(-1, -1, *like.shape[2:])


class DiscriminatorCondition(nn.Module):
    """The parts of D that take the condition. `features` is D's last feature size (channels or units).

    concat: `input_width` extra input channels/units (call `join`); projection: `project` adds <embed, phi>;
    auxiliary: `classes` gives K class logits from the same features.
    """

    def __init__(self, kind: str, num_classes: int, condition_dim: int, features: int, flat_features: int) -> None:
        super().__init__()
        if kind not in D_CONDITIONS:
            raise ConfigError(f"model.condition got '{kind}'; expected one of {', '.join(D_CONDITIONS)}")
        if kind == "auxiliary" and not num_classes:
            raise ConfigError("model.condition 'auxiliary' trains a class head, so it needs class labels; vector "
                              "conditions (data.labels onehot or an .npz 'c') take concat or projection")
        self.kind = kind
        self.input_width = embed_width(num_classes, condition_dim) if kind == "concat" else 0
        if kind == "concat":
            self.embed = ConditionEmbedding(num_classes, condition_dim, self.input_width)
        elif kind == "projection":
            self.embed = ConditionEmbedding(num_classes, condition_dim, features)
            nn.init.xavier_uniform_(next(self.embed.parameters()))
        elif kind == "auxiliary":
            self.head = nn.Linear(flat_features, num_classes)

    def join(self, x: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        """concat: the input with the condition's embedding appended (tiled over images)."""
        if self.kind != "concat":
            return x
        embedding = self.embed(y, c).to(x.dtype)
        if x.dim() == 4:
            return torch.cat([x, tile(embedding, x)], dim=1)
        return torch.cat([x.flatten(1), embedding], dim=1)

    def project(self, score: Tensor, pooled: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        """projection: score + <embed(condition), pooled features>."""
        if self.kind != "projection":
            return score
        return score + (self.embed(y, c).to(pooled.dtype) * pooled).sum(dim=1)

    def classes(self, flat: Tensor) -> Tensor:
        return self.head(flat)
