"""Every recipe in configs/ runs at tiny size; recommended recipes per kind of data."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganforge
from ganforge.config import read_toml
from ganforge.errors import ConfigError
from ganforge.recipes import RECOMMENDED, find_recipe, list_recipes, resolve

from conftest import FASHION_MNIST_MISSING, TINY, draw, fashion_mnist_present

RECIPES = list_recipes()


def test_there_are_recipes() -> None:
    assert "mnist_dcgan" in [p.stem for p in RECIPES]


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_trains_at_tiny_size(recipe: Path, tmp_path: Path) -> None:
    overrides = {**read_toml(recipe), **TINY, "data.max_samples": 64, "train.steps": 5, "train.eval_every": 0}
    if overrides.get("data.source") == "fashion-mnist" and not fashion_mnist_present():
        pytest.skip(FASHION_MNIST_MISSING)
    run = ganforge.train(overrides, out=tmp_path / "run")
    assert run.step == 5 and draw(run, 2).isfinite().all()  # image-to-image recipes: translations of data inputs


def test_recipes_are_found_by_name() -> None:
    assert find_recipe("mnist_dcgan").name == "mnist_dcgan.toml"
    with pytest.raises(ConfigError, match="recipe name"):
        find_recipe("no_such_recipe")


@pytest.mark.parametrize(("source", "kind"), [("mnist", "image"), ("ring", "vector")])
def test_no_family_means_the_recommended_recipe(source: str, kind: str) -> None:
    config = resolve({"data.source": source})
    for key, value in RECOMMENDED[kind].items():
        section, name = key.split(".")
        assert getattr(getattr(config, section), name) == value
    assert resolve({"data.source": source, "train.steps": 7}).train.steps == 7
