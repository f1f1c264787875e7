"""WGAN (Arjovsky et al. 2017, weight clipping) and WGAN-GP (Gulrajani et al. 2017, gradient penalty)."""

from __future__ import annotations

from torch import Tensor, nn

from ganforge import losses
from ganforge.families.adversarial import AdversarialFamily
from ganforge.regularizers import Critic, clip_weights_, gradient_penalty


class WGAN(AdversarialFamily):
    name = "wgan"
    description = "Wasserstein critic, weight clipping 0.01, RMSprop(5e-5), n_critic 5 (Arjovsky et al. 2017)"
    scores_are_logits = False
    decision_threshold = None  # critic scores have no fixed zero: split at the midpoint of the two means
    confident_margin = None    # nor a scale for confidence
    generator_losses = {"non-saturating": losses.wasserstein_generator, "minimax": losses.wasserstein_generator}
    defaults = {"train.optimizer": "rmsprop", "train.lr_g": 5e-5, "train.lr_d": 5e-5, "train.n_critic": 5}

    uses_bce = False

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.wasserstein_discriminator(real, fake)

    def constrain_discriminator(self, discriminator: nn.Module) -> None:
        clip_weights_(discriminator, self.config.train.clip_value)


class WGANGP(WGAN):
    name = "wgan-gp"
    description = "Wasserstein critic + gradient penalty 10, Adam(1e-4, (0, 0.9)), n_critic 5 (Gulrajani et al. 2017)"
    d_norms = {"dcgan": "none", "mlp": "none", "resnet": "none"}  # a batch-normed critic breaks the per-sample penalty
    defaults = {"train.optimizer": "adam", "train.lr_g": 1e-4, "train.lr_d": 1e-4, "train.betas": (0.0, 0.9),
                "train.n_critic": 5}

    def regularize(self, real: Tensor, fake: Tensor, critic: Critic, step: int) -> dict[str, Tensor]:
        penalty = gradient_penalty(critic, real, fake)  # every step: it is the critic's Lipschitz constraint
        return {**super().regularize(real, fake, critic, step), "gp": self.config.train.gp_weight * penalty}

    def constrain_discriminator(self, discriminator: nn.Module) -> None:
        """No clipping: the penalty enforces the Lipschitz constraint."""
