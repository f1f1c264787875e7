"""CycleGAN (Zhu et al. 2017): translation between two unpaired image domains, kept honest by cycle consistency.

Domain A is data.source, domain B data.target (data.unpaired, this family's default; data/domains.py brings both to
one size and channel count). Four nets, each with its own Adam optimiser: G: A -> B ('generator', the run's exported
generator), F: B -> A ('generator_ba', exported beside it), and two PatchGAN D's, D_A on A's images
('discriminator_a') and D_B on B's ('discriminator_b'). The losses, as the paper's code has them (least squares,
Mao et al. 2017; a = batch key x, b = x_b):
    D:    0.5 [(D_A(a) - 1)^2 + D_A(pool_A(F(b)))^2] + 0.5 [(D_B(b) - 1)^2 + D_B(pool_B(G(a)))^2]
    G, F: (D_B(G(a)) - 1)^2 + (D_A(F(b)) - 1)^2
          + cycle_weight (|F(G(a)) - a|_1 + |G(F(b)) - b|_1)                           (train.cycle_weight, 10)
          + identity_weight * cycle_weight (|G(b) - b|_1 + |F(a) - a|_1)           (train.identity_weight, 0.5)
With train.semantic_weight w > 0, CyCADA's semantic consistency (Hoffman et al. 2018) joins G's loss: a classifier
f of domain A, trained once at the start on the run's own labelled A images (ganforge's digit-classifier net and
recipe, a separate net from the evaluation's classifier: its own seed, 10 epochs), then frozen, must read each
translation as it reads the image translated:
    + w [CE(f(G(a)), argmax f(a)) + CE(f(F(b)), argmax f(b))]
B's labels are never used. With train.semantic_classifiers each, each direction is read by its own source
domain's classifier instead (f_A on G(a), f_B on F(b), each trained on its domain's labels; both must be labelled):
    + w [CE(f_A(G(a)), argmax f_A(a)) + CE(f_B(F(b)), argmax f_B(b))]
The classifiers are checkpointed with the pools, so a resume does not retrain them.
With model.domain_labels true (both domains labelled), each D also sees each image's class as one-hot planes
beside it: a real image with its own label, a translation with its source image's label (G(a) with a's, F(b) with
b's), so D_B asks whether G(a) looks like B's images *of a's class* (a class-conditional CycleGAN; both domains'
labels are used, unlike CyCADA's term).
The two D's share one phase and so do G and F (each D's loss reaches only that D, so summing them changes no
gradient; G and F must learn together, as the cycle ties them). Each D sees, half the time once its pool is full,
one of the last train.pool_size (50) fakes instead of a new one (image_pool.py). The identity terms need G to take
B's images, i.e. the two domains to have the same channels: data/domains.py guarantees it, so they always apply
(train.identity_weight 0 switches them off).

Defaults: Adam(2e-4, beta1 0.5), the rate held for the first half of train.steps and decayed linearly to 0 over the
second (the paper's 100 + 100 epochs; train.lr_decay linear from train.lr_decay_start = steps / 2); no EMA (the
paper has none). Sizes for 28-32 px on a CPU: ResNet G's of width 16 with 6 blocks (the paper's 64 and 6 at
128 px; width 32 doubles a step's time, 64 septuples it), PatchGAN D's of width 32 (a tenth of the G's cost), batch
8 (the paper's 1; instance norm makes G's output for an image independent of the batch). See docs/cyclegan.md.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ganforge import losses
from ganforge.config import Config
from ganforge.data.spec import DataSpec, TensorData
from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState, make_optimizer
from ganforge.image_pool import ImagePool
from ganforge.metrics.classifier import ClassifierRecipe, DigitClassifier, fit_classifier
from ganforge.nets import build_net
from ganforge.nets.translation import init_normal_, patch_layers

DEFAULT_BLOCKS = 6  # residual blocks of each G when model.g_blocks is 0 (the paper's at 128 px; 9 at 256)
DOMAINS_HINT = "name the second domain with --data.target (a built-in set, a folder or an .npy/.npz of images), " \
               "e.g. --data mnist --data.target digits"
POOL_SEEDS = {"a": 7_919, "b": 7_927}  # added to train.seed: each pool draws from a stream of its own
# The semantic term's classifier of domain A: the digit-classifier recipe (shifts, rotations, one-cycle Adam) with 10
# of its 30 epochs, seeded from train.seed + SEMANTIC_SEED (the evaluation's classifiers are other nets: seed 0).
SEMANTIC_SEED = 7_933
SEMANTIC_EPOCHS = 10
SEMANTIC_PREFIX = "semantic_"  # + the domain's letter and '.': the checkpoint keys of each classifier


class CycleGAN(Family):
    name = "cyclegan"
    description = ("unpaired translation between data.source (A) and data.target (B) (Zhu et al. 2017): two ResNet "
                   "G's, two PatchGAN D's, least squares, cycle weight 10, identity 0.5 x 10, a pool of 50 fakes")
    archs = {"image": "resnet"}
    d_norms = {"resnet": "none"}  # instance norm in G and D is the design, not model.d_norm's choice
    image_conditioned = True
    unpaired = True
    input_key, output_key = "x", "x_b"
    defaults = {"data.unpaired": True, "train.optimizer": "adam", "train.lr_g": 2e-4, "train.lr_d": 2e-4,
                "train.betas": (0.5, 0.999), "train.ema": False, "train.lr_decay": "linear", "train.batch_size": 8,
                "model.g_width": 16, "model.d_width": 32}

    def __init__(self, config: Config, spec: DataSpec) -> None:
        super().__init__(config, spec)
        seed, size = config.train.seed, config.train.pool_size
        self.pools = {domain: ImagePool(size, seed + offset) for domain, offset in POOL_SEEDS.items()}
        # each classified domain's images (uint8) and labels, for the semantic term, then its classifier: trained
        # on them at the first G step (or loaded from a checkpoint)
        self.labelled: dict[str, tuple[Tensor, Tensor]] = {}
        self.classifiers: dict[str, DigitClassifier] = {}

    def semantic_domains(self) -> tuple[str, ...]:
        """The domains whose classifiers the semantic term uses: A alone (CyCADA), or A and B (each)."""
        return ("a", "b") if self.config.train.semantic_classifiers == "each" else ("a",)

    def label_planes(self) -> int:
        """model.domain_labels: the classes, one plane each, that D sees beside an image."""
        classes = self.spec.num_classes
        if not classes:
            raise ConfigError(f"model.domain_labels shows each D the images' classes, but data.source "
                              f"'{self.config.data.source}' has no labels; use two labelled domains (e.g. --data "
                              "mnist --data.target digits) or leave it at false")
        return classes

    def use_data(self, data: TensorData) -> None:
        if self.config.model.domain_labels:
            self._check_domain_labels(data)
        if not self.config.train.semantic_weight:
            return
        for domain in self.semantic_domains():
            source = data if domain == "a" else data.domain_b
            name = self.config.data.source if domain == "a" else self.config.data.target
            if source is None or source.y is None or bool((source.y < 0).any()):
                which = "data.source" if domain == "a" else "data.target"
                has = "no" if source is None or source.y is None else "hidden"
                fix = "use a labelled domain A (e.g. mnist, digits, fashion-mnist) or leave it at 0" if domain == "a" \
                    else "use a labelled domain B too, or --train.semantic_classifiers a (A's classifier reads both)"
                raise ConfigError(f"train.semantic_weight trains a classifier of domain {domain.upper()} on its labels "
                                  f"(train.semantic_classifiers {self.config.train.semantic_classifiers}), but "
                                  f"{which} '{name}' has {has} labels; {fix}")
            self.labelled[domain] = (source.x, source.y)

    def _check_domain_labels(self, data: TensorData) -> None:
        classes = self.label_planes()
        for letter, name, domain in (("A", self.config.data.source, data), ("B", self.config.data.target,
                                                                           data.domain_b)):
            labels = None if domain is None else domain.y
            if labels is None or bool((labels < 0).any()) or int(labels.max()) >= classes:
                problem = "no labels" if labels is None else "hidden labels" if bool((labels < 0).any()) else \
                    f"labels up to {int(labels.max())}, beyond A's {classes} classes"
                raise ConfigError(f"model.domain_labels shows each D the images' classes, but domain {letter} "
                                  f"('{name}') has {problem}; use two domains labelled with the same classes (e.g. "
                                  "--data mnist --data.target digits) or leave it at false")

    def labelled_images(self, images: Tensor, labels: Tensor | None) -> Tensor:
        """model.domain_labels: the images with their classes as one-hot planes (1 on the class's plane, 0 else)
        joined along the channels; the images alone otherwise."""
        if not self.config.model.domain_labels:
            return images
        assert labels is not None, "use_data() checked that both domains are labelled"
        planes = nn.functional.one_hot(labels.long(), self.label_planes()).to(images.dtype)
        return torch.cat([images, planes[:, :, None, None].expand(-1, -1, *images.shape[-2:])], dim=1)

    def semantic_classifier(self, domain: str, device: torch.device) -> DigitClassifier:
        """f of one domain, trained once on the run's images and labels of that domain (one thread), then frozen."""
        if domain not in self.classifiers:
            assert domain in self.labelled, "use_data() comes before the first step"
            x, y = self.labelled[domain]
            images, labels = x.cpu().float() / 255.0, y.cpu()
            seed = self.config.train.seed + SEMANTIC_SEED + (0 if domain == "a" else 1)
            recipe = ClassifierRecipe(epochs=SEMANTIC_EPOCHS, seed=seed,
                                      batch_size=min(ClassifierRecipe.batch_size, len(labels)))
            with torch.random.fork_rng(devices=[]):  # init and dropout draw from the global RNG: keep training's
                torch.manual_seed(recipe.seed)
                net = self._new_classifier(int(labels.max()) + 1)
                fit_classifier(net, images, labels, recipe, torch.Generator().manual_seed(recipe.seed))
            self.classifiers[domain] = net.eval().requires_grad_(False)
        return self.classifiers[domain].to(device)

    def _new_classifier(self, classes: int) -> DigitClassifier:
        channels, resolution = self.spec.shape[0], self.spec.shape[1]
        return DigitClassifier(channels, resolution, classes)

    @classmethod
    def derived_defaults(cls, merged: dict[str, Any]) -> dict[str, Any]:
        """The learning rate is held for the first half of the steps, then decays linearly to 0."""
        if merged.get("train.lr_decay") != "linear":
            return {}
        return {"train.lr_decay_start": int(merged.get("train.steps", Config().train.steps)) // 2}

    def build_nets(self) -> dict[str, nn.Module]:
        spec, model, train = self.spec, self.config.model, self.config.train
        if spec.kind != "image":
            raise ConfigError(f"family 'cyclegan' translates images, but '{spec.name}' holds vectors; use an image "
                              f"source and {DOMAINS_HINT}")
        if spec.image_conditioned:
            raise ConfigError("family 'cyclegan' learns from two unpaired domains, but the data gives (input, target) "
                              f"pairs (data.pairs '{self.config.data.pairs}' or folders paired by name with "
                              "data.unpaired false); leave data.pairs at none and data.unpaired at true, or use "
                              "--family pix2pix for pairs")
        if not spec.unpaired:
            raise ConfigError(f"family 'cyclegan' translates between two unpaired domains, but '{spec.name}' is only "
                              f"one; {DOMAINS_HINT}")
        self.require_own_nets("resnet", "none", "ResNet G's and PatchGAN D's with instance norm, unconditional")
        if model.discriminators > 1 or model.pack > 1 or train.unrolled_steps or train.augment != "none" \
                or train.r1_gamma or train.r2_gamma or train.label_smoothing or train.instance_noise:
            raise ConfigError("family 'cyclegan' trains one PatchGAN D per domain with the least-squares loss: "
                              "model.discriminators, model.pack, train.unrolled_steps, train.augment, R1/R2, label "
                              "smoothing and instance noise do not apply; leave them at their defaults")
        if train.eval_every:
            raise ConfigError("train.eval_every scores samples drawn from noise; a CycleGAN run is scored by "
                              "'ganforge eval RUN' on held-out images of both domains: use --train.eval_every 0")
        if train.n_critic != 1:
            raise ConfigError(f"family 'cyclegan' updates the D's and the G's once each a step; train.n_critic "
                              f"{train.n_critic} does not apply (use 1)")
        if train.ema:
            raise ConfigError("family 'cyclegan' keeps no EMA (the paper has none, and one of G alone would leave F "
                              "behind); use --train.ema false")
        channels, resolution = spec.shape[0], spec.shape[1]
        blocks = model.g_blocks or DEFAULT_BLOCKS
        nets = {name: build_net("resnet_translator", in_channels=channels, out_channels=channels,
                                width=model.g_width, blocks=blocks, halvings=model.g_halvings)
                for name in ("generator", "generator_ba")}
        d_channels = channels + (self.label_planes() if model.domain_labels else 0)
        nets.update({name: build_net("patch_discriminator", in_channels=d_channels, layers=patch_layers(resolution),
                                     width=model.d_width) for name in ("discriminator_a", "discriminator_b")})
        for net in nets.values():
            init_normal_(net)
        return nets

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        train = self.config.train
        return {name: make_optimizer(train.optimizer, net.parameters(),
                                     train.lr_g if name.startswith("generator") else train.lr_d, train.betas)
                for name, net in self.nets.items()}

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator_a", self.discriminator_step, also=("discriminator_b",)),
                Phase("G", "generator", self.generator_step, also=("generator_ba",))]

    def sample_latent(self, n: int, device: torch.device | str, generator: torch.Generator | None = None) -> Tensor:
        raise ConfigError("family 'cyclegan' draws no noise: its generators translate images between the two domains "
                          "(ganforge translate RUN IMAGES --direction a2b|b2a)")

    # -- steps -------------------------------------------------------------------------------------------
    def translations(self, batch: Batch, state: StepState) -> tuple[Tensor, Tensor]:
        """(G(a), F(b)) of this step, computed once and shared by the D and G phases."""
        if "fakes" not in state.cache:
            state.cache["fakes"] = (self.nets["generator"](batch["x"]), self.nets["generator_ba"](batch["x_b"]))
        return state.cache["fakes"]

    def discriminator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake_b, fake_a = self.translations(batch, state)
        out: dict[str, Tensor] = {"loss": torch.zeros((), device=fake_b.device)}
        verdicts: list[dict[str, Tensor]] = []
        shown = self.labelled_images
        labels_a, labels_b = batch.get("y"), batch.get("y_b")
        for domain, real, fake in (("a", shown(batch["x"], labels_a), shown(fake_a, labels_b)),
                                   ("b", shown(batch["x_b"], labels_b), shown(fake_b, labels_a))):
            discriminator = self.nets[f"discriminator_{domain}"]
            real_scores, fake_scores = discriminator(real), discriminator(self.pools[domain].query(fake))
            loss = losses.least_squares_discriminator(real_scores, fake_scores)
            out["loss"] = out["loss"] + loss
            out[f"loss_{domain}"] = loss.detach()
            verdicts.append(losses.least_squares_verdicts(real_scores, fake_scores))
        return {**out, **{key: (verdicts[0][key] + verdicts[1][key]) / 2 for key in verdicts[0]}}

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        cached = state.cache.get("fakes")
        if cached is None or not cached[0].requires_grad:  # the G's did not keep their graph in the D step
            state.cache.pop("fakes", None)
        fake_b, fake_a = self.translations(batch, state)
        state.cache.pop("fakes")
        a, b, train = batch["x"], batch["x_b"], self.config.train
        to_b, to_a = self.nets["generator"], self.nets["generator_ba"]
        labels_a, labels_b = batch.get("y"), batch.get("y_b")
        shown = self.labelled_images  # MSE of each D's verdict on the translations to 1, as the paper's code
        adversarial = ((self.nets["discriminator_b"](shown(fake_b, labels_a)) - 1).pow(2).mean()
                       + (self.nets["discriminator_a"](shown(fake_a, labels_b)) - 1).pow(2).mean())
        cycle = (to_a(fake_b) - a).abs().mean() + (to_b(fake_a) - b).abs().mean()
        loss = adversarial + train.cycle_weight * cycle
        out = {"adversarial": adversarial.detach(), "cycle": cycle.detach()}
        if train.identity_weight > 0:
            identity = (to_b(b) - b).abs().mean() + (to_a(a) - a).abs().mean()
            loss = loss + train.identity_weight * train.cycle_weight * identity
            out["identity"] = identity.detach()
        if train.semantic_weight > 0:
            semantic = self.semantic_loss(a, b, fake_b, fake_a)
            loss = loss + train.semantic_weight * semantic
            out["semantic"] = semantic.detach()
        return {"loss": loss, **out}

    def semantic_loss(self, a: Tensor, b: Tensor, fake_b: Tensor, fake_a: Tensor) -> Tensor:
        """CE(f(G(a)), argmax f(a)) + CE(f'(F(b)), argmax f'(b)), f = f' = A's classifier, or f' = B's with
        semantic_classifiers each; images in [-1, 1] (the classifiers take [0, 1])."""
        total = torch.zeros((), device=a.device)
        for source, translated, domain in ((a, fake_b, "a"), (b, fake_a, self.semantic_domains()[-1])):
            classifier = self.semantic_classifier(domain, a.device)
            with torch.no_grad():
                read = classifier((source + 1) / 2).argmax(1)
            total = total + nn.functional.cross_entropy(classifier((translated + 1) / 2), read)
        return total

    # -- sample grids, export, checkpointed state -----------------------------------------------------------
    def grid_columns(self, generator: nn.Module, fixed: Batch) -> list[Tensor]:
        """input | output | reconstruction: half the rows A -> B -> A, half B -> A -> B."""
        half = len(fixed["x"]) // 2
        reverse = self.nets["generator_ba"]
        was_training = reverse.training
        reverse.eval()
        a, b = fixed["x"][:half], fixed["x_b"][:half]
        fake_b, fake_a = generator(a), reverse(b)
        columns = [torch.cat([a, b]), torch.cat([fake_b, fake_a]), torch.cat([reverse(fake_b), generator(fake_a)])]
        reverse.train(was_training)
        return columns

    def export_condition(self) -> dict[str, Any]:
        return {"kind": "image", "channels": self.spec.shape[0], "scale": 1, "directions": ["a2b", "b2a"]}

    def exported_nets(self) -> dict[str, nn.Module]:
        return {"generator_ba": self.nets["generator_ba"]}

    def state_tensors(self) -> dict[str, Tensor]:
        out = {f"pool_{domain}.{key}": value for domain, pool in self.pools.items()
               for key, value in pool.state_tensors().items()}
        for domain, classifier in self.classifiers.items():
            out.update({f"{SEMANTIC_PREFIX}{domain}.{key}": value.detach().cpu()
                        for key, value in classifier.state_dict().items()})
        return out

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        for domain, pool in self.pools.items():
            prefix = f"pool_{domain}."
            pool.load_state_tensors({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        if not self.config.train.semantic_weight:
            return
        for domain in self.semantic_domains():
            prefix = f"{SEMANTIC_PREFIX}{domain}."
            weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            if weights:
                net = self._new_classifier(int(weights["head.weight"].shape[0]))
                net.load_state_dict(weights)
                self.classifiers[domain] = net.eval().requires_grad_(False)
