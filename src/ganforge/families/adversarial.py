"""The two-player step of Goodfellow et al. 2014 that most families share: one G, one D, two losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from ganforge import losses
from ganforge.augment import diff_augment
from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState
from ganforge.nets import build_net
from ganforge.nets.layers import dcgan_init_
from ganforge.regularizers import r1_penalty, r2_penalty

GENERATOR_LOSSES: dict[str, Callable[[Tensor], Tensor]] = {
    "non-saturating": losses.non_saturating_generator,
    "minimax": losses.minimax_generator,
}


class AdversarialFamily(Family):
    """D learns on real and fake (G forward only); then G learns through D's verdict (D frozen).

    The fake batch of the D step is reused by the G step of the same iteration, as in the
    PyTorch DCGAN example: G runs forward once per iteration.
    """

    scores_are_logits: ClassVar[bool] = True   # D outputs logits (reported as D(x) = sigmoid)
    decision_threshold: ClassVar[float | None] = 0.0  # score above = "real"; None: midpoint of the means
    confident_margin: ClassVar[float | None] = 2.1972  # |score| beyond this = a confident verdict (logit of 0.9)
    generator_losses: ClassVar[dict[str, Callable[[Tensor], Tensor]]] = GENERATOR_LOSSES

    uses_bce: ClassVar[bool] = True            # label smoothing applies to the BCE game only

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.bce_discriminator(real, fake, real_target=1.0 - self.config.train.label_smoothing)

    # -- nets -------------------------------------------------------------------------------
    def build_nets(self) -> dict[str, nn.Module]:
        model, spec = self.config.model, self.spec
        if self.config.train.label_smoothing and not self.uses_bce:
            raise ConfigError(f"train.label_smoothing applies to the BCE families (vanilla, dcgan), not "
                              f"'{self.name}'; remove it or switch family")
        pack, extra = model.pack, {"minibatch_std": model.minibatch_std}
        if model.arch == "dcgan":
            if spec.kind != "image":
                raise ConfigError(
                    f"family '{self.name}' with model.arch 'dcgan' needs image data, but '{spec.name}' holds "
                    f"{spec.shape[0]}-D vectors; use --model.arch mlp, or a family such as vanilla, wgan-gp or sngan"
                )
            channels, resolution = spec.shape[0], spec.shape[1]
            generator = build_net("dcgan_generator", latent_dim=model.latent_dim, resolution=resolution,
                                  channels=channels, width=model.g_width)
            discriminator = build_net("dcgan_discriminator", resolution=resolution, channels=channels * pack,
                                      width=model.d_width, norm=model.d_norm, **extra)
            dcgan_init_(generator)
            dcgan_init_(discriminator)
        else:
            generator = build_net("mlp_generator", latent_dim=model.latent_dim, out_shape=spec.shape,
                                  hidden=model.mlp_hidden, layers=model.mlp_layers,
                                  output="tanh" if spec.kind == "image" else "linear")
            packed_shape = (spec.shape[0] * pack, *spec.shape[1:])
            discriminator = build_net("mlp_discriminator", in_shape=packed_shape, hidden=model.mlp_hidden,
                                      layers=model.mlp_layers, norm=model.d_norm, **extra)
        return {"generator": generator, "discriminator": discriminator}

    def phases(self) -> list[Phase]:
        return [
            Phase("D", "discriminator", self.discriminator_step, 1, self.after_discriminator_step),
            Phase("G", "generator", self.generator_step, self.config.train.n_critic),
        ]

    # -- steps ------------------------------------------------------------------------------
    def regularize(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """Extra D loss terms by name (weighted): R1 on real and R2 on fake samples when configured."""
        train, terms = self.config.train, {}
        if train.r1_gamma > 0:
            terms["r1"] = train.r1_gamma / 2 * r1_penalty(self.score, real)
        if train.r2_gamma > 0:
            terms["r2"] = train.r2_gamma / 2 * r2_penalty(self.score, fake)
        return terms

    def score(self, x: Tensor, step: int | None = None) -> Tensor:
        """D's verdict after the configured stabilisers: instance noise, augmentation, packing."""
        train, pack = self.config.train, self.config.model.pack
        if train.instance_noise > 0 and step is not None:
            sigma = train.instance_noise * max(0.0, 1.0 - step / train.steps)  # annealed to 0
            x = x + sigma * torch.randn_like(x)
        if train.augment == "diffaugment":
            x = diff_augment(x)
        if pack > 1:  # (N, C, ...) -> (N / pack, pack * C, ...): each row of D's batch holds `pack` samples
            x = x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])
        return self.nets["discriminator"](x)

    def after_discriminator_step(self) -> None:
        """Hook run after D's optimiser step (WGAN clips weights here)."""

    def _summary(self, scores: Tensor) -> Tensor:
        scores = scores.detach().float()
        return torch.sigmoid(scores).mean() if self.scores_are_logits else scores.mean()

    def _accuracy(self, real: Tensor, fake: Tensor) -> Tensor:
        """Fraction of real and fake samples D classifies correctly (for the non-convergence check)."""
        threshold = self.decision_threshold
        if threshold is None:
            threshold = float((real.float().mean() + fake.float().mean()) / 2)
        return ((real > threshold).float().mean() + (fake <= threshold).float().mean()) / 2

    def discriminator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        generator = self.nets["generator"]
        real = batch["x"]
        # 1. Fake batch; G's graph is kept only when G also trains this iteration (trainer's grad rule).
        fake = generator(self.sample_latent(real.shape[0], real.device))
        state.cache["fake"] = fake
        # 2. D's verdict on real and on (detached) fake, scored apart as in the DCGAN example.
        real_scores = self.score(real, state.step)
        fake_scores = self.score(fake.detach(), state.step)
        loss = self.discriminator_loss(real_scores, fake_scores)
        out = {"real": self._summary(real_scores), "fake": self._summary(fake_scores),
               "accuracy": self._accuracy(real_scores.detach(), fake_scores.detach())}
        if self.confident_margin is not None:  # D winning outright: confident and right on both sides
            margin = self.confident_margin
            out["confident"] = ((real_scores.detach() > margin).float().mean()
                                + (fake_scores.detach() < -margin).float().mean()) / 2
        # 3. Regularisers (gradient penalty, ...) join the loss and the log.
        for name, term in self.regularize(real, fake.detach()).items():
            loss = loss + term
            out[name] = term.detach()
        out["loss"] = loss
        return out

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake = state.cache.pop("fake", None)
        if fake is None or not fake.requires_grad:
            fake = self.nets["generator"](self.sample_latent(batch["x"].shape[0], batch["x"].device))
        loss = self.generator_losses[self.config.model.g_loss](self.score(fake, state.step))
        return {"loss": loss}
