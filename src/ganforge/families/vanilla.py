"""The original GAN (Goodfellow et al. 2014): MLP G and D, BCE; minimax or non-saturating G loss."""

from __future__ import annotations

from ganforge.families.adversarial import AdversarialFamily


class VanillaGAN(AdversarialFamily):
    name = "vanilla"
    description = "MLP G and D, BCE loss; --model.g_loss non-saturating|minimax (Goodfellow et al. 2014)"
    archs = {"image": "mlp", "vector": "mlp"}
    defaults = {"train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.5, 0.999), "train.n_critic": 1}
