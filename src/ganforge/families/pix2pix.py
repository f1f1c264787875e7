"""pix2pix (Isola et al. 2017): image-to-image translation with a conditional GAN and an L1 term.

G, a U-Net, maps the input image (batch key `source`) to the target domain; D, a PatchGAN, scores (input, image)
pairs patch by patch. The losses, as the paper's code has them:
    D: 0.5 [BCE(D(s, x), 1) + BCE(D(s, G(s)), 0)]
    G: BCE(D(s, G(s)), 1) + train.l1_weight * |G(s) - x|_1   (l1_weight 100)
With train.pretrain_steps N the first N steps train G alone on the L1 term (D does not train): N = train.steps is
the L1-only U-Net, the baseline the adversarial term has to beat. G's noise is the dropout in its decoder (no z).
An input smaller than the target (data.pairs downscaleK) is upsampled bicubically inside G first, so the exported
G translates the input as the user gives it. Denoising (`noiseS`), inpainting (`maskP`), colourisation (`grey`),
deblurring (`blurS`) and edges-to-image (`edges`) are this family on derived pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState
from ganforge.losses import logit_verdicts
from ganforge.nets import build_net
from ganforge.nets.translation import init_normal_, patch_layers, unet_depth

PAIRS_HINT = ("derive pairs with --data.pairs (edges, grey, noise0.3, blur2, mask25, downscale4) or give "
              "--data.target FOLDER whose images match data.source's by file name")


class Pix2Pix(Family):
    name = "pix2pix"
    description = ("image-to-image translation (Isola et al. 2017): U-Net G on the input image, PatchGAN D on "
                   "(input, output) pairs, L1 weight train.l1_weight; needs --data.pairs or --data.target")
    archs = {"image": "unet"}
    d_norms = {"unet": "none"}  # the PatchGAN's instance norm is part of its design, not model.d_norm's choice
    image_conditioned = True
    scores_are_logits = True  # logged as sigmoids of the logits (or of the relativistic margins)
    defaults = {"train.optimizer": "adam", "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.5, 0.999),
                "train.ema": False}

    def build_nets(self) -> dict[str, nn.Module]:
        spec, model, train = self.spec, self.config.model, self.config.train
        if spec.kind != "image":
            raise ConfigError(f"family 'pix2pix' translates images, but '{spec.name}' holds vectors; use an image "
                              f"source and {PAIRS_HINT}")
        source_shape = spec.source_shape
        if not source_shape:
            raise ConfigError(f"family 'pix2pix' learns to translate an input image into a target, but "
                              f"'{spec.name}' gives no input images; {PAIRS_HINT}")
        self.require_own_nets("unet", "none", "a U-Net G and a PatchGAN D with instance norm, conditioned on the "
                              "input image")
        if model.discriminators > 1 or model.pack > 1 or train.unrolled_steps or train.augment != "none":
            raise ConfigError("family 'pix2pix' trains one PatchGAN D on (input, image) pairs: use "
                              "--model.discriminators 1, --model.pack 1, --train.unrolled_steps 0 and "
                              "--train.augment none")
        if train.eval_every:
            raise ConfigError("train.eval_every scores samples drawn from noise; an image-to-image run is scored "
                              "on held-out pairs, which training-time evaluation does not do yet: use "
                              "--train.eval_every 0")
        if train.n_critic != 1:
            raise ConfigError(f"family 'pix2pix' updates D and G once each a step; train.n_critic "
                              f"{train.n_critic} does not apply (use 1)")
        channels, resolution = spec.shape[0], spec.shape[1]
        scale = spec.shape[1] // source_shape[1]
        if scale * source_shape[1] != spec.shape[1] or scale * source_shape[2] != spec.shape[2]:
            raise ConfigError(f"input images of {source_shape[1]}x{source_shape[2]} px do not scale to the targets' "
                              f"{spec.shape[1]}x{spec.shape[2]} by a whole factor")
        generator = build_net("unet_generator", in_channels=source_shape[0], out_channels=channels,
                              depth=unet_depth(resolution), width=model.g_width, upscale=scale)
        discriminator = build_net("patch_discriminator", in_channels=source_shape[0] + channels,
                                  layers=patch_layers(resolution), width=model.d_width)
        for net in (generator, discriminator):
            init_normal_(net)
        return {"generator": generator, "discriminator": discriminator}

    def phases(self) -> list[Phase]:
        boundary = self.config.train.pretrain_steps
        l1_only = [Phase("G", "generator", self.l1_step, stop=boundary)] if boundary else []
        return [*l1_only, Phase("D", "discriminator", self.discriminator_step, start=boundary),
                Phase("G", "generator", self.generator_step, start=boundary)]

    def sample_latent(self, n: int, device: torch.device | str, generator: torch.Generator | None = None) -> Tensor:
        raise ConfigError("family 'pix2pix' draws no noise: its generator translates input images (ganforge "
                          "translate RUN IMAGES)")

    # -- steps -------------------------------------------------------------------------------------------
    def source_at_target_size(self, source: Tensor, target: Tensor) -> Tensor:
        """The input as D sees it beside the image: upsampled (bicubic) to the target's size when smaller."""
        if source.shape[-2:] == target.shape[-2:]:
            return source
        return F.interpolate(source, size=target.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)

    def translated(self, batch: Batch, state: StepState) -> Tensor:
        if "fake" not in state.cache:
            state.cache["fake"] = self.nets["generator"](batch["source"])
        return state.cache["fake"]

    def l1_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        """G alone on the L1 distance to the target (the L1-only U-Net)."""
        l1 = (self.nets["generator"](batch["source"]) - batch["x"]).abs().mean()
        return {"loss": l1, "l1": l1.detach()}

    def discriminator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        source, real = batch["source"], batch["x"]
        fake = self.translated(batch, state)
        shown = self.source_at_target_size(source, real)
        discriminator = self.nets["discriminator"]
        real_scores = discriminator(shown, real)
        fake_scores = discriminator(shown, fake.detach())
        loss = 0.5 * (F.binary_cross_entropy_with_logits(real_scores, torch.ones_like(real_scores))
                      + F.binary_cross_entropy_with_logits(fake_scores, torch.zeros_like(fake_scores)))
        return {"loss": loss, **logit_verdicts(real_scores, fake_scores)}

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        fake = state.cache.get("fake")
        if fake is None or not fake.requires_grad:  # G's graph was not kept in the D step: run G again
            state.cache.pop("fake", None)
        fake = self.translated(batch, state)
        state.cache.pop("fake")
        source, real = batch["source"], batch["x"]
        scores = self.nets["discriminator"](self.source_at_target_size(source, real), fake)
        adversarial = F.binary_cross_entropy_with_logits(scores, torch.ones_like(scores))
        l1 = (fake - real).abs().mean()
        return {"loss": adversarial + self.config.train.l1_weight * l1, "adversarial": adversarial.detach(),
                "l1": l1.detach()}
