"""LAPGAN (Denton et al. 2015): a Laplacian pyramid of conditional GANs, trained level by level.

For a real image I_0 the pyramid is I_{k+1} = down(I_k), l_k = up(I_{k+1}), h_k = I_k - l_k. The coarsest level is
a plain GAN on I_{L-1}; each finer level k is a GAN that draws the band h_k given l_k of the REAL coarser image
(so the levels train independently, as in the paper), its D judging (h_k, l_k) pairs. Sampling chains the levels:
each G's band is added to the upsampled image of the level below it, from G's own coarsest draw up. All levels'
G's form one net ('generator', one optimiser) and all D's another: the losses are summed, and since no parameter
is shared between levels, each level learns as if alone. The sample grids show every level of each sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge import losses
from ganforge.errors import ConfigError
from ganforge.families.base import Batch, Family, Phase, StepState
from ganforge.latent import sample_latent
from ganforge.nets import build_net
from ganforge.nets.laplacian import laplacian_pyramid, pyramid_sizes

MAX_LEVELS = 3  # Denton et al.'s CIFAR-10 model: 8 -> 16 -> 32 px


class LAPGAN(Family):
    name = "lapgan"
    description = ("Laplacian pyramid of GANs (Denton et al. 2015): a small GAN at the coarsest level, then per "
                   "finer level a conditional G of the band given the upsampled image; grids show every level")
    archs = {"image": "dcgan"}
    scores_are_logits = True  # logged as sigmoids over the levels
    defaults = {"train.optimizer": "adam", "train.lr_g": 2e-4, "train.lr_d": 2e-4, "train.betas": (0.5, 0.999)}

    def build_nets(self) -> dict[str, nn.Module]:
        spec, model, train = self.spec, self.config.model, self.config.train
        if spec.kind != "image":
            raise ConfigError(f"family 'lapgan' builds an image pyramid, but '{spec.name}' holds vectors; use an "
                              "image source")
        if spec.conditional and model.condition not in ("none", "auto"):
            raise ConfigError(f"family 'lapgan' is unconditional here; model.condition '{model.condition}' does "
                              "not apply: leave it at none")
        if model.discriminators > 1 or model.pack > 1 or train.unrolled_steps or train.augment != "none" \
                or train.r1_gamma or train.r2_gamma or train.n_critic != 1:
            raise ConfigError("family 'lapgan' trains one G and one D per pyramid level with the BCE game; "
                              "model.discriminators, model.pack, train.unrolled_steps, train.augment, R1/R2 and "
                              "train.n_critic do not apply: leave them at their defaults")
        if len(pyramid_sizes(spec.shape[1], MAX_LEVELS)) < 2:
            raise ConfigError(f"family 'lapgan' halves the image at least once down to 4 px or more; "
                              f"{spec.shape[1]} px images cannot be (use an even size of 8 px or more, e.g. "
                              "--data.resolution 32)")
        channels, resolution = spec.shape[0], spec.shape[1]
        generator = build_net("laplacian_generator", channels=channels, resolution=resolution,
                              latent_dim=model.latent_dim, width=model.g_width, hidden=model.mlp_hidden,
                              max_levels=MAX_LEVELS)
        discriminator = build_net("laplacian_discriminator", channels=channels, resolution=resolution,
                                  width=model.d_width, hidden=model.mlp_hidden, max_levels=MAX_LEVELS)
        return {"generator": generator, "discriminator": discriminator}

    @property
    def latent_width(self) -> int:
        sizes = pyramid_sizes(self.spec.shape[1], MAX_LEVELS)
        return self.config.model.latent_dim + sum(size * size for size in sizes[:-1])

    def sample_latent(self, n: int, device: torch.device | str, generator: torch.Generator | None = None) -> Tensor:
        return sample_latent(n, self.latent_width, self.config.model.latent_dist, device, generator)

    def phases(self) -> list[Phase]:
        return [Phase("D", "discriminator", self.discriminator_step), Phase("G", "generator", self.generator_step)]

    def pyramid_levels(self, generator: nn.Module, latent: Tensor) -> list[Tensor]:
        return generator.levels(latent)

    # -- steps -------------------------------------------------------------------------------------------
    def _real_levels(self, images: Tensor) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """Real bands, their (real) upsampled coarser images, and the coarsest image."""
        levels = len(self.nets["generator"].sizes)
        bands, coarsest = laplacian_pyramid(images, levels)
        lows, current = [], images
        for band in bands:
            lows.append(current - band)  # = up(down(current))
            current = F.avg_pool2d(current, 2)
        return bands, lows, coarsest

    def _fakes(self, batch: Batch, state: StepState) -> tuple[list[Tensor], Tensor]:
        if "fake" not in state.cache:
            generator = self.nets["generator"]
            real = batch["x"]
            _, lows, _ = self._real_levels(real)
            coarse_z, planes = generator.split(self.sample_latent(real.shape[0], real.device))
            size = generator.sizes[-1]
            coarse = generator.coarsest(coarse_z).reshape(-1, real.shape[1], size, size)
            bands = [band(low, plane) for band, low, plane in zip(generator.bands, lows, planes, strict=True)]
            state.cache["fake"] = (bands, coarse)
        return state.cache["fake"]

    def _scores(self, bands: list[Tensor], lows: list[Tensor], coarse: Tensor) -> list[Tensor]:
        discriminator = self.nets["discriminator"]
        return [discriminator.coarsest(coarse).squeeze(1),
                *[d(band, low) for d, band, low in zip(discriminator.bands, bands, lows, strict=True)]]

    def discriminator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        real_bands, lows, real_coarse = self._real_levels(batch["x"])
        fake_bands, fake_coarse = self._fakes(batch, state)
        real = self._scores(real_bands, lows, real_coarse)
        fake = self._scores([b.detach() for b in fake_bands], lows, fake_coarse.detach())
        per_level = [losses.bce_discriminator(r, f) for r, f in zip(real, fake, strict=True)]
        real_all, fake_all = torch.cat(real).detach(), torch.cat(fake).detach()
        out = {"loss": sum(per_level, torch.zeros((), device=real_all.device)),
               "real": torch.sigmoid(real_all).mean(), "fake": torch.sigmoid(fake_all).mean(),
               "accuracy": ((real_all > 0).float().mean() + (fake_all <= 0).float().mean()) / 2}
        coarsest_first = [per_level[0], *reversed(per_level[1:])]  # per_level: coarsest, then bands finest first
        out.update({f"level{k}": loss.detach() for k, loss in enumerate(coarsest_first)})
        return out

    def generator_step(self, batch: Batch, state: StepState) -> dict[str, Tensor]:
        cached = state.cache.get("fake")
        if cached is None or not cached[1].requires_grad:  # G did not keep its graph in the D step: run it again
            state.cache.pop("fake", None)
        fake_bands, fake_coarse = self._fakes(batch, state)
        state.cache.pop("fake")
        _, lows, _ = self._real_levels(batch["x"])
        scores = self._scores(fake_bands, lows, fake_coarse)
        total = sum((losses.non_saturating_generator(s) for s in scores), torch.zeros((), device=lows[0].device))
        return {"loss": total}
