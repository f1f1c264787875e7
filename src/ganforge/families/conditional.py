"""The canonical class-conditional recipes: cGAN (Mirza & Osindero 2014: the label joins G's input and D's
input) and AC-GAN (Odena et al. 2017: D also names the class, and G is trained to make it name the asked-for one).

Any family takes a condition through model.condition (concat, projection, auxiliary); these two name the
classic combinations on DCGAN's recipe, so `ganforge train --family cgan --data mnist` just works.
"""

from __future__ import annotations

from ganforge.families.dcgan import DCGAN


class ConditionalGAN(DCGAN):
    name = "cgan"
    description = ("conditional GAN: the label's embedding joins z and, tiled, D's input; DCGAN nets and BCE "
                   "(Mirza & Osindero 2014)")
    archs = {"image": "dcgan", "vector": "mlp"}
    condition_default = "concat"


class ACGAN(DCGAN):
    name = "acgan"
    description = ("auxiliary-classifier GAN: D scores real/fake and names the class; G learns to make D name the "
                   "asked-for class (Odena et al. 2017)")
    archs = {"image": "dcgan", "vector": "mlp"}
    condition_default = "auxiliary"
