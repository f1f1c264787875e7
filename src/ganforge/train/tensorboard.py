"""TensorBoard event files in <run>/tb/ (train.tensorboard, the optional extra 'tensorboard'), fed by the same
collector as metrics.jsonl: every record it writes also becomes scalars here, every warning a text entry.

torch.utils.tensorboard is imported only when a sink is made, so `import ganforge` never needs the package.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ganforge.errors import ConfigError

SKIPPED_FIELDS = ("step", "time")   # the x axis, and a wall clock TensorBoard records itself
HISTOGRAM_SAMPLES = 256             # real samples (and as many of G's) whose D scores are histogrammed


def require_tensorboard() -> None:
    """Refuse train.tensorboard in one line when the package is missing (checked before the run folder is made)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("train.tensorboard needs the 'tensorboard' package: pip install 'ganforge[tensorboard]' "
                          "(or run with --train.tensorboard false)")


class TensorBoardSink:
    """A SummaryWriter on <run>/tb. `purge_step` (a resume): events the crashed run wrote from it on are hidden,
    as metrics.jsonl drops its records past the checkpoint."""

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def scalars(self, record: dict[str, Any]) -> None:
        """Every finite number of a metrics record (tag = its key, e.g. 'D/loss', 'eval/fid') at record['step']."""
        step = int(record["step"])
        for key, value in record.items():
            if key in SKIPPED_FIELDS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def image(self, tag: str, image: Image.Image | Tensor, step: int) -> None:
        """A PIL image, or a (C, H, W) tensor with values in [0, 1]."""
        if isinstance(image, Image.Image):
            self.writer.add_image(tag, np.asarray(image.convert("RGB")), step, dataformats="HWC")
        else:
            self.writer.add_image(tag, image.detach().float().cpu(), step, dataformats="CHW")
        self.writer.flush()

    def histogram(self, tag: str, values: Tensor, step: int) -> None:
        values = values.detach().float().flatten().cpu()
        values = values[torch.isfinite(values)]
        if len(values):
            self.writer.add_histogram(tag, values, step)

    def text(self, tag: str, message: str, step: int) -> None:
        self.writer.add_text(tag, message, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class ScoreProbe:
    """D's raw scores on a fixed real batch and on G's samples from fixed noise, for histograms at each log step.

    Side-effect free by construction: its indices and z come from private generators, the global RNG is forked
    (DiffAugment inside `family.score` draws from it), and G and D run in eval mode (no BatchNorm statistics
    updated, no dropout) and are put back in the mode they were in. So a run with histograms trains, and resumes,
    bit for bit as one without.

    Supported: families with a `score(x, condition=...)` method (the adversarial ones). Unconditional and
    conditional ones (labels y or vectors c) alike: G is given the real batch's own conditions, and D judges
    each sample with its condition. With several D's, the first one's scores are shown.
    """

    def __init__(self, family: Any, data: Any, seed: int) -> None:
        pack = family.config.model.pack  # D judges packs of this many samples
        count = min(HISTOGRAM_SAMPLES, len(data)) // pack * pack
        rng = torch.Generator().manual_seed(seed + 3)
        self.family, self.data = family, data
        self.indices = torch.randperm(len(data), generator=rng)[:count]
        self.latent = family.sample_latent(count, "cpu", rng)

    @staticmethod
    def applies(family: Any) -> bool:
        return callable(getattr(family, "score", None)) and callable(getattr(family, "condition_of", None))

    @torch.no_grad()
    def __call__(self, generator: nn.Module, device: torch.device, prepare_batch: Any) -> dict[str, Tensor]:
        from ganforge.conditions import call_generator

        family = self.family
        nets = [generator, *(net for net in family.nets.values() if net is not generator)]
        modes = [net.training for net in nets]
        devices = [device] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                for net in nets:
                    net.eval()
                real = prepare_batch(self.data.batch(self.indices.to(self.data.x.device), device))
                condition = family.condition_of(real)
                fake = call_generator(generator, self.latent.to(device), condition)
                fake = prepare_batch({"x": fake})["x"]
                return {"D/scores_real": self._raw(family.score(real["x"], condition=condition)),
                        "D/scores_fake": self._raw(family.score(fake, condition=condition))}
        finally:
            for net, mode in zip(nets, modes, strict=True):
                net.train(mode)

    def _raw(self, out: Any) -> Tensor:
        scores = out[0] if isinstance(out, tuple) else out  # AC-GAN: (scores, class logits)
        real_logit = getattr(self.family, "real_logit", None)
        if real_logit is not None and scores.dim() == 2 and scores.shape[1] > 1:  # sgan: K class logits -> D's logit
            scores = real_logit(scores)
        return scores.float().flatten().cpu()
