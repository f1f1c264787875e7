"""The two-player step of Goodfellow et al. 2014 that most families share: one G, one D, two losses."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor, nn

from ganforge import losses
from ganforge.augment import diff_augment
from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState, make_optimizer
from ganforge.nets import build_net
from ganforge.nets.dcgan import max_discriminator_layers
from ganforge.nets.layers import dcgan_init_
from ganforge.regularizers import Critic, r1_penalty, r2_penalty

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
        if self.config.train.augment != "none" and spec.kind != "image":
            raise ConfigError(f"train.augment '{self.config.train.augment}' augments images (colour, translation, "
                              f"cutout), but '{spec.name}' holds {spec.shape[0]}-D vectors; use --train.augment none "
                              "(train.instance_noise is the stabiliser of that kind for vectors)")
        pack, extra = model.pack, {"minibatch_std": model.minibatch_std}
        if model.arch in ("dcgan", "resnet"):
            if spec.kind != "image":
                raise ConfigError(
                    f"family '{self.name}' with model.arch '{model.arch}' needs image data, but '{spec.name}' holds "
                    f"{spec.shape[0]}-D vectors; use --model.arch mlp, or a family such as vanilla, wgan-gp or sngan"
                )
            channels, resolution = spec.shape[0], spec.shape[1]
            if model.d_layers > max_discriminator_layers(resolution):
                raise ConfigError(f"model.d_layers {model.d_layers} halves a {resolution} px image to nothing; "
                                  f"expected 0 (automatic) to {max_discriminator_layers(resolution)} for "
                                  f"'{spec.name}'")
            extra.update(layers=model.d_layers, min_px=model.d_min_px)
            if model.arch == "resnet":
                if model.d_norm != "none":
                    raise ConfigError(f"model.arch 'resnet' has no normalisation layers (R3GAN's design), but "
                                      f"model.d_norm is '{model.d_norm}'; use --model.d_norm none or another arch")
                generator = build_net("resnet_generator", latent_dim=model.latent_dim, resolution=resolution,
                                      channels=channels, width=model.g_width)
                discriminator = build_net("resnet_discriminator", resolution=resolution, channels=channels * pack,
                                          width=model.d_width, **extra)
                return {"generator": generator, "discriminator": discriminator}
            generator = build_net("dcgan_generator", latent_dim=model.latent_dim, resolution=resolution,
                                  channels=channels, width=model.g_width)
            discriminator = build_net("dcgan_discriminator", resolution=resolution, channels=channels * pack,
                                      width=model.d_width, norm=model.d_norm, **extra)
            dcgan_init_(generator)
            dcgan_init_(discriminator)
        else:
            if model.d_layers:
                raise ConfigError(f"model.d_layers sets the conv D's halvings, but model.arch is '{model.arch}' "
                                  "(an MLP); use --model.mlp_layers for its depth, or leave d_layers at 0")
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
    def regularize(self, real: Tensor, fake: Tensor, critic: Critic, step: int) -> dict[str, Tensor]:
        """Extra D loss terms by name (weighted): R1 on real and R2 on fake samples when configured.

        With train.reg_every = k > 1 they are computed on every k-th step only, weighted k times
        (lazy regularisation, Karras et al. 2020): the double backward they need is the dearest part.
        """
        train, terms = self.config.train, {}
        every = train.reg_every
        if step % every:
            return terms
        if train.r1_gamma > 0:
            terms["r1"] = every * train.r1_gamma / 2 * r1_penalty(critic, real)
        if train.r2_gamma > 0:
            terms["r2"] = every * train.r2_gamma / 2 * r2_penalty(critic, fake)
        return terms

    def score(self, x: Tensor, step: int | None = None, discriminator: nn.Module | None = None) -> Tensor:
        """D's verdict after the configured stabilisers: instance noise, augmentation, packing."""
        train, pack = self.config.train, self.config.model.pack
        if train.instance_noise > 0 and step is not None:
            sigma = train.instance_noise * max(0.0, 1.0 - step / train.steps)  # annealed to 0
            x = x + sigma * torch.randn_like(x)
        if train.augment == "diffaugment":
            x = diff_augment(x)
        if pack > 1:  # (N, C, ...) -> (N / pack, pack * C, ...): each row of D's batch holds `pack` samples
            x = x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])
        return (self.nets["discriminator"] if discriminator is None else discriminator)(x)

    def discriminator_objective(self, real: Tensor, fake: Tensor, step: int, discriminator: nn.Module | None = None
                                ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """D's loss with its regularisers, and the raw scores: (loss, real scores, fake scores, terms)."""
        real_scores = self.score(real, step, discriminator)
        fake_scores = self.score(fake, step, discriminator)
        terms = self.regularize(real, fake, partial(self.score, discriminator=discriminator), step)
        loss = self.discriminator_loss(real_scores, fake_scores)
        for term in terms.values():
            loss = loss + term
        return loss, real_scores, fake_scores, terms

    def constrain_discriminator(self, discriminator: nn.Module) -> None:
        """A hard constraint on D's weights after each update (WGAN clips them); none by default."""

    def after_discriminator_step(self) -> None:
        self.constrain_discriminator(self.nets["discriminator"])

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
        # 2. D's verdict on real and on (detached) fake, scored apart as in the DCGAN example, plus
        #    the regularisers (gradient penalty, R1, R2) that join the loss and the log.
        loss, real_scores, fake_scores, terms = self.discriminator_objective(real, fake.detach(), state.step)
        out = {"real": self._summary(real_scores), "fake": self._summary(fake_scores),
               "accuracy": self._accuracy(real_scores.detach(), fake_scores.detach())}
        if self.confident_margin is not None:  # D winning outright: confident and right on both sides
            margin = self.confident_margin
            out["confident"] = ((real_scores.detach() > margin).float().mean()
                                + (fake_scores.detach() < -margin).float().mean()) / 2
        out.update({name: term.detach() for name, term in terms.items()})
        out["loss"] = loss
        return out

    def lookahead_discriminator(self, real: Tensor, fake: Tensor, state: StepState) -> nn.Module:
        """Unrolled GAN (Metz et al. 2017): a copy of D taken `train.unrolled_steps` updates further on
        this iteration's batch, with D's own optimiser state. G then plays against the D that has
        already answered G's current samples, which punishes hopping from mode to mode. First-order:
        the look-ahead updates are not differentiated through. D itself is left untouched."""
        ahead = copy.deepcopy(self.nets["discriminator"]).requires_grad_(True)
        source = state.optimizers.get("discriminator")
        if source is None:  # outside the trainer: a fresh optimiser of the configured kind
            train = self.config.train
            optimizer = make_optimizer(train.optimizer, ahead.parameters(), train.lr_d, train.betas)
        else:
            optimizer = type(source)(ahead.parameters(), **source.defaults)
            optimizer.load_state_dict(copy.deepcopy(source.state_dict()))  # a copy: D's own state stays
        for _ in range(self.config.train.unrolled_steps):
            loss, *_ = self.discriminator_objective(real, fake, state.step, ahead)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.constrain_discriminator(ahead)
        return ahead.requires_grad_(False)

    def generator_loss(self, fake_scores: Tensor, real: Tensor, step: int,
                       discriminator: nn.Module | None) -> Tensor:
        """G's loss from D's verdict on its samples (relativistic families also score `real`)."""
        return self.generator_losses[self.config.model.g_loss](fake_scores)

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        real = batch["x"]
        fake = state.cache.pop("fake", None)
        if fake is None or not fake.requires_grad:
            fake = self.nets["generator"](self.sample_latent(real.shape[0], real.device))
        discriminator = None
        if self.config.train.unrolled_steps > 0:
            discriminator = self.lookahead_discriminator(real, fake.detach(), state)
        loss = self.generator_loss(self.score(fake, state.step, discriminator), real, state.step, discriminator)
        return {"loss": loss}
