"""Shared fixtures: tiny configs that train in seconds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

TINY: dict[str, Any] = {
    "train.steps": 4,
    "train.batch_size": 8,
    "train.log_every": 2,
    "train.sample_every": 4,
    "train.checkpoint_every": 4,
    "train.progress": False,
    "model.g_width": 8,
    "model.d_width": 8,
    "model.mlp_hidden": 16,
    "model.mlp_layers": 2,
    "model.latent_dim": 8,
    "train.threads": 1,  # pinned: auto's choice depends on the load, and results may differ between counts
}


def tiny(**overrides: Any) -> dict[str, Any]:
    """TINY with dotted overrides written as data__source='ring'."""
    return {**TINY, **{k.replace("__", "."): v for k, v in overrides.items()}}


# Families whose tiny runs need more than the image-to-image default below: srgan upscales (downscale2 works on the
# 8 px digits: it needs sides >= 4K) and reaches its adversarial stage after one pre-training step, so that D's
# curves start at the first log step like every other family's; cyclegan needs a second, unpaired domain (the 8 px
# digits again: the smallest, so a tiny run stays at the first domain's size).
FAMILY_DATA: dict[str, dict[str, Any]] = {"srgan": {"data.pairs": "downscale2", "train.pretrain_steps": 1},
                                          "cyclegan": {"data.target": "digits"}}


def one_line(code: int, err: str, *fragments: str) -> None:
    """A user error as the CLI must give it: exit 2 and one 'error:' line holding every fragment."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


FASHION_MNIST_MISSING = ("Fashion-MNIST's IDX files are absent: apt-get install dataset-fashion-mnist (as .ci/run "
                         "does), or set GANFORGE_FASHION_MNIST to a folder holding them")


def fashion_mnist_present() -> bool:
    """Whether the four Fashion-MNIST IDX files are where the built-in source looks."""
    from ganforge.data.builtin import fashion_mnist_folder
    from ganforge.data.idx import find_idx_folder
    from ganforge.errors import DataError

    folder = fashion_mnist_folder()
    try:
        return folder.is_dir() and find_idx_folder(folder) is not None
    except DataError:
        return False


def family_data(name: str) -> dict[str, Any]:
    """What a registry-parametrised test adds for family `name` beyond a plain image source: an image-to-image
    family (pix2pix) needs (input, target) pairs, cyclegan a second domain."""
    from ganforge.families import FAMILIES

    if name in FAMILY_DATA:
        return dict(FAMILY_DATA[name])
    return {"data.pairs": "noise0.3"} if FAMILIES[name].image_conditioned else {}


def draw(run: Any, n: int, seed: int = 0) -> Any:
    """n outputs of a run: samples from noise, or an image-to-image run's translations of its first n inputs (a2b:
    the inputs of pairs, or domain A's images)."""
    if not run.image_conditioned:
        return run.sample(n, seed=seed)
    from ganforge.data import load_data

    data = load_data(run.config.data)
    batch = data.batch(torch.arange(n), torch.device("cpu"))
    return run.translate(data.spec.decode(batch["source"] if "source" in batch else batch["x"]))


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One GANFORGE_CACHE for the whole session: the MNIST classifier trains once, and never into ~/.cache."""
    root = tmp_path_factory.mktemp("ganforge-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANFORGE_CACHE", str(root))
        yield root


@pytest.fixture
def image_array(tmp_path: Path) -> Path:
    """A .npy of 40 random 16x16 RGB images."""
    path = tmp_path / "images.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, size=(40, 16, 16, 3), dtype=np.uint8))
    return path


def write_image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(path)
    return path
