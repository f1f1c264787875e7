"""D regularisers as pure functions: gradient penalty (WGAN-GP), R1/R2, and weight clipping (WGAN)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Critic = Callable[[Tensor], Tensor]


def _input_gradient(critic: Critic, points: Tensor) -> Tensor:
    points = points.detach().requires_grad_(True)
    scores = critic(points)
    (gradient,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return gradient.flatten(1)


def gradient_penalty(critic: Critic, real: Tensor, fake: Tensor, mix: Tensor | None = None) -> Tensor:
    """Gulrajani et al. 2017: E[(||grad D(x_hat)||_2 - 1)^2], x_hat on lines between real and fake.

    `mix` holds one uniform weight per sample; drawn from the global RNG when not given.
    """
    if mix is None:
        mix = torch.rand(real.shape[0], device=real.device, dtype=real.dtype)
    mix = mix.view(-1, *([1] * (real.dim() - 1)))
    between = mix * real.detach() + (1.0 - mix) * fake.detach()
    return (_input_gradient(critic, between).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_penalty(critic: Critic, real: Tensor) -> Tensor:
    """Mescheder et al. 2018: E[||grad D(x)||^2] on real data (multiply by gamma / 2)."""
    return _input_gradient(critic, real).pow(2).sum(dim=1).mean()


def r2_penalty(critic: Critic, fake: Tensor) -> Tensor:
    """R2: the same penalty on generated data (R3GAN uses R1 + R2)."""
    return _input_gradient(critic, fake).pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, bound: float) -> None:
    """Arjovsky et al. 2017: clamp every parameter of the critic to [-bound, bound] after its update."""
    for parameter in module.parameters():
        parameter.clamp_(-bound, bound)
