"""Adversarial losses as pure functions of D's raw outputs (logits or critic scores).

Each D loss takes (real_scores, fake_scores) and each G loss takes fake_scores (and, for the
relativistic pair, real_scores); all return a scalar mean over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CONFIDENT_LOGIT = 2.1972  # |logit| beyond this = a verdict at least 90% sure


def logit_verdicts(real: Tensor, fake: Tensor) -> dict[str, Tensor]:
    """What the log shows of D's logits on real and generated samples: D(x), D(G(z)), the share told apart (the
    threshold at logit 0) and the share told apart with confidence (for the non-convergence check)."""
    real, fake = real.detach().float(), fake.detach().float()
    return {"real": torch.sigmoid(real).mean(), "fake": torch.sigmoid(fake).mean(),
            "accuracy": ((real > 0).float().mean() + (fake <= 0).float().mean()) / 2,
            "confident": ((real > CONFIDENT_LOGIT).float().mean() + (fake < -CONFIDENT_LOGIT).float().mean()) / 2}


def bce_discriminator(real: Tensor, fake: Tensor, real_target: float = 1.0) -> Tensor:
    """Goodfellow et al. 2014: -log D(x) - log(1 - D(G(z))), with D = sigmoid(logit).

    real_target < 1 is one-sided label smoothing: real samples count as real with that probability.
    """
    real_term = real_target * F.softplus(-real) + (1.0 - real_target) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def minimax_generator(fake: Tensor) -> Tensor:
    """The original game: G minimises log(1 - D(G(z))); its gradient vanishes when D wins."""
    return -F.softplus(fake).mean()


def non_saturating_generator(fake: Tensor) -> Tensor:
    """Goodfellow et al.'s practical fix: G minimises -log D(G(z))."""
    return F.softplus(-fake).mean()


def wasserstein_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Arjovsky et al. 2017: the critic maximises E[D(x)] - E[D(G(z))]."""
    return fake.mean() - real.mean()


def wasserstein_generator(fake: Tensor) -> Tensor:
    return -fake.mean()


def hinge_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Lim & Ye 2017, Miyato et al. 2018: max(0, 1 - D(x)) + max(0, 1 + D(G(z)))."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator(fake: Tensor) -> Tensor:
    return -fake.mean()


def least_squares_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Mao et al. 2017 (LSGAN, a=0, b=1): 0.5 (D(x) - 1)^2 + 0.5 D(G(z))^2."""
    return 0.5 * (real - 1.0).pow(2).mean() + 0.5 * fake.pow(2).mean()


def least_squares_generator(fake: Tensor) -> Tensor:
    return 0.5 * (fake - 1.0).pow(2).mean()


def least_squares_verdicts(real: Tensor, fake: Tensor) -> dict[str, Tensor]:
    """What the log shows of a least-squares D (targets 1 for real, 0 for fake): its mean scores, the share told
    apart (threshold 0.5) and the share told apart with confidence (within 0.1 of the target)."""
    real, fake = real.detach().float(), fake.detach().float()
    return {"real": real.mean(), "fake": fake.mean(),
            "accuracy": ((real > 0.5).float().mean() + (fake <= 0.5).float().mean()) / 2,
            "confident": ((real > 0.9).float().mean() + (fake < 0.1).float().mean()) / 2}


def relativistic_discriminator(real: Tensor, fake: Tensor) -> Tensor:
    """Relativistic pairing (Jolicoeur-Martineau 2019; R3GAN, Huang et al. 2024): softplus(-(D(x) - D(G(z))))."""
    return F.softplus(fake - real).mean()


def relativistic_generator(fake: Tensor, real: Tensor) -> Tensor:
    return F.softplus(real - fake).mean()


def relativistic_verdicts(real: Tensor, fake: Tensor) -> dict[str, Tensor]:
    """What the log shows of a D whose scores are compared in pairs (real[i] with fake[i]): the probability it gives
    each real sample of being the more real of its pair and the reverse, the share of pairs told apart (the real one
    scored higher) and the share told apart with confidence (by more than CONFIDENT_LOGIT)."""
    margin = real.detach().float() - fake.detach().float()
    return {"real": torch.sigmoid(margin).mean(), "fake": torch.sigmoid(-margin).mean(),
            "accuracy": (margin > 0).float().mean(), "confident": (margin > CONFIDENT_LOGIT).float().mean()}
