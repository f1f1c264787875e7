"""Evaluation of runs: plans, protocols, cached real features, in-training evaluation and the best generator."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.config import from_overrides
from ganforge.data import load_data
from ganforge.errors import ConfigError
from ganforge.evaluate import Evaluator, class_histogram_kl, format_table, is_better, plan
from ganforge.metrics.features import Extracted

from conftest import tiny


def test_plans_follow_the_kind_of_data() -> None:
    ring = from_overrides({"data.source": "ring"})
    assert plan(ring, "vector").metrics == ["modes"]
    mnist = plan(from_overrides({"data.source": "mnist"}), "image", features="mnist")
    assert mnist.metrics == ["fid", "kid", "is", "pr", "dc", "classes"] and mnist.extractors == ["mnist"]
    with pytest.raises(ConfigError, match="need image data"):
        plan(ring, "vector", metrics="fid")
    with pytest.raises(ConfigError, match="unknown metric 'fud'"):
        plan(ring, "vector", metrics="fud")
    with pytest.raises(ConfigError, match="unknown feature extractor 'vgg'"):
        plan(from_overrides({"data.source": "mnist"}), "image", features="vgg")
    inception = plan(from_overrides({"data.source": "digits"}), "image", metrics="fid,is", features="inception")
    assert any("no classifier head" in text for text in inception.notes)
    with pytest.raises(ConfigError, match="'modes' needs a mixture"):
        plan(from_overrides({"data.source": "digits"}), "image", metrics="modes")


def test_class_histogram_kl_matches_hand_computation() -> None:
    real = torch.eye(2)[[0, 0, 1, 1]].double()     # real classes: half 0, half 1
    fake = torch.eye(2)[[0, 0, 0, 1]].double()     # fake: 3/4 class 0
    histogram, kl = class_histogram_kl(fake, real)
    assert histogram == [0.75, 0.25]
    assert kl == pytest.approx(0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))


def test_better_means_lower_distances_and_higher_scores() -> None:
    assert is_better("inception/fid", 10.0, 12.0) and not is_better("inception/fid", 13.0, 12.0)
    assert is_better("mnist/is", 9.0, 8.0) and is_better("modes/modes", 8, 7)
    assert is_better("inception/fid", 50.0, None)


def test_table_has_a_column_per_feature_space() -> None:
    table = format_table({"inception/fid": 12.5, "mnist/fid": 3.25, "mnist/is": 9.1})
    header, *rows = table.splitlines()
    assert header.split() == ["metric", "inception", "mnist"]
    assert rows[0].split() == ["fid", "12.5000", "3.2500"]


def test_real_features_are_computed_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    config = from_overrides({"data.source": "digits", "data.max_samples": 40})
    data = load_data(config.data)
    evaluator = Evaluator(config, data, plan(config, "image", metrics="fid", features="mnist"), n=40)
    calls: list[int] = []
    extractor = evaluator.extractors["mnist"]
    original = extractor.extract

    def counting(images: torch.Tensor, **kwargs: object) -> Extracted:
        calls.append(len(images))
        return original(images, **kwargs)

    monkeypatch.setattr(extractor, "extract", counting)
    generate = lambda n, seed, labels: data.spec.decode(data.batch(torch.arange(n), torch.device("cpu"))["x"])  # noqa: E731
    first = evaluator(generate)
    second = Evaluator(config, data, evaluator.plan, n=40)
    monkeypatch.setattr(second.extractors["mnist"], "extract", counting)
    again = second(generate)
    assert calls == [40, 40, 40]  # real once (cached on disk), fake each time
    assert first == again and first["mnist/fid"] == pytest.approx(0.0, abs=1e-6)  # same images, same statistics


def test_eval_cli_scores_a_ring_run_and_records_the_protocol(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    ganforge.train(tiny(data__source="ring"), out=tmp_path / "r")
    assert main(["eval", str(tmp_path / "r")]) == 0
    record = json.loads((tmp_path / "r" / "eval" / "step-0000004.json").read_text())
    assert set(record["results"]) == {"modes/modes", "modes/modes_total", "modes/high_quality", "modes/reverse_kl"}
    assert "2500 samples" in record["protocol"]["modes"] and record["protocol"]["n_fake"] == 2500
    assert "reverse_kl" in capsys.readouterr().out


def test_training_evaluates_and_keeps_the_best_generator(tmp_path: Path) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="ring", train__steps=6, train__eval_every=2), out=out)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in lines if "eval/modes/modes" in r]
    assert [r["step"] for r in evals] == [2, 4, 6]
    best = json.loads((out / "best" / "generator.json").read_text())["best"]
    assert best["key"] == "modes/modes" and best["value"] == max(r["eval/modes/modes"] for r in evals)
    assert (out / "best" / "generator.safetensors").is_file()


def test_stacked_mnist_modes_count_real_triples_and_catch_collapse() -> None:
    from ganforge.evaluate import stacked_modes

    real = load_data(from_overrides({"data.source": "stacked-mnist", "data.max_samples": 2000}).data)
    score = stacked_modes(real.x, "cpu")
    expected = len(torch.unique(real.y))  # distinct triples among these 2,000 (about 1 - e^-2 of 1,000)
    assert abs(score["modes"] - expected) <= 0.05 * expected and score["modes_kl"] < 1.0
    collapsed = stacked_modes(real.x[:1].repeat(50, 1, 1, 1), "cpu")
    assert collapsed["modes"] == 1 and collapsed["modes_kl"] == pytest.approx(math.log(1000))
    assert collapsed["digit_kl"] == pytest.approx(math.log(1000)) and collapsed["dependence_kl"] == pytest.approx(0)
