"""The canonical class-conditional recipes: cGAN (Mirza & Osindero 2014: the label joins G's input and D's
input) and AC-GAN (Odena et al. 2017: D also names the class, and G is trained to make it name the asked-for one).

Any family takes a condition through model.condition (concat, projection, auxiliary); these two name the
classic combinations on DCGAN's recipe, so `ganforge train --family cgan --data mnist` just works.
"""

from __future__ import annotations

from typing import Any

from ganforge.families.dcgan import DCGAN


class ConditionalGAN(DCGAN):
    name = "cgan"
    description = ("conditional GAN: the label's embedding joins z and, tiled, D's input; DCGAN nets and BCE "
                   "(Mirza & Osindero 2014)")
    archs = {"image": "dcgan", "vector": "mlp"}
    condition_default = "concat"

    @classmethod
    def derived_defaults(cls, merged: dict[str, Any]) -> dict[str, Any]:
        """G's EMA over ~200 updates (decay 0.995), not ~1,000: at make run's CPU time on MNIST (4,600 steps) label
        accuracy still climbs, and the longer average lags it (BENCHMARKS.md: 97.07 / 98.27% against 96.96 /
        98.21% on seeds 0 / 1, intra-class FID 15.6 / 13.6 against 16.0 / 14.5)."""
        return {"train.ema_decay": 0.995}


class ACGAN(DCGAN):
    name = "acgan"
    description = ("auxiliary-classifier GAN: D scores real/fake and names the class; G learns to make D name the "
                   "asked-for class (Odena et al. 2017)")
    archs = {"image": "dcgan", "vector": "mlp"}
    condition_default = "auxiliary"
