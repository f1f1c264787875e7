"""R3GAN (Huang et al. 2024): the relativistic pairing loss with R1 and R2 penalties, on simplified ResNets."""

from __future__ import annotations

from torch import Tensor, nn

from ganforge import losses
from ganforge.families.adversarial import NO_CONDITION, AdversarialFamily, Condition


class R3GAN(AdversarialFamily):
    name = "r3gan"
    description = ("relativistic pairing loss + R1 + R2 (gamma 0.1), simplified ResNet G and D, Adam(2e-4, (0, 0.99)) "
                   "(Huang et al. 2024)")
    scores_are_logits = False  # D's scores mean something only relative to each other
    decision_threshold = None  # so accuracy splits at the midpoint of the two means
    confident_margin = None
    archs = {"image": "resnet", "vector": "mlp"}
    d_norms = {"resnet": "none", "mlp": "none", "dcgan": "none"}
    defaults = {"train.optimizer": "adam", "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.0, 0.99),
                "train.n_critic": 1, "train.r1_gamma": 0.1, "train.r2_gamma": 0.1}

    uses_bce = False

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.relativistic_discriminator(real, fake)

    def generator_loss(self, fake_scores: Tensor, real: Tensor, step: int, discriminator: nn.Module | None,
                       condition: Condition = NO_CONDITION) -> Tensor:
        # Each fake sample is paired with a real one: G's loss needs D's current verdict on real data too.
        return losses.relativistic_generator(fake_scores, self.score(real, step, discriminator, condition))
