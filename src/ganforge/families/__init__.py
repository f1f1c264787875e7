"""Family registry: names to recipes (`ganforge list` prints them)."""

from __future__ import annotations

from ganforge.errors import ConfigError
from ganforge.families.base import Family, Phase, StepState
from ganforge.families.conditional import ACGAN, ConditionalGAN
from ganforge.families.cyclegan import CycleGAN
from ganforge.families.dcgan import DCGAN
from ganforge.families.lapgan import LAPGAN
from ganforge.families.pix2pix import Pix2Pix
from ganforge.families.r3gan import R3GAN
from ganforge.families.sgan import SemiSupervisedGAN
from ganforge.families.sngan import SNGAN
from ganforge.families.srgan import SRGAN
from ganforge.families.vanilla import VanillaGAN
from ganforge.families.wgan import WGAN, WGANGP

__all__ = ["FAMILIES", "Family", "Phase", "StepState", "get_family"]

FAMILIES: dict[str, type[Family]] = {cls.name: cls for cls in (VanillaGAN, DCGAN, WGAN, WGANGP, SNGAN, R3GAN,
                                                                ConditionalGAN, ACGAN, SemiSupervisedGAN, Pix2Pix,
                                                                LAPGAN, SRGAN, CycleGAN)}


def get_family(name: str) -> type[Family]:
    if name not in FAMILIES:
        raise ConfigError(f"unknown family '{name}'; valid families: {', '.join(FAMILIES)}")
    return FAMILIES[name]
