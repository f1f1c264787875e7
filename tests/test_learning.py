"""Learning, not just running: the ring recipe finds the modes of PacGAN's ring of 8 Gaussians."""

from __future__ import annotations

from pathlib import Path

import torch

import ganforge
from ganforge.config import read_toml
from ganforge.data.toy import TOY_MIXTURES
from ganforge.metrics.modes import mode_coverage
from ganforge.recipes import find_recipe


def test_vanilla_gan_covers_the_ring(tmp_path: Path) -> None:
    """>= 7 of 8 modes and >= 80% of samples within 3 std, on the PacGAN protocol (2,500 samples)."""
    recipe = {**read_toml(find_recipe("ring_vanilla")), "train.seed": 0, "train.progress": False}
    run = ganforge.train(recipe, out=tmp_path / "ring")
    centres, std = TOY_MIXTURES["ring"]
    score = mode_coverage(run.sample(2500, seed=0), torch.tensor(centres), std)
    assert score.modes_captured >= 7, score
    assert score.high_quality >= 0.80, score
