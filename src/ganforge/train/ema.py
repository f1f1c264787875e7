"""Exponential moving average of G's weights (Karras et al.; Yazici et al. 2019), used for sampling."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn


class EMA:
    """ema = decay * ema + (1 - decay) * weights after each G update; buffers are copied.

    The decay warms up as min(decay, (1 + t) / (10 + t)) so early samples are not dominated by
    the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        ema_params = [p for p in self.model.parameters()]
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_buffer.copy_(buffer)
        self.updates += 1


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


@torch.no_grad()
def refresh_batchnorm_(model: nn.Module, inputs: Callable[[int], tuple[Tensor | None, ...]], batches: int = 8,
                       batch_size: int = 64) -> None:
    """Re-estimate BatchNorm statistics for `model`'s own weights ("standing statistics", Brock et al. 2019).

    EMA weights paired with the running statistics of the raw G mismatch; averaging batch statistics
    over a few forward passes of the EMA weights fixes that. `inputs(n)` gives G's arguments (z, or z and a
    condition) for n samples and must draw from a private RNG.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes below
    model.train()
    for _ in range(batches):
        model(*inputs(batch_size))
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.eval()
