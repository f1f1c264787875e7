"""SNGAN (Miyato et al. 2018): spectrally normalised D trained with the hinge loss."""

from __future__ import annotations

from torch import Tensor

from ganforge import losses
from ganforge.families.adversarial import AdversarialFamily


class SNGAN(AdversarialFamily):
    name = "sngan"
    description = "spectral-norm D, hinge loss, Adam(2e-4, (0.5, 0.999)), n_dis 1 (Miyato et al. 2018)"
    scores_are_logits = False
    confident_margin = 1.0  # outside the hinge margin: D gains nothing more from these samples
    d_norms = {"dcgan": "spectral", "mlp": "spectral", "resnet": "none"}
    generator_losses = {"non-saturating": losses.hinge_generator, "minimax": losses.hinge_generator}
    defaults = {"train.optimizer": "adam", "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.5, 0.999),
                "train.n_critic": 1}

    uses_bce = False

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.hinge_discriminator(real, fake)
