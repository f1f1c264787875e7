"""Semi-supervised GAN (Odena 2016; Salimans et al. 2016, "Improved techniques"): D is a K-way classifier whose
"fake" class is implicit, trained on a few labelled samples, the unlabelled rest and G's samples; G is trained
by feature matching. The trained D is the product: it is exported as the run's classifier.

With K logits l(x), D(x) = Z / (Z + 1), Z = sum_k exp l_k(x) (the fake class's logit fixed at 0), so
    supervised:   cross-entropy of l(x) on the labelled samples
    unsupervised: 0.5 [-log D(x_real) - log(1 - D(G(z)))] with log D = lse(l) - softplus(lse(l))
    G (feature matching): || mean f(x_real) - mean f(G(z)) ||^2 / dim, f = D's last feature layer
as in openai/improved-gan's MNIST script (the 0.5 and the per-dimension mean included).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.families.adversarial import AdversarialFamily
from ganforge.families.base import Batch, StepState


class SemiSupervisedGAN(AdversarialFamily):
    name = "sgan"
    description = ("semi-supervised GAN: D a K-way classifier with an implicit fake class, G by feature matching; "
                   "the classifier is exported (Salimans et al. 2016); --data.labelled N keeps N labels per class")
    archs = {"image": "dcgan", "vector": "mlp"}
    g_loss_default = "feature-matching"
    # D is the product and runs in eval mode as a classifier: per-sample normalisation (LayerNorm), not BatchNorm,
    # whose running statistics would mix the labelled, unlabelled and generated batches it is trained on.
    d_norms = {"dcgan": "layer", "mlp": "none", "resnet": "none"}
    scores_are_logits = True   # lse(l) is the logit of D(x)
    # On images, DiffAugment on everything D sees, the labelled batch included: with 100 labels D's classifier otherwise
    # overfits them (MNIST, 100 labels, seed 0: 90.0% held-out accuracy at 1,000 steps and 90.4% at 2,000 without;
    # 91.9% and 95.0% with; BENCHMARKS.md, "Semi-supervised MNIST").
    defaults = {"train.optimizer": "adam", "train.lr_g": 3e-4, "train.lr_d": 3e-4, "train.betas": (0.5, 0.999),
                "train.n_critic": 1}
    kind_defaults = {"image": {"train.augment": "diffaugment"}}
    exports_classifier: ClassVar[bool] = True

    def build_nets(self) -> dict[str, nn.Module]:
        spec, model = self.spec, self.config.model
        if not spec.num_classes:
            raise ConfigError(f"family 'sgan' learns a classifier, so it needs class labels, but '{spec.name}' has "
                              "none; use a labelled source (mnist, digits, a folder with one sub-folder per class, "
                              "an .npz with y) and --data.labelled N to keep N labels per class")
        if model.condition not in ("none", "auto"):
            raise ConfigError(f"family 'sgan' trains an unconditional G beside its classifier; model.condition "
                              f"'{model.condition}' does not apply: leave it at none")
        if model.discriminators > 1 or model.pack > 1:
            raise ConfigError("family 'sgan' trains one classifier D on single samples: use --model.discriminators 1 "
                              "and --model.pack 1")
        if model.d_norm == "batch":
            raise ConfigError("family 'sgan' exports D as a classifier that runs in eval mode, where BatchNorm's "
                              "running statistics mix real and generated batches; use --model.d_norm layer "
                              "(default), none or spectral")
        if model.g_loss not in ("feature-matching", "non-saturating"):
            raise ConfigError(f"family 'sgan' trains G by feature-matching or non-saturating, not '{model.g_loss}'")
        return {"generator": self.build_generator({}),
                "discriminator": self.build_discriminator({}, outputs=spec.num_classes)}

    # -- D's view ----------------------------------------------------------------------------------------
    def logits(self, x: Tensor, step: int | None = None) -> Tensor:
        return self.score(x, step)

    @staticmethod
    def real_logit(logits: Tensor) -> Tensor:
        """The logit of D(x) = Z / (Z + 1): log Z = logsumexp over the K class logits."""
        return torch.logsumexp(logits.float(), dim=1)

    def features(self, x: Tensor) -> Tensor:
        return self.nets["discriminator"].features(x).flatten(1)

    # -- steps -------------------------------------------------------------------------------------------
    def discriminator_step(self, batch: Batch, state: StepState, index: int = 0) -> dict[str, Tensor]:
        fake, _ = self.generate_fakes(batch, state)
        labelled_x, labelled_y = batch.get("x_labelled", batch["x"]), batch.get("y_labelled", batch.get("y"))
        assert labelled_y is not None
        # 1. Supervised: cross-entropy on the labelled batch (samples whose label is hidden carry -1).
        known = labelled_y >= 0
        labelled_logits = self.logits(labelled_x, state.step)
        supervised = F.cross_entropy(labelled_logits.float()[known], labelled_y[known]) if bool(known.any()) \
            else labelled_logits.sum() * 0.0
        # 2. Unsupervised: real (unlabelled) data is 'some class', G's samples are the implicit fake class.
        real_logit = self.real_logit(self.logits(batch["x"], state.step))
        fake_logit = self.real_logit(self.logits(fake.detach(), state.step))
        unsupervised = 0.5 * (F.softplus(-real_logit).mean() + F.softplus(fake_logit).mean())
        terms = self.regularize(batch["x"], fake.detach(), lambda x: self.real_logit(self.logits(x)), state.step)
        loss = supervised + unsupervised + sum(terms.values(), torch.zeros((), device=real_logit.device))
        correct = (labelled_logits.detach().argmax(1) == labelled_y)[known].float()
        return {"loss": loss, "supervised": supervised.detach(), "unsupervised": unsupervised.detach(),
                "class_accuracy": correct.mean() if len(correct) else torch.zeros(()),
                "real": torch.sigmoid(real_logit.detach()).mean(), "fake": torch.sigmoid(fake_logit.detach()).mean(),
                "accuracy": self._accuracy(real_logit.detach(), fake_logit.detach()),
                **{key: term.detach() for key, term in terms.items()}}

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake = state.cache.get("fake")
        if fake is None or not fake.requires_grad:
            state.cache.pop("fake", None)
        fake, _ = self.generate_fakes(batch, state)
        state.cache.pop("fake"), state.cache.pop("condition")
        if self.config.model.g_loss == "feature-matching":
            with torch.no_grad():
                target = self.features(batch["x"]).mean(0)
            loss = (self.features(fake).mean(0) - target).pow(2).mean()
        else:
            loss = F.softplus(-self.real_logit(self.logits(fake, state.step))).mean()
        return {"loss": loss}

    def classifier(self) -> nn.Module:
        return self.nets["discriminator"]

    def export_meta(self) -> dict[str, Any]:
        return {"classes": list(self.spec.class_names), "labelled_per_class": self.spec.labelled}
