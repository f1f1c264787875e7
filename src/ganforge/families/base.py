"""What a family is: named nets, their optimisers, and phases the trainer runs (stylegan3-style)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ganforge.config import Config
from ganforge.data.spec import DataSpec, TensorData
from ganforge.errors import ConfigError
from ganforge.latent import sample_latent

Batch = dict[str, Tensor]


@dataclass
class StepState:
    """What phases of one iteration share: the step number, a cache (e.g. the fake batch), and a
    read-only view of the trainer's optimisers (an unrolled D copies D's; a family never steps them)."""

    step: int
    cache: dict[str, Any] = field(default_factory=dict)
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)


LossFn = Callable[[Batch, StepState], dict[str, Tensor]]


@dataclass
class Phase:
    """One update: train `module` on loss_fn(...)["loss"] every `every` steps of [start, stop), then run
    `after_step`."""

    name: str                                  # log prefix, e.g. "D" or "G"
    module: str                                # key of the net this phase trains
    loss_fn: LossFn                            # returns {"loss": ..., other scalars to log}
    every: int = 1                             # run when (step + 1) % every == 0
    after_step: Callable[[], None] | None = None  # e.g. weight clipping
    synchronized: bool = True                  # under torchrun: all-reduce the gradients (False: a rank's own net)
    start: int = 0                             # the first (0-based) step it runs at (stages: SRGAN's D and
    stop: int | None = None                    # adversarial G start where G's pre-training phase stops); None: never
    also: tuple[str, ...] = ()                 # more nets the same loss trains, each with its own optimiser
                                               # (CycleGAN's two G's, tied by the cycle loss)

    @property
    def modules(self) -> tuple[str, ...]:
        """Every net this phase trains: `module`, then `also`."""
        return (self.module, *self.also)

    def due(self, step: int) -> bool:
        in_stage = self.start <= step and (self.stop is None or step < self.stop)
        return in_stage and (step + 1) % self.every == 0


class Family:
    """A GAN recipe. Subclasses set the class attributes and build nets; the trainer owns the loop."""

    name: ClassVar[str]
    description: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}    # dotted config keys this recipe sets unless the user does
    kind_defaults: ClassVar[dict[str, dict[str, Any]]] = {}  # the same, per kind of data ("image", "vector")
    archs: ClassVar[dict[str, str]] = {"image": "dcgan", "vector": "mlp"}  # arch per data kind for "auto"
    d_norms: ClassVar[dict[str, str]] = {"dcgan": "batch", "mlp": "none", "resnet": "none"}  # per arch, for "auto"
    g_norms: ClassVar[tuple[str, ...]] = ()  # model.g_norm values G takes, the first for "auto"; () = only auto
    g_loss_default: ClassVar[str] = "non-saturating"
    generator_key: ClassVar[str] = "generator"  # the net that samples (and gets an EMA copy)
    condition_default: ClassVar[str] = "none"  # model.condition when 'auto'
    image_conditioned: ClassVar[bool] = False  # G translates input images (no z): pix2pix, SR, CycleGAN
    input_key: ClassVar[str] = "source"         # image-conditioned: the batch key of G's inputs
    output_key: ClassVar[str] = "x"             # the batch key of the real images G's outputs should resemble
    unpaired: ClassVar[bool] = False            # trains on two unpaired domains (data.target with data.unpaired)
    scores_are_logits: ClassVar[bool] = False  # D's scores are logits: D/real, D/fake are sigmoids, 0.5 at chance
    batch_multiple: int = 1                     # real batches drawn per step (several D's each take their own)
    data_shards: int = 0                        # > 0: slice k of the batch comes from shard k of the data

    def __init__(self, config: Config, spec: DataSpec) -> None:
        self.config, self.spec = config, spec
        self.nets: dict[str, nn.Module] = self.build_nets()

    def build_nets(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def require_own_nets(self, arch: str, d_norm: str, design: str) -> None:
        """Refuse model.arch / model.d_norm / model.condition settings that a family with fixed nets ignores."""
        model = self.config.model
        for key, value, allowed in (("model.arch", model.arch, arch), ("model.d_norm", model.d_norm, d_norm),
                                    ("model.condition", model.condition, "none")):
            if value != allowed:
                raise ConfigError(f"{key} '{value}' does not apply to family '{self.name}' ({design}); leave it at "
                                  "auto")

    def use_data(self, data: TensorData) -> None:
        """Shown the training data once, before the first step (CycleGAN's semantic term trains a classifier of
        domain A on it); nothing by default."""

    def configure_ranks(self, rank: int, world_size: int) -> None:
        """Told the process's place under torchrun before phases() is called; replicas need nothing by default."""

    def sample_parts(self, step: int) -> list[int] | None:
        """With data_shards: which shards this process reads at `step` (None: all, in order)."""
        return None

    def owners(self) -> dict[str, int]:
        """Nets trained by one rank only (name -> rank), to be shared with the others before a checkpoint."""
        return {}

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per trained net, from config.train."""
        train = self.config.train
        rates = {"generator": train.lr_g, "discriminator": train.lr_d}
        return {name: make_optimizer(train.optimizer, self.nets[name].parameters(), rates[name], train.betas)
                for name in rates if name in self.nets}

    @property
    def latent_width(self) -> int:
        """The width of G's z (LAPGAN's adds a noise plane per pyramid level to model.latent_dim)."""
        return self.config.model.latent_dim

    def sample_latent(self, n: int, device: torch.device | str, generator: torch.Generator | None = None) -> Tensor:
        model = self.config.model
        return sample_latent(n, model.latent_dim, model.latent_dist, device, generator)

    def pyramid_levels(self, generator: nn.Module, latent: Tensor) -> list[Tensor] | None:
        """A multi-level G's image at every level, coarsest first, for sample grids (LAPGAN); None for others."""
        return None

    @classmethod
    def derived_defaults(cls, merged: dict[str, Any]) -> dict[str, Any]:
        """Defaults that follow from other keys of the resolved config `merged` (e.g. a schedule from
        train.steps); the user's own values win over them."""
        return {}

    # -- image-to-image -------------------------------------------------------------------------------------
    def grid_columns(self, generator: nn.Module, fixed: Batch) -> list[Tensor]:
        """The columns of an image-conditioned run's sample grid for a fixed batch (G in eval mode, no gradient),
        each as encoded images, one row per input: input | output | target."""
        return [fixed["source"], generator(fixed["source"]), fixed["x"]]

    def export_condition(self) -> dict[str, Any]:
        """What an image-conditioned G's export records of its input: channels, scale (and directions)."""
        spec = self.spec
        return {"kind": "image", "channels": spec.source_shape[0], "scale": spec.shape[1] // spec.source_shape[1]}

    def exported_nets(self) -> dict[str, nn.Module]:
        """Nets besides G that the run folder exports for later use, by file stem (CycleGAN's B -> A G)."""
        return {}

    # -- training state besides nets and optimisers (checkpointed for exact resume) ---------------------------
    def state_tensors(self) -> dict[str, Tensor]:
        """The family's own training state as tensors (CycleGAN's image pools and their RNG); none by default."""
        return {}

    def load_state_tensors(self, tensors: dict[str, Tensor]) -> None:
        """Restore what state_tensors() returned."""

    @property
    def conditional(self) -> bool:
        """Whether G takes a condition (y or c) besides z."""
        condition = self.config.model.condition
        return (self.condition_default if condition == "auto" else condition) != "none"


def make_optimizer(kind: str, params: Any, lr: float, betas: tuple[float, float]) -> torch.optim.Optimizer:
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=betas)
