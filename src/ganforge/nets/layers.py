"""Shared building blocks: D normalisation choices and the DCGAN paper's weight init."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

D_NORMS = ("batch", "none", "spectral", "layer")


def maybe_spectral(layer: nn.Module, norm: str) -> nn.Module:
    """Wrap a conv/linear layer in spectral normalisation (Miyato et al. 2018) when norm == 'spectral'."""
    return spectral_norm(layer) if norm == "spectral" else layer


def feature_norm(norm: str, channels: int, conv: bool) -> nn.Module:
    """The normalisation that follows a hidden D layer (spectral norm acts on weights instead)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels) if conv else nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.GroupNorm(1, channels) if conv else nn.LayerNorm(channels)
    return nn.Identity()


class MinibatchStd(nn.Module):
    """Karras et al. 2018: append the batch's mean feature std as one more feature (or channel).

    A D that sees how varied the batch is can spot a G that emits near-identical samples. The std is
    sqrt(var + 1e-8), as Karras et al.'s: a feature constant over the batch (blank image borders) would
    otherwise give sqrt's infinite slope at 0 and a nan gradient penalty.
    """

    eps = 1e-8

    def forward(self, x: Tensor) -> Tensor:
        var = x.float().var(dim=0, unbiased=False)
        std = (var + self.eps).sqrt().mean().to(x.dtype) if len(x) > 1 else x.new_zeros(())
        return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


def dcgan_init_(module: nn.Module) -> None:
    """Radford et al. 2016: conv weights ~ N(0, 0.02); BatchNorm weight ~ N(1, 0.02), bias 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            weight = getattr(layer, "parametrizations", None)
            target = weight.weight.original if weight is not None else layer.weight
            nn.init.normal_(target, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.BatchNorm1d)) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def activation(dropout: float = 0.0) -> nn.Module:
    """D's LeakyReLU(0.2), followed by dropout when `dropout` > 0 (one module either way, so that layer indices
    and parameter names do not depend on it)."""
    if dropout <= 0:
        return nn.LeakyReLU(0.2, inplace=True)
    return nn.Sequential(nn.LeakyReLU(0.2, inplace=True), nn.Dropout(dropout))
