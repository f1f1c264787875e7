"""SRGAN (Ledig et al. 2017): super-resolution by an SRResNet G, pre-trained on a pixel loss, then trained against a D.

The batch's `source` is the low-resolution input (data.pairs downscaleK: Pillow's bicubic downscale of the target
`x`, K = 2, 4 or 8); G returns an image K times its size. One run trains both of the paper's models, in two stages:

1. steps [0, train.pretrain_steps): G alone on the content loss: the SRResNet baseline (D does not train);
2. from then on: D on BCE(D(x), 1) + BCE(D(G(s)), 0), and G on
       content(G(s), x) + train.adversarial_weight * BCE(D(G(s)), 1)     (non-saturating; weight 1e-3 as the paper)
   or, with train.adversarial_loss relativistic (ESRGAN, Wang et al. 2018), each output scored against its own
   target: D on softplus(D(G(s)) - D(x)), G on softplus(D(x) - D(G(s))). The pair shares its content, so D need
   only learn what G changes; measured, it tells bicubic upscales from originals within 50 batch-1 steps where the
   BCE D needs hundreds (docs/superres.md). With train.feature_matching_weight W, G's loss also gains W times the
   mean L1 distance between D's maps of G(s) and of x (pix2pixHD's feature matching: D as a feature network).

Content loss: pixel MSE (train.content_loss mse; l1 also offered), i.e. the paper's "SRGAN-MSE" variant, not its
VGG54 feature loss. No pretrained feature network ships offline here: torchvision is not installed and its VGG
weights would be a download. ganforge's own MNIST classifier (metrics/classifier.py) is the only trained feature
net at hand, but it knows 28 px grey digits, so its features say nothing about photographs (the super-resolution
target of interest); on digits its fixed-size dense layers would also tie the loss to 28 px. Ledig et al. report
SRGAN-MSE with a lower PSNR than SRResNet and sharper, less blurry outputs, which is the trade-off to measure here.
With train.content_loss lowpass the adversarial stage's content term is the MSE of the KxK block means (K the
scale) of output and target, which the low-resolution input determines, and the detail inside each block is left to
D: Fritsche et al. 2019's frequency separation ("the low frequencies are preserved by downsampling, so adversarial
training need only modify the high ones"), though D here still sees the whole image. Pre-training stays on pixel
MSE, so the SRResNet baseline is the same model whichever stage follows.

G adds its output to the input's bicubic upscale (nets/superres.py, `bicubic_skip`; the paper ends in tanh), so it
starts as bicubic and a CPU budget goes on the detail bicubic misses.

Defaults: Adam at 1e-4 with betas (0.9, 0.999) and batch 16, as the paper; 8 residual blocks (model.g_blocks; the
paper's 16 cost twice the CPU time); train.pretrain_steps 1,500 of the default 3,000 steps, fixed in steps (not a
fraction) so that a resume which raises train.steps does not move the stage boundary; no EMA of G (the paper has
none); `--train.ema true` keeps one for a G without BatchNorm (model.g_norm none, the default: an EMA copy's
BatchNorm statistics would need inputs the trainer draws from noise). See docs/superres.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState
from ganforge.losses import (
    logit_verdicts,
    relativistic_discriminator,
    relativistic_generator,
    relativistic_verdicts,
)
from ganforge.nets import build_net
from ganforge.nets.superres import MAX_SCALE, SR_D_NORMS, sr_halvings

DEFAULT_BLOCKS = 8  # residual blocks of G when model.g_blocks is 0 (the paper: 16)
PAIRS_HINT = "train on downscaled pairs: --data.pairs downscale4 (or downscale2, downscale8)"


class SRGAN(Family):
    name = "srgan"
    description = ("super-resolution (Ledig et al. 2017): SRResNet G pre-trained on pixel MSE for "
                   "train.pretrain_steps, then + adversarial loss against a strided conv D; --data.pairs downscaleK")
    archs = {"image": "srresnet"}
    d_norms = {"srresnet": "batch"}
    g_norms = ("none", "batch")  # none: EDSR's G, the default (docs/superres.md); batch: the paper's
    image_conditioned = True
    scores_are_logits = True  # logged as sigmoids of the logits (or of the relativistic margins)
    defaults = {"data.pairs": "downscale4", "train.optimizer": "adam", "train.lr_g": 1e-4, "train.lr_d": 1e-4,
                "train.betas": (0.9, 0.999), "train.batch_size": 16, "train.ema": False,
                "train.pretrain_steps": 1500}

    def build_nets(self) -> dict[str, nn.Module]:
        spec, model, train = self.spec, self.config.model, self.config.train
        if spec.kind != "image":
            raise ConfigError(f"family 'srgan' super-resolves images, but '{spec.name}' holds vectors; use an image "
                              f"source and {PAIRS_HINT}")
        source_shape = spec.source_shape
        if not source_shape:
            raise ConfigError(f"family 'srgan' learns to super-resolve low-resolution inputs, but '{spec.name}' gives "
                              f"no input images; {PAIRS_HINT}")
        scale = spec.shape[1] // source_shape[1]
        whole = scale * source_shape[1] == spec.shape[1] and scale * source_shape[2] == spec.shape[2]
        if not whole or scale < 2 or scale > MAX_SCALE or scale & (scale - 1):
            size = f"{source_shape[1]}x{source_shape[2]} px inputs for {spec.shape[1]}x{spec.shape[2]} px targets"
            raise ConfigError(f"family 'srgan' upscales by 2, 4 or 8, but data.pairs '{spec.pairs}' gives {size}; "
                              f"{PAIRS_HINT}, or use --family pix2pix for same-size translation")
        if model.d_norm not in SR_D_NORMS:
            raise ConfigError(f"model.d_norm '{model.d_norm}' does not apply to family 'srgan'; its D takes "
                              f"{', '.join(SR_D_NORMS)} (batch, the paper's, is the default)")
        self.require_own_nets("srresnet", model.d_norm, "an SRResNet G and a strided conv D, conditioned on the "
                              "input image")
        if model.discriminators > 1 or model.pack > 1 or train.unrolled_steps or train.augment != "none":
            raise ConfigError("family 'srgan' trains one D on single images: use --model.discriminators 1, "
                              "--model.pack 1, --train.unrolled_steps 0 and --train.augment none")
        if train.eval_every:
            raise ConfigError("train.eval_every scores samples drawn from noise; a super-resolution run is scored on "
                              "held-out pairs, which training-time evaluation does not do yet: use "
                              "--train.eval_every 0")
        if train.n_critic != 1:
            raise ConfigError(f"family 'srgan' updates D and G once each a step; train.n_critic {train.n_critic} "
                              "does not apply (use 1)")
        if train.ema and model.g_norm != "none":
            raise ConfigError("family 'srgan' keeps an EMA of G only without BatchNorm (with --model.g_norm batch its "
                              "statistics would have to be re-estimated from inputs the trainer draws from noise); "
                              "use --train.ema false, or --model.g_norm none")
        channels = spec.shape[0]
        generator = build_net("srresnet_generator", in_channels=source_shape[0], out_channels=channels, scale=scale,
                              width=model.g_width, blocks=model.g_blocks or DEFAULT_BLOCKS,
                              # "auto" here is a config written before model.g_norm existed (new runs resolve
                              # it to "none"): those runs' G had BatchNorm, and resume must rebuild it so
                              bicubic_skip=source_shape[0] == channels, batch_norm=model.g_norm != "none")
        discriminator = build_net("sr_discriminator", in_channels=channels, width=model.d_width,
                                  halvings=sr_halvings(spec.shape[1]), norm=model.d_norm)
        return {"generator": generator, "discriminator": discriminator}

    def phases(self) -> list[Phase]:
        boundary = self.config.train.pretrain_steps
        pretrain = [Phase("G", "generator", self.pretrain_step, stop=boundary)] if boundary else []
        return [*pretrain, Phase("D", "discriminator", self.discriminator_step, start=boundary),
                Phase("G", "generator", self.generator_step, start=boundary)]

    def sample_latent(self, n: int, device: torch.device | str, generator: torch.Generator | None = None) -> Tensor:
        raise ConfigError("family 'srgan' draws no noise: its generator upscales input images (ganforge upscale "
                          "RUN IMAGES)")

    # -- steps -------------------------------------------------------------------------------------------
    def content(self, output: Tensor, target: Tensor, stage: str = "adversarial") -> Tensor:
        """The content loss of `stage` ("pretrain" or "adversarial"): lowpass applies to the adversarial stage."""
        loss = self.config.train.content_loss
        if loss == "l1":
            return (output - target).abs().mean()
        if loss == "lowpass" and stage == "adversarial":
            return block_means_mse(output, target, self.spec.shape[1] // self.spec.source_shape[1])
        return (output - target).pow(2).mean()

    def super_resolved(self, batch: Batch, state: StepState) -> Tensor:
        if "fake" not in state.cache:
            state.cache["fake"] = self.nets["generator"](batch["source"])
        return state.cache["fake"]

    def pretrain_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        """SRResNet: G on the content loss alone."""
        content = self.content(self.nets["generator"](batch["source"]), batch["x"], stage="pretrain")
        return {"loss": content, "content": content.detach()}

    def discriminator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        discriminator = self.nets["discriminator"]
        real_scores = discriminator(batch["x"])
        fake_scores = discriminator(self.super_resolved(batch, state).detach())
        if self.relativistic:
            return {"loss": relativistic_discriminator(real_scores, fake_scores),
                    **relativistic_verdicts(real_scores, fake_scores)}
        loss = (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
        return {"loss": loss, **logit_verdicts(real_scores, fake_scores)}

    @property
    def relativistic(self) -> bool:
        return self.config.train.adversarial_loss == "relativistic"

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake = state.cache.get("fake")
        if fake is None or not fake.requires_grad:  # G's graph was not kept in the D step: run G again
            state.cache.pop("fake", None)
        fake = self.super_resolved(batch, state)
        state.cache.pop("fake")
        discriminator = self.nets["discriminator"]
        scores, fake_features = discriminator.forward_with_features(fake)
        train = self.config.train
        real_scores, real_features = None, []
        if self.relativistic or train.feature_matching_weight:
            with torch.no_grad():  # D's view of each output's own target: a constant for G
                real_scores, real_features = discriminator.forward_with_features(batch["x"])
        if real_scores is not None and self.relativistic:
            adversarial = relativistic_generator(scores, real_scores)
        else:
            adversarial = F.binary_cross_entropy_with_logits(scores, torch.ones_like(scores))
        content = self.content(fake, batch["x"])
        loss = content + train.adversarial_weight * adversarial
        terms = {"content": content.detach(), "adversarial": adversarial.detach()}
        if train.feature_matching_weight:
            matching = feature_matching(fake_features, real_features)
            loss = loss + train.feature_matching_weight * matching
            terms["matching"] = matching.detach()
        return {"loss": loss, **terms}


def block_means_mse(output: Tensor, target: Tensor, block: int) -> Tensor:
    """MSE between the block x block means of output and target: what the low-resolution input fixes, not the detail."""
    return (F.avg_pool2d(output, block) - F.avg_pool2d(target, block)).pow(2).mean()


def feature_matching(fake_features: list[Tensor], real_features: list[Tensor]) -> Tensor:
    """Mean over D's maps of the mean L1 distance between an output's map and its target's (pix2pixHD)."""
    distances = [(fake - real).abs().mean() for fake, real in zip(fake_features, real_features, strict=True)]
    return torch.stack(distances).mean()
