"""Run configuration: frozen dataclasses, TOML I/O, dotted CLI overrides and validation."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from ganforge.errors import ConfigError
from ganforge.threads import parse_threads


@dataclass(frozen=True)
class DataConfig:
    source: str = "mnist"            # built-in name (`ganforge list`), image folder, or .npy/.npz file
    resolution: int | None = None    # square image side in px; None = the source's own (64 for folders)
    channels: int | None = None      # 1 (grey) or 3 (RGB); None = as found
    max_samples: int | None = None   # use only the first N samples; None = all
    split: str = "auto"              # auto | all | train | test: a fixed held-out split (mnist, digits, photos,
                                     # faces; fashion-mnist and IDX folders: their own test files); auto = train on
                                     # fashion-mnist/IDX folders, and with data.labelled on mnist/digits, else all
    labels: str = "class"            # class (y) | onehot (the class as a float vector c) | digits | none
    labelled: int = 0                # semi-supervised: keep this many labels per class, hide the rest; 0 = all
    labelled_seed: int = 0           # which labels data.labelled keeps
    pairs: str = "none"              # (input, target) pairs for an image-conditioned G, made from each image: none |
                                     # downscaleK (K 2, 4, 8: super-resolution) | edges | grey (colourisation) |
                                     # noiseS (0 < S <= 1: denoising) | blurS (S > 0 px) | maskP (0 < P < 100:
                                     # inpainting); the input is the batch key "source" (docs/data.md)
    pairs_seed: int = 0              # draws the random pairs (noise, mask) once per sample, so a run, its resume and
                                     # an evaluation see the same pairs
    target: str = ""                 # paired folders (pix2pix): a folder of target images, matched by file name to
                                     # the input images in data.source; with data.unpaired: a second domain; "" = none
    unpaired: bool = False           # data.target is a second, unpaired domain (any source: built-in, folder, array;
                                     # batch key "x_b") instead of images paired by name; the cyclegan family's default
    target_box: int = 0              # unpaired domain B: fit its images into a centred box of this many px, black
                                     # around (MNIST's framing: 20 in 28), so both domains frame their content alike;
                                     # 0 = fill the frame (docs/cyclegan.md)
    flips: bool = False              # paired data: show each training pair turned and mirrored at random, input and
                                     # target alike (the eight symmetries of the square; EDSR's augmentation)


@dataclass(frozen=True)
class ModelConfig:
    family: str = "auto"             # GAN recipe (`ganforge list`); auto = recommended for the data
    arch: str = "auto"               # mlp | dcgan | resnet | unet (pix2pix) | srresnet (srgan); auto = the family's
                                     # choice for the data
    latent_dim: int = 100            # size of z
    latent_dist: str = "normal"      # normal | uniform (on [-1, 1])
    g_width: int = 64                # conv nets: base channels of G
    g_blocks: int = 0                # residual blocks of G (srgan, cyclegan); 0 = the family's (srgan 8, the paper's
                                     # 16; cyclegan 6, the paper's at 128 px)
    domain_labels: bool = False      # cyclegan: each D sees every image with its class as one-hot planes (a real
                                     # image with its label, a translation with its source's): both domains labelled
    g_halvings: int = 2              # cyclegan's ResNet G: stride-2 halvings before its blocks (the paper's 2; 0-4).
                                     # 0 keeps every block at the image's size (no bottleneck; docs/cyclegan.md)
    d_width: int = 64                # conv nets: base channels of D
    d_layers: int = 0                # conv nets: D's halvings of the image; 0 = while the map is >= d_min_px
    d_min_px: int = 8                # conv nets with d_layers 0: D halves while its map is at least this (>= 2)
    mlp_hidden: int = 256            # MLP nets: units per hidden layer
    mlp_layers: int = 3              # MLP nets: hidden layers
    d_norm: str = "auto"             # batch | none | spectral | layer; auto = the family's
    g_norm: str = "auto"             # srgan's SRResNet G: batch (Ledig et al.) | none (EDSR: no BatchNorm); auto = the
                                     # family's (srgan: none, docs/superres.md); other families take only auto
    d_dropout: float = 0.0           # dropout after each of D's hidden activations (training only); 0 = none
    g_loss: str = "auto"             # vanilla/dcgan: non-saturating | minimax; auto = the family's
    pack: int = 1                    # PacGAN (Lin et al. 2018): D judges `pack` samples at once
    minibatch_std: bool = False      # D sees the batch's feature std (Karras et al. 2018)
    condition: str = "auto"          # none | concat | projection | auxiliary (how D takes the label); auto = family's
    g_condition: str = "concat"      # conv G: concat (the label's embedding joins z) | batchnorm (conditional BN)
    discriminators: int = 1          # several D's; G learns from their combined verdict (GMAN, MD-GAN)
    d_combine: str = "mean"          # several D's: mean | softmax (GMAN's softmax(lambda * loss)-weighted mean)
    d_softmax_lambda: float = 1.0    # d_combine softmax: lambda (0 = mean, large = the strongest D alone)
    d_data: str = "shared"           # several D's: shared (each its own mini-batch) | shards (MD-GAN: own data shard)
    d_swap_every: int = 1            # d_data shards: epochs between swaps of the D's between shards


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000                # iterations; each takes one real batch and one D update
    batch_size: int = 64             # real samples per iteration
    optimizer: str = "adam"          # adam | rmsprop
    lr_g: float = 2e-4               # generator learning rate
    lr_d: float = 2e-4               # discriminator learning rate
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    lr_decay: str = "none"           # none | linear (to 0 at the last step)
    lr_decay_start: int = 0          # with lr_decay linear: the step the decay starts from (constant before)
    n_critic: int = 1                # D updates per G update
    unrolled_steps: int = 0          # unrolled D: G plays against D after k look-ahead updates (Metz et al. 2017)
    gp_weight: float = 10.0          # gradient-penalty weight (wgan-gp)
    class_weight: float = 1.0        # AC-GAN: weight of the class loss in D's and G's objectives
    l1_weight: float = 100.0         # pix2pix: weight of G's L1 distance to the target (Isola et al. 2017: 100)
    pretrain_steps: int = 0          # srgan / pix2pix: the first N steps train G alone on the content (L1) loss
                                     # (SRResNet; the L1-only U-Net), then D joins; counted in steps, so a resume
                                     # that raises train.steps keeps it
    stage_batch_size: int = 0        # srgan / pix2pix: the batch from train.pretrain_steps on (0 = train.batch_size):
                                     # pre-training on one crop a step, D's stage on several (docs/superres.md)
    content_loss: str = "mse"        # srgan: mse | l1 pixel distance to the target (no pretrained VGG ships offline)
                                     # | lowpass: the adversarial stage on the MSE of KxK block means (K = the
                                     # scale), pre-training on pixel MSE (docs/superres.md)
    adversarial_weight: float = 1e-3  # srgan: weight of G's adversarial term beside the content loss (Ledig: 1e-3)
    adversarial_loss: str = "bce"    # srgan: bce (Ledig et al.) | relativistic (each output against its own target,
                                     # as ESRGAN; docs/superres.md)
    feature_matching_weight: float = 0.0  # srgan: weight of the L1 distance between D's maps of G(s) and of its
                                     # target x (pix2pixHD's feature matching, Wang et al. 2018); 0 = off
    cycle_weight: float = 10.0       # cyclegan: weight of the cycle-consistency L1 terms (Zhu et al. 2017: 10)
    identity_weight: float = 0.5     # cyclegan: weight of the identity L1 terms, times cycle_weight (Zhu et al.: 0.5)
    semantic_weight: float = 0.0     # cyclegan: CyCADA's semantic consistency (Hoffman et al. 2018): a classifier of
                                     # domain A's labels must read each translation as it reads the image translated;
                                     # 0 = off (the paper's CycleGAN)
    semantic_classifiers: str = "a"  # cyclegan: a (CyCADA: one classifier of A reads both directions) | each (each
                                     # direction read by its source domain's classifier, on that domain's labels)
    pool_size: int = 50              # cyclegan: generated images kept per D, shown in place of new ones half the time
                                     # (Shrivastava et al. 2017; Zhu et al.: 50); 0 = no pool
    class_loss_on_fakes: bool = False  # AC-GAN: D's class head also learns G's samples, as Odena et al. Off: such
                                     # a head learns G's own signature per class (MNIST, 1,500 steps: 25% label
                                     # accuracy with it, 82% without; BENCHMARKS.md)
    r1_gamma: float = 0.0            # R1 penalty (gamma / 2) E|grad D(real)|^2, any family (Mescheder et al. 2018)
    r2_gamma: float = 0.0            # R2: the same on fake samples (R3GAN uses R1 + R2)
    reg_every: int = 1               # lazy R1/R2: every k-th D step, weighted k (Karras et al. 2020)
    label_smoothing: float = 0.0     # one-sided: D's real target is 1 - this (BCE families; Salimans et al. 2016)
    instance_noise: float = 0.0      # std of Gaussian noise on D's inputs, annealed to 0 (Sonderby et al. 2017)
    augment: str = "none"            # none | diffaugment (colour, translation, cutout on D's inputs)
    clip_value: float = 0.01         # weight clipping bound (wgan)
    ema: bool = True                 # keep an EMA of G and sample from it
    ema_decay: float = 0.999         # EMA decay per G update
    seed: int = 0                    # same seed, same result on CPU
    device: str = "auto"             # auto | cpu | cuda | cuda:N
    threads: int | str = "auto"      # CPU threads: auto (the cores other processes leave free, followed during the
                                     # run: threads.py) or N (fixed)
    precision: str = "fp32"          # fp32 | bf16 (autocast)
    compile: bool = False            # torch.compile the nets
    channels_last: bool = True       # conv nets in NHWC memory layout (oneDNN's fast path on CPU)
    log_every: int = 50              # steps between metrics.jsonl records
    diagnostics: bool = True         # warn about mode collapse, vanishing gradients, non-convergence
    sample_every: int = 500          # steps between sample grids
    checkpoint_every: int = 1000     # steps between checkpoints
    eval_every: int = 0              # steps between evaluations (0 = never); the best generator is kept in best/
    eval_metrics: str = "auto"       # comma list of fid, kid, is, pr, dc, classes, modes; auto = by kind of data
    eval_features: str = "auto"      # comma list of inception, mnist, fashion-mnist; auto = Inception + the domain
                                     # classifier
    eval_samples: int = 2000         # generated samples per evaluation
    keep_checkpoints: int = 2        # newest checkpoints kept on disk
    progress: bool = True            # show the progress bar
    tensorboard: bool = False        # also write metrics, sample grids, D's score histograms and warnings as
                                     # TensorBoard events in <run>/tb/ (pip install 'ganforge[tensorboard]')


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


STAGED_FAMILIES = ("srgan", "pix2pix")  # families whose G pre-trains alone for train.pretrain_steps, then meets D
SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

CHOICES: dict[str, tuple[str, ...]] = {
    "data.split": ("auto", "all", "train", "test"),
    "data.labels": ("class", "onehot", "digits", "none"),
    "model.latent_dist": ("normal", "uniform"),
    "model.arch": ("auto", "mlp", "dcgan", "resnet", "unet", "srresnet"),
    "model.d_norm": ("auto", "batch", "none", "spectral", "layer"),
    "model.g_norm": ("auto", "batch", "none"),
    "model.g_loss": ("auto", "non-saturating", "minimax", "feature-matching"),
    "model.condition": ("auto", "none", "concat", "projection", "auxiliary"),
    "model.g_condition": ("concat", "batchnorm"),
    "model.d_combine": ("mean", "softmax"),
    "model.d_data": ("shared", "shards"),
    "train.optimizer": ("adam", "rmsprop"),
    "train.lr_decay": ("none", "linear"),
    "train.augment": ("none", "diffaugment"),
    "train.content_loss": ("mse", "l1", "lowpass"),
    "train.adversarial_loss": ("bce", "relativistic"),
    "train.semantic_classifiers": ("a", "each"),
    "train.precision": ("fp32", "bf16"),
}

POSITIVE: tuple[str, ...] = (
    "model.pack", "model.discriminators", "model.d_swap_every", "model.latent_dim", "model.g_width",
    "model.d_width", "model.mlp_hidden", "model.mlp_layers",
    "train.steps", "train.batch_size", "train.lr_g", "train.lr_d", "train.n_critic",
    "train.reg_every", "train.log_every", "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints",
    "data.max_samples", "train.eval_samples",
)

Overrides = dict[str, Any]


def valid_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _field_type(key: str) -> Any:
    section, name = key.split(".", 1)
    hints = typing.get_type_hints(SECTIONS[section])
    return hints[name]


def check_key(key: str) -> None:
    """Raise ConfigError for an unknown dotted key, suggesting the closest valid one."""
    keys = valid_keys()
    if key in keys:
        return
    close = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"unknown config key '{key}'{hint}; valid keys: {', '.join(keys)}")


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in args)
    if typing.get_origin(tp) is tuple:
        return f"{len(args)} comma-separated numbers"
    return "none" if tp is type(None) else tp.__name__


def coerce(key: str, value: Any) -> Any:
    """Convert a TOML or command-line value to the key's type, or raise ConfigError."""
    check_key(key)
    tp = _field_type(key)
    try:
        result = _coerce(tp, value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"config key '{key}' got {value!r}; expected {_type_name(tp)}"
        ) from None
    if key in CHOICES and result not in CHOICES[key]:  # checked here: recipes index by these values
        raise ConfigError(f"config key '{key}' got {result!r}; expected one of: {', '.join(CHOICES[key])}")
    return result


