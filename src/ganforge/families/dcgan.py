"""DCGAN (Radford et al. 2016): transposed-conv G with BatchNorm/ReLU, strided-conv D, Adam(2e-4, 0.5)."""

from __future__ import annotations

from ganforge.families.adversarial import AdversarialFamily


class DCGAN(AdversarialFamily):
    name = "dcgan"
    description = "conv G (BatchNorm, ReLU) and D (LeakyReLU), N(0, 0.02) init, Adam(2e-4, 0.5) (Radford et al. 2016)"
    archs = {"image": "dcgan"}
    defaults = {"train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.5, 0.999), "train.n_critic": 1,
                "train.optimizer": "adam"}
