"""How a net is told what to make: a class label `y` (int) or a condition vector `c` (float, e.g. a sentence
embedding), turned into one learned vector per sample, and the ways G and D use it.

- G: the embedding joins z (Mirza & Osindero 2014), or sets each BatchNorm's scale and shift
  (conditional BatchNorm: de Vries et al. 2017, as in Miyato & Koyama 2018's generator).
- D: `concat` (the embedding joins D's input units, or, tiled, the maps of a conv D's first block: Mirza &
  Osindero's cGAN D gives x and y first layers of their own and joins them there; label maps at the input's
  full resolution cost 1.8x a DCGAN step on 28 px MNIST; a conv is linear, so `join_conv` adds the
  embedding's share without building the tiled maps, and a cgan step costs ~1.08x DCGAN's, not 1.1-1.24x),
  `projection` (score + <embed(y), phi(x)> with phi the sum-pooled last features: Miyato & Koyama 2018),
  `auxiliary` (a K-way class head beside the real/fake score: AC-GAN, Odena et al. 2017).
Labels use an embedding table, vectors a linear map: the same nets serve labels now and text next.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


def mix(embedding: Tensor, response: Tensor, like: Tensor) -> Tensor:
    """sum_e embedding[n, e] * response[e]: (N, E) and (E, C, H, W) to (N, C, H, W), laid out as `like` is
    (channels-last maps added to channels-first ones would make the sum, and its backward, a strided copy)."""
    if like.is_contiguous() or not like.is_contiguous(memory_format=torch.channels_last):
        return (embedding @ response.flatten(1)).view(embedding.shape[0], *response.shape[1:])
    channels, height, width = response.shape[1:]
    mixed = embedding @ response.permute(0, 2, 3, 1).reshape(response.shape[0], -1)
    return mixed.view(embedding.shape[0], height, width, channels).permute(0, 3, 1, 2)


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

    def join_conv(self, conv: nn.Conv2d, x: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        """concat: `conv` applied to `join(x, ...)`, without building the tiled maps. A conv is linear, so the
        condition's share is its weight slice's response to one constant map per embedding unit (E small
        images, border padding included), mixed per sample by the embedding: the same function as the
        tiled maps (to rounding) at the cost of a conv over x alone. `conv`'s weight keeps the joined layout."""
        if self.kind != "concat":
            return conv(x)
        embedding = self.embed(y, c).to(x.dtype)
        weight = conv.weight  # read once: under spectral norm each read is a normalisation
        if conv.groups != 1 or conv.padding_mode != "zeros" or weight.shape[1] != x.shape[1] + embedding.shape[1]:
            return conv(self.join(x, y, c))
        own, joined = weight[:, : x.shape[1]], weight[:, x.shape[1]:]
        out = F.conv2d(x, own, conv.bias, conv.stride, conv.padding, conv.dilation)
        units = embedding.shape[1]
        basis = torch.eye(units, dtype=x.dtype, device=x.device)[:, :, None, None].expand(-1, -1, *x.shape[2:])
        response = F.conv2d(basis, joined, None, conv.stride, conv.padding, conv.dilation)  # (E, O, H', W')
        return out + mix(embedding, response, out)

    def project(self, score: Tensor, pooled: Tensor, y: Tensor | None, c: Tensor | None) -> Tensor:
        """projection: score + <embed(condition), pooled features>."""
        if self.kind != "projection":
            return score
        return score + (self.embed(y, c).to(pooled.dtype) * pooled).sum(dim=1)

    def classes(self, flat: Tensor) -> Tensor:
        return self.head(flat)
