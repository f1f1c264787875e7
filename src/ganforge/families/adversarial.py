"""The two-player step of Goodfellow et al. 2014 that most families share: G against one D or several, two losses,
optionally conditional (the label or vector of each real sample also conditions its fake; nets/conditioning.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
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
Condition = tuple[Tensor | None, Tensor | None]  # (y, c): class labels and/or condition vectors, or (None, None)
NO_CONDITION: Condition = (None, None)


def discriminator_names(count: int) -> list[str]:
    """'discriminator' for one D (as before several existed), 'discriminator_0'... for several."""
    return ["discriminator"] if count == 1 else [f"discriminator_{k}" for k in range(count)]


class AdversarialFamily(Family):
    """D learns on real and fake (G forward only); then G learns through D's verdict (D frozen).

    The fake batch of the D step is reused by the G step of the same iteration, as in the
    PyTorch DCGAN example: G runs forward once per iteration. With model.discriminators K > 1, each D
    has its own optimiser and its own slice of a K times larger real batch (or, with model.d_data shards,
    its own shard of the data, as in MD-GAN), and G learns from their combined verdict (GMAN).
    """

    scores_are_logits: ClassVar[bool] = True   # D outputs logits (reported as D(x) = sigmoid)
    decision_threshold: ClassVar[float | None] = 0.0  # score above = "real"; None: midpoint of the means
    confident_margin: ClassVar[float | None] = 2.1972  # |score| beyond this = a confident verdict (logit of 0.9)
    generator_losses: ClassVar[dict[str, Callable[[Tensor], Tensor]]] = GENERATOR_LOSSES
    condition_default: ClassVar[str] = "none"  # model.condition when 'auto'

    uses_bce: ClassVar[bool] = True            # label smoothing applies to the BCE game only

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return losses.bce_discriminator(real, fake, real_target=1.0 - self.config.train.label_smoothing)

    # -- what the data gives ----------------------------------------------------------------------------
    @property
    def condition(self) -> str:
        """How D takes the condition: none, concat, projection or auxiliary ('auto' is the family's default)."""
        condition = self.config.model.condition
        return self.condition_default if condition == "auto" else condition

    @property
    def discriminator_keys(self) -> list[str]:
        return discriminator_names(self.config.model.discriminators)

    @property
    def local_discriminators(self) -> list[int]:
        """The D's this process trains: all, or under torchrun with MD-GAN's shards, its rank's one."""
        return [self._rank] if self._distributed_shards else list(range(self.config.model.discriminators))

    @property
    def batch_multiple(self) -> int:  # type: ignore[override]
        return 1 if self._distributed_shards else self.config.model.discriminators

    _distributed_shards = False
    _rank = 0

    def configure_ranks(self, rank: int, world_size: int) -> None:
        """MD-GAN under torchrun (model.d_data shards): one D per rank, reading its own (rotating) shard; only G's
        gradients are all-reduced. Other multi-D settings keep every D on every rank (plain data parallelism)."""
        if world_size == 1 or not self.data_shards:
            return
        model = self.config.model
        if model.discriminators != world_size:
            raise ConfigError(f"model.d_data shards under torchrun holds one D per process: model.discriminators "
                              f"({model.discriminators}) must equal the number of processes ({world_size})")
        if model.d_combine != "mean":
            raise ConfigError("under torchrun each process sees only its own D, so G's loss is the mean of the D's "
                              "(all-reduced); use --model.d_combine mean")
        self._distributed_shards, self._rank = True, rank

    def sample_parts(self, step: int) -> list[int] | None:
        if not self._distributed_shards:
            return None
        return [self._shard_of(self._rank, step)]

    def owners(self) -> dict[str, int]:
        if not self._distributed_shards:
            return {}
        return {name: k for k, name in enumerate(self.discriminator_keys)}

    def condition_of(self, batch: Batch) -> Condition:
        if self.condition == "none":
            return NO_CONDITION
        return batch.get("y"), batch.get("c")

    def _check_condition(self) -> None:
        model, spec = self.config.model, self.spec
        if self.condition == "none":
            return
        if not spec.conditional:
            raise ConfigError(f"model.condition '{self.condition}' (family '{self.name}') needs labels or condition "
                              f"vectors, but '{spec.name}' has none; use a labelled source (mnist, digits, "
                              "stacked-mnist, ring, grid, a folder with one sub-folder per class, an .npz with y or "
                              "c), or --model.condition none")
        if spec.labelled:
            raise ConfigError(f"model.condition '{self.condition}' needs a label for every sample, but "
                              f"data.labelled keeps only {spec.labelled} per class; the sgan family learns from "
                              "partly labelled data")
        if model.pack > 1:
            raise ConfigError(f"model.pack {model.pack} judges several samples at once, which cannot share one "
                              "condition; use --model.pack 1 with a conditional model")

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
        if model.discriminators > 1 and self.config.train.unrolled_steps:
            raise ConfigError("train.unrolled_steps looks ahead with one D; with model.discriminators "
                              f"{model.discriminators} use --train.unrolled_steps 0")
        if model.g_loss not in self.generator_losses:
            raise ConfigError(f"model.g_loss '{model.g_loss}' is not a generator loss of family '{self.name}'; "
                              f"expected one of {', '.join(self.generator_losses)} (feature-matching: --family sgan)")
        self._check_condition()
        g_condition: dict[str, Any] = {}
        d_condition: dict[str, Any] = {}
        if self.condition != "none":
            g_condition = {"num_classes": spec.num_classes, "condition_dim": spec.condition_dim}
            d_condition = {"condition": self.condition, **g_condition}
        generator = self.build_generator(g_condition)
        nets = {"generator": generator}
        for name in self.discriminator_keys:
            nets[name] = self.build_discriminator(d_condition)
        return nets

    def build_generator(self, condition: dict[str, Any]) -> nn.Module:
        model, spec = self.config.model, self.spec
        if model.arch in ("dcgan", "resnet"):
            self._check_image_arch()
            channels, resolution = spec.shape[0], spec.shape[1]
            if model.arch == "resnet":
                if condition and model.g_condition != "concat":
                    raise ConfigError("model.g_condition 'batchnorm' needs BatchNorm layers, which R3GAN's ResNet "
                                      "has none of; use --model.g_condition concat or --model.arch dcgan")
                return build_net("resnet_generator", latent_dim=model.latent_dim, resolution=resolution,
                                 channels=channels, width=model.g_width, **condition)
            if condition:
                condition = {**condition, "condition": model.g_condition}
            generator = build_net("dcgan_generator", latent_dim=model.latent_dim, resolution=resolution,
                                  channels=channels, width=model.g_width, **condition)
            dcgan_init_(generator)
            return generator
        if condition and model.g_condition != "concat":
            raise ConfigError("model.g_condition 'batchnorm' needs a conv G (the MLP G has no BatchNorm); use "
                              "--model.g_condition concat or --model.arch dcgan")
        return build_net("mlp_generator", latent_dim=model.latent_dim, out_shape=spec.shape, hidden=model.mlp_hidden,
                         layers=model.mlp_layers, output="tanh" if spec.kind == "image" else "linear", **condition)

    def build_discriminator(self, condition: dict[str, Any], **extra_args: Any) -> nn.Module:
        model, spec = self.config.model, self.spec
        pack, extra = model.pack, {"minibatch_std": model.minibatch_std, **condition, **extra_args}
        if model.arch in ("dcgan", "resnet"):
            channels, resolution = spec.shape[0], spec.shape[1]
            extra.update(layers=model.d_layers, min_px=model.d_min_px)
            if model.arch == "resnet":
                if model.d_norm != "none":
                    raise ConfigError(f"model.arch 'resnet' has no normalisation layers (R3GAN's design), but "
                                      f"model.d_norm is '{model.d_norm}'; use --model.d_norm none or another arch")
                if model.d_dropout > 0:
                    raise ConfigError(f"model.d_dropout {model.d_dropout} applies to the dcgan and mlp D's; "
                                      "model.arch 'resnet' has none: use --model.d_dropout 0 or another arch")
                return build_net("resnet_discriminator", resolution=resolution, channels=channels * pack,
                                 width=model.d_width, **extra)
            discriminator = build_net("dcgan_discriminator", resolution=resolution, channels=channels * pack,
                                      width=model.d_width, norm=model.d_norm, dropout=model.d_dropout, **extra)
            dcgan_init_(discriminator)
            return discriminator
        if model.d_layers:
            raise ConfigError(f"model.d_layers sets the conv D's halvings, but model.arch is '{model.arch}' "
                              "(an MLP); use --model.mlp_layers for its depth, or leave d_layers at 0")
        packed_shape = (spec.shape[0] * pack, *spec.shape[1:])
        return build_net("mlp_discriminator", in_shape=packed_shape, hidden=model.mlp_hidden,
                         layers=model.mlp_layers, norm=model.d_norm, dropout=model.d_dropout, **extra)

    def _check_image_arch(self) -> None:
        model, spec = self.config.model, self.spec
        if spec.kind != "image":
            raise ConfigError(
                f"family '{self.name}' with model.arch '{model.arch}' needs image data, but '{spec.name}' holds "
                f"{spec.shape[0]}-D vectors; use --model.arch mlp, or a family such as vanilla, wgan-gp or sngan"
            )
        if model.d_layers > max_discriminator_layers(spec.shape[1]):
            raise ConfigError(f"model.d_layers {model.d_layers} halves a {spec.shape[1]} px image to nothing; "
                              f"expected 0 (automatic) to {max_discriminator_layers(spec.shape[1])} for "
                              f"'{spec.name}'")

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        train = self.config.train
        rates = {"generator": train.lr_g, **{name: train.lr_d for name in self.discriminator_keys}}
        return {name: make_optimizer(train.optimizer, self.nets[name].parameters(), rate, train.betas)
                for name, rate in rates.items()}

    def phases(self) -> list[Phase]:
        keys = self.discriminator_keys
        d_phases = [Phase("D" if len(keys) == 1 else f"D{k}", keys[k], partial(self.discriminator_step, index=k), 1,
                          partial(self.after_discriminator_step, keys[k]), synchronized=not self._distributed_shards)
                    for k in self.local_discriminators]
        return [*d_phases, Phase("G", "generator", self.generator_step, self.config.train.n_critic)]

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

    def score(self, x: Tensor, step: int | None = None, discriminator: nn.Module | None = None,
              condition: Condition = NO_CONDITION, classes: bool = False) -> Any:
        """D's verdict after the configured stabilisers: instance noise, augmentation, packing. With
        `classes` (AC-GAN), (scores, class logits)."""
        train, pack = self.config.train, self.config.model.pack
        if train.instance_noise > 0 and step is not None:
            sigma = train.instance_noise * max(0.0, 1.0 - step / train.steps)  # annealed to 0
            x = x + sigma * torch.randn_like(x)
        if train.augment == "diffaugment":
            x = diff_augment(x)
        if pack > 1:  # (N, C, ...) -> (N / pack, pack * C, ...): each row of D's batch holds `pack` samples
            x = x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])
        net = self.nets[self.discriminator_keys[0]] if discriminator is None else discriminator
        if self.condition == "none":
            return net(x)
        return net(x, *condition, classes=classes)

    def discriminator_objective(self, real: Tensor, fake: Tensor, step: int, discriminator: nn.Module | None = None,
                                condition: Condition = NO_CONDITION
                                ) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """D's loss with its regularisers, and the raw scores: (loss, real scores, fake scores, terms)."""
        auxiliary = self.condition == "auxiliary"
        real_out = self.score(real, step, discriminator, condition, classes=auxiliary)
        fake_out = self.score(fake, step, discriminator, condition, classes=auxiliary)
        real_scores, fake_scores = (real_out[0], fake_out[0]) if auxiliary else (real_out, fake_out)
        critic = partial(self.score, discriminator=discriminator, condition=condition)
        terms = self.regularize(real, fake, critic, step)
        if auxiliary:  # AC-GAN: D also names the class of real samples (and of fakes: the class G was asked for)
            weight, labels = self.config.train.class_weight, condition[0]
            terms["class_real"] = weight * F.cross_entropy(real_out[1].float(), labels)
            if self.config.train.class_loss_on_fakes:  # Odena et al.; off by default (config.py says why)
                terms["class_fake"] = weight * F.cross_entropy(fake_out[1].float(), labels)
        loss = self.discriminator_loss(real_scores, fake_scores)
        for term in terms.values():
            loss = loss + term
        return loss, real_scores, fake_scores, terms

    def constrain_discriminator(self, discriminator: nn.Module) -> None:
        """A hard constraint on D's weights after each update (WGAN clips them); none by default."""

    def after_discriminator_step(self, name: str = "discriminator") -> None:
        self.constrain_discriminator(self.nets[name])

    def _summary(self, scores: Tensor) -> Tensor:
        scores = scores.detach().float()
        return torch.sigmoid(scores).mean() if self.scores_are_logits else scores.mean()

    def _accuracy(self, real: Tensor, fake: Tensor) -> Tensor:
        """Fraction of real and fake samples D classifies correctly (for the non-convergence check)."""
        threshold = self.decision_threshold
        if threshold is None:
            threshold = float((real.float().mean() + fake.float().mean()) / 2)
        return ((real > threshold).float().mean() + (fake <= threshold).float().mean()) / 2

    @property
    def data_shards(self) -> int:
        """MD-GAN (model.d_data shards): the data is cut into one shard per D; 0 when the D's share it."""
        model = self.config.model
        return model.discriminators if model.d_data == "shards" and model.discriminators > 1 else 0

    def _shard_of(self, index: int, step: int) -> int:
        """MD-GAN: the shard D number `index` visits at `step`, moving on to the next every model.d_swap_every
        epochs of a shard (Hardy et al. swap D's between workers; moving the D's or the data is the same)."""
        model = self.config.model
        steps_per_epoch = max(1, self.spec.num_samples // model.discriminators // self.config.train.batch_size)
        return (index + step // steps_per_epoch // model.d_swap_every) % model.discriminators

    def _part(self, index: int, state: StepState) -> int:
        """Which slice of the K-fold batch D number `index` reads: its own when the D's share the data; under
        MD-GAN's shards, the shard it visits now (the sampler puts shard k in slice k)."""
        return self._shard_of(index, state.step) if self.data_shards else index

    def _slice(self, tensors: tuple[Tensor | None, ...], part: int) -> tuple[Tensor | None, ...]:
        count = self.config.model.discriminators
        if count == 1 or self._distributed_shards:  # one D, or one D's shard already: the batch is its own
            return tensors
        return tuple(None if t is None else t[part * (len(t) // count) : (part + 1) * (len(t) // count)]
                     for t in tensors)

    def generate_fakes(self, batch: Batch, state: StepState) -> tuple[Tensor, Condition]:
        """G's batch for this iteration (one per real sample, with that sample's condition), made once."""
        if "fake" not in state.cache:
            real, condition = batch["x"], self.condition_of(batch)
            z = self.sample_latent(real.shape[0], real.device)
            state.cache["fake"] = self.nets["generator"](z, *condition) if self.condition != "none" \
                else self.nets["generator"](z)
            state.cache["condition"] = condition
        return state.cache["fake"], state.cache["condition"]

    def discriminator_step(self, batch: Batch, state: StepState, index: int = 0) -> dict[str, Tensor]:
        name = self.discriminator_keys[index]
        # 1. Fake batch (made once an iteration; G's graph is kept only when G also trains this iteration),
        #    and this D's slice of it and of the real batch: fake i was made with real sample i's condition.
        fake_all, condition_all = self.generate_fakes(batch, state)
        part = self._part(index, state)
        real, fake = self._slice((batch["x"], fake_all), part)
        condition: Condition = self._slice(condition_all, part)  # type: ignore[assignment]
        # 2. D's verdict on real and on (detached) fake, scored apart as in the DCGAN example, plus
        #    the regularisers (gradient penalty, R1, R2) that join the loss and the log.
        loss, real_scores, fake_scores, terms = self.discriminator_objective(
            real, fake.detach(), state.step, self.nets[name], condition)
        out = {"real": self._summary(real_scores), "fake": self._summary(fake_scores),
               "accuracy": self._accuracy(real_scores.detach(), fake_scores.detach())}
        if self.confident_margin is not None:  # D winning outright: confident and right on both sides
            margin = self.confident_margin
            out["confident"] = ((real_scores.detach() > margin).float().mean()
                                + (fake_scores.detach() < -margin).float().mean()) / 2
        out.update({key: term.detach() for key, term in terms.items()})
        out["loss"] = loss
        return out

    def lookahead_discriminator(self, real: Tensor, fake: Tensor, state: StepState,
                                condition: Condition = NO_CONDITION) -> nn.Module:
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
            loss, *_ = self.discriminator_objective(real, fake, state.step, ahead, condition)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.constrain_discriminator(ahead)
        return ahead.requires_grad_(False)

    def generator_loss(self, fake_scores: Tensor, real: Tensor, step: int, discriminator: nn.Module | None,
                       condition: Condition = NO_CONDITION) -> Tensor:
        """G's loss from D's verdict on its samples (relativistic families also score `real`, whose condition
        `condition` is: the one G's samples were made with)."""
        return self.generator_losses[self.config.model.g_loss](fake_scores)

    def combine(self, per_discriminator: list[Tensor]) -> Tensor:
        """G's loss against several D's: their mean, or GMAN's softmax(lambda * loss)-weighted mean (Durugkar et
        al. 2017; as their code, the weights are not detached, so G also leans on the D it loses to)."""
        if len(per_discriminator) == 1:
            return per_discriminator[0]
        stacked = torch.stack(per_discriminator)
        if self.config.model.d_combine == "mean":
            return stacked.mean()
        return (torch.softmax(self.config.model.d_softmax_lambda * stacked, dim=0) * stacked).sum()

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake_all = state.cache.get("fake")
        if fake_all is None or not fake_all.requires_grad:  # G did not keep its graph in the D step: run it again
            state.cache.pop("fake", None)
        fake_all, condition_all = self.generate_fakes(batch, state)
        state.cache.pop("fake"), state.cache.pop("condition")
        per_d, out = [], {}
        for index in self.local_discriminators:
            name = self.discriminator_keys[index]
            part = self._part(index, state)
            real, fake = self._slice((batch["x"], fake_all), part)
            condition: Condition = self._slice(condition_all, part)  # type: ignore[assignment]
            discriminator = self.nets[name]
            if self.config.train.unrolled_steps > 0:
                discriminator = self.lookahead_discriminator(real, fake.detach(), state, condition)
            if self.condition == "auxiliary":  # AC-GAN: G also wants D to name the class it was asked for
                scores, logits = self.score(fake, state.step, discriminator, condition, classes=True)
                loss = self.generator_loss(scores, real, state.step, discriminator, condition)
                class_loss = F.cross_entropy(logits.float(), condition[0])
                out["class" if len(self.discriminator_keys) == 1 else f"class{index}"] = class_loss.detach()
                loss = loss + self.config.train.class_weight * class_loss
            else:
                scores = self.score(fake, state.step, discriminator, condition)
                loss = self.generator_loss(scores, real, state.step, discriminator, condition)
            per_d.append(loss)
        out["loss"] = self.combine(per_d)
        return out
