"""The semi-supervised GAN: a classifier from a few labels, exported with the run and applied by `classify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ganforge
from ganforge.cli import main
from ganforge.recipes import resolve

from conftest import tiny


def test_sgan_trains_on_a_few_labels_and_exports_its_classifier(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(model__family="sgan", data__source="digits", data__labelled=3), out=out)
    meta = json.loads((out / "classifier.json").read_text())
    assert meta["classes"][:3] == ["zero", "one", "two"] and meta["labelled_per_class"] == 3
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"D/supervised", "D/unsupervised", "D/class_accuracy", "G/loss"} <= set(records[0])
    code = main(["classify", str(out), "--out", str(tmp_path / "preds.csv")])
    printed = capsys.readouterr().out
    assert code == 0 and "accuracy" in printed and "test split" in printed and "true \\ predicted" in printed
    rows = (tmp_path / "preds.csv").read_text().splitlines()
    assert rows[0] == "index,predicted,probability,label" and len(rows) == 1 + 300  # digits' 30 held out per class


def test_classify_refuses_a_run_without_a_classifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(model__family="dcgan", data__source="digits", data__max_samples=40), out=out)
    capsys.readouterr()
    code = main(["classify", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has no classifier" in err and "--family sgan" in err


def test_sgan_needs_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--family", "sgan", "--data", "ring", "--data.labels", "none", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "needs class labels" in err


@pytest.mark.parametrize(("source", "user", "augment"), [
    ("digits", {}, "diffaugment"),                              # images: D's classifier sees augmented batches
    ("digits", {"train.augment": "none"}, "none"),              # the user's value wins
    ("ring", {}, "none"),                                       # vectors: nothing to augment
])
def test_sgan_augments_images_by_default(source: str, user: dict[str, str], augment: str) -> None:
    config = resolve({"model.family": "sgan", "data.source": source, **user})
    assert config.train.augment == augment