def _coerce(tp: Any, value: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if type(None) in args and (value is None or str(value).lower() in ("none", "null")):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value)
            except (TypeError, ValueError):
                continue
        raise ValueError(value)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        if len(items) != len(args):
            raise ValueError(value)
        return tuple(_coerce(a, v) for a, v in zip(args, items, strict=True))
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ValueError(value)
    if tp is int:
        if isinstance(value, bool):
            raise TypeError(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(str(value).strip()) if isinstance(value, str) else int(value)
    if tp is float:
        if isinstance(value, bool):
            raise TypeError(value)
        result = float(value)
        if not math.isfinite(result):
            raise ValueError(value)
        return result
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(value)
        return value
    raise TypeError(tp)


def from_overrides(overrides: Overrides) -> Config:
    """Build a validated Config from defaults plus dotted-key overrides."""
    per_section: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for key, value in overrides.items():
        section, name = key.split(".", 1) if "." in key else ("", key)
        per_section.setdefault(section, {})[name] = coerce(key, value)
    config = Config(**{s: SECTIONS[s](**per_section[s]) for s in SECTIONS})
    validate(config)
    return config


def to_overrides(config: Config) -> Overrides:
    """Flatten a Config to dotted keys (the inverse of from_overrides)."""
    return {
        f"{s}.{f.name}": getattr(getattr(config, s), f.name)
        for s, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
    }


def validate(config: Config) -> None:
    flat = to_overrides(config)
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise ConfigError(f"config key '{key}' got {flat[key]!r}; expected one of: {', '.join(allowed)}")
    for key in POSITIVE:
        if flat[key] is not None and flat[key] <= 0:
            raise ConfigError(f"config key '{key}' got {flat[key]!r}; expected a number above 0")
    if config.model.d_layers < 0:
        raise ConfigError(f"config key 'model.d_layers' got {config.model.d_layers!r}; expected 0 (automatic: "
                          "halve while the map is at least model.d_min_px) or a number of halvings")
    if not 0.0 <= config.model.d_dropout < 1.0:
        raise ConfigError(f"config key 'model.d_dropout' got {config.model.d_dropout!r}; expected a probability "
                          "from 0 (no dropout) up to, not including, 1")
    if not 0 <= config.model.g_halvings <= 4:
        raise ConfigError(f"config key 'model.g_halvings' got {config.model.g_halvings!r}; expected 0 to 4 halvings "
                          "before G's residual blocks (2, the default, is CycleGAN's)")
    if config.model.d_min_px < 2:
        raise ConfigError(f"config key 'model.d_min_px' got {config.model.d_min_px!r}; expected 2 or more (D halves "
                          "its map while it is at least this many px; 8 is the default)")
    for key in ("train.r1_gamma", "train.r2_gamma", "train.instance_noise", "train.gp_weight", "train.unrolled_steps",
                "train.class_weight", "train.l1_weight", "model.d_softmax_lambda", "train.pretrain_steps",
                "train.adversarial_weight", "model.g_blocks", "train.cycle_weight", "train.identity_weight",
                "train.pool_size", "train.semantic_weight", "train.feature_matching_weight"):
        if flat[key] < 0:
            raise ConfigError(f"config key '{key}' got {flat[key]!r}; expected 0 or more")
    if config.train.semantic_weight and config.model.family != "cyclegan":
        raise ConfigError(f"config key 'train.semantic_weight' ({config.train.semantic_weight!r}) is CycleGAN's "
                          f"semantic-consistency term; family '{config.model.family}' has no translation to keep "
                          "consistent: use --family cyclegan, or leave it at 0")
    if config.model.domain_labels and config.model.family != "cyclegan":
        raise ConfigError("config key 'model.domain_labels' (true) shows CycleGAN's two D's each image's class; family "
                          f"'{config.model.family}' has no two domains: use --family cyclegan, or leave it at false")
    if config.train.semantic_classifiers != "a" and not config.train.semantic_weight:
        raise ConfigError(f"config key 'train.semantic_classifiers' ({config.train.semantic_classifiers!r}) chooses "
                          "the classifiers of CycleGAN's semantic term, which is off: set --train.semantic_weight "
                          "(e.g. 1.0), or leave it at 'a'")
    if config.train.adversarial_loss != "bce" and config.model.family != "srgan":
        raise ConfigError(f"config key 'train.adversarial_loss' ({config.train.adversarial_loss!r}) chooses the "
                          f"loss of srgan's adversarial stage; family '{config.model.family}' has its own loss: use "
                          "--family srgan, or leave it at 'bce'")
    if config.train.feature_matching_weight and config.model.family != "srgan":
        raise ConfigError(f"config key 'train.feature_matching_weight' ({config.train.feature_matching_weight!r}) "
                          f"weighs srgan's feature matching; family '{config.model.family}' has none: use --family "
                          "srgan, or leave it at 0")
    if config.train.content_loss != "mse" and config.model.family != "srgan":
        raise ConfigError(f"config key 'train.content_loss' ({config.train.content_loss!r}) chooses srgan's content "
                          f"loss; family '{config.model.family}' has its own: use --family srgan, or leave it at "
                          "'mse'")
    if not 0.0 <= config.train.label_smoothing < 1.0:
        raise ConfigError(f"config key 'train.label_smoothing' got {config.train.label_smoothing!r}; "
                          "expected 0 <= s < 1")
    if config.train.stage_batch_size < 0:
        raise ConfigError(f"config key 'train.stage_batch_size' got {config.train.stage_batch_size!r}; expected 0 "
                          "(train.batch_size throughout) or a batch size for the steps after train.pretrain_steps")
    if config.train.stage_batch_size and config.model.family not in STAGED_FAMILIES:
        raise ConfigError(f"config key 'train.stage_batch_size' ({config.train.stage_batch_size}) sizes the batch of "
                          f"the stage after pre-training, which family '{config.model.family}' does not have: use "
                          f"--family {' or '.join(STAGED_FAMILIES)}, or leave it at 0")
    if config.train.stage_batch_size and not config.train.pretrain_steps:
        raise ConfigError(f"config key 'train.stage_batch_size' ({config.train.stage_batch_size}) sizes the batch "
                          "after train.pretrain_steps, which is 0: set --train.pretrain_steps (e.g. 2000), or use "
                          "--train.batch_size for the whole run")
    if config.train.batch_size % config.model.pack:
        raise ConfigError(f"config key 'train.batch_size' ({config.train.batch_size}) must be a multiple of "
                          f"model.pack ({config.model.pack}): D judges packs of {config.model.pack} samples")
    decay_start, steps = config.train.lr_decay_start, config.train.steps
    if not 0 <= decay_start < steps:
        raise ConfigError(f"config key 'train.lr_decay_start' got {decay_start!r}; expected a step from 0 to "
                          f"train.steps - 1 ({steps - 1})")
    if decay_start and config.train.lr_decay == "none":
        raise ConfigError(f"config key 'train.lr_decay_start' got {decay_start!r} but train.lr_decay is 'none'; "
                          "set --train.lr_decay linear, or leave lr_decay_start at 0")
    if config.train.eval_every < 0:
        raise ConfigError(f"config key 'train.eval_every' got {config.train.eval_every!r}; expected 0 (never) or more")
    if not 0.0 <= config.train.ema_decay < 1.0:
        raise ConfigError(f"config key 'train.ema_decay' got {config.train.ema_decay!r}; expected 0 <= decay < 1")
    if not all(0.0 <= b < 1.0 for b in config.train.betas):
        raise ConfigError(f"config key 'train.betas' got {config.train.betas!r}; expected two numbers in [0, 1)")
    if config.data.labelled < 0:
        raise ConfigError(f"config key 'data.labelled' got {config.data.labelled!r}; expected a number of labels "
                          "to keep per class (0 keeps them all)")
    if config.data.channels not in (None, 1, 3):
        raise ConfigError(f"config key 'data.channels' got {config.data.channels!r}; expected 1 or 3")
    _validate_pairs(config.data)
    res = config.data.resolution
    if res is not None and not 8 <= res <= 256:
        raise ConfigError(f"config key 'data.resolution' got {res!r}; expected a side of 8 to 256 px")
    parse_threads(config.train.threads)
    device = config.train.device
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ConfigError(f"config key 'train.device' got {device!r}; expected auto, cpu, cuda or cuda:N")


def _validate_pairs(data: DataConfig) -> None:
    from ganforge.data.pairs import parse_pairs  # here, not at the top: ganforge.data imports this module

    parse_pairs(data.pairs)
    if data.pairs_seed < 0:
        raise ConfigError(f"config key 'data.pairs_seed' got {data.pairs_seed!r}; expected 0 or more")
    if data.target_box < 0:
        raise ConfigError(f"config key 'data.target_box' got {data.target_box!r}; expected 0 (fill the frame) or a box "
                          "side in px smaller than the images' side, e.g. 20 for MNIST's framing in 28 px")
    if data.target_box and not data.target:
        raise ConfigError(f"config key 'data.target_box' ({data.target_box}) frames the images of a second, unpaired "
                          "domain, but data.target is empty; name that domain with --data.target, or leave "
                          "data.target_box at 0")
    if data.target and data.pairs != "none":
        raise ConfigError(f"config keys 'data.pairs' ({data.pairs!r}) and 'data.target' ({data.target!r}) both say "
                          "where the input images come from; use data.pairs to make inputs from each image, or "
                          "data.target for a second folder of paired images, not both")


def read_toml(path: str | Path) -> Overrides:
    """Read a recipe TOML file into dotted-key overrides (keys are checked, values typed)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist; pass a TOML recipe such as configs/mnist_dcgan.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from None
    overrides: Overrides = {}
    for section, table in raw.items():
        if section not in SECTIONS or not isinstance(table, dict):
            raise ConfigError(
                f"config file '{path}': unknown section [{section}]; expected [data], [model] and [train]"
            )
        for name, value in table.items():
            key = f"{section}.{name}"
            try:
                overrides[key] = coerce(key, value)
            except ConfigError as exc:
                raise ConfigError(f"config file '{path}': {exc}") from None
    return overrides


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def to_toml(config: Config) -> str:
    """Serialise a Config; None values are left out (TOML has no null) and mean the default."""
    lines: list[str] = []
    for section, cls in SECTIONS.items():
        lines.append(f"[{section}]")
        for f in dataclasses.fields(cls):
            value = getattr(getattr(config, section), f.name)
            if value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def parse_cli_overrides(args: list[str]) -> Overrides:
    """Turn ['--train.steps', '10', '--model.family=wgan'] into typed dotted overrides."""
    overrides: Overrides = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument '{arg}'; overrides look like --train.steps 2000")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"option '--{key}' needs a value, e.g. --{key} VALUE")
            value = args[i + 1]
            i += 1
        if "." not in key:
            raise ConfigError(f"unknown option '--{key}'; config keys are dotted, e.g. --train.steps; valid keys: "
                              + ", ".join(valid_keys()))
        overrides[key] = coerce(key, value)
        i += 1
    return overrides
