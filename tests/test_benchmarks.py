"""The benchmarks run (in their --quick mode) and print their figures."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(name: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), "--quick"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def load_mode_collapse() -> Any:
    spec = importlib.util.spec_from_file_location("mode_collapse", BENCHMARKS / "mode_collapse.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_throughput_benchmark_compares_both_loops() -> None:
    out = run_quick("throughput.py")
    assert "reference" in out and "ganforge (EMA on)" in out and "ratio to reference" in out


@pytest.mark.slow
@pytest.mark.inception
def test_metrics_speed_benchmark_runs() -> None:
    pytest.importorskip("torchmetrics")
    assert "speed ratio ganforge / torchmetrics" in run_quick("metrics_speed.py")


def test_mode_collapse_benchmark_prints_rows_beside_the_published_ones() -> None:
    out = run_quick("mode_collapse.py")
    assert "GAN" in out and "PacGAN2" in out and "7.9 / 95.6 / 0.07" in out


def test_mnist_recipes_benchmark_scores_each_recipe_at_the_references_cpu_time() -> None:
    out = run_quick("mnist_recipes.py")
    rows = [line for line in out.splitlines() if line.startswith(("make run", "DCGAN + linear"))]
    assert len(rows) == 2
    assert all(float(row.split()[-1]) > 0 for row in rows)  # an FID, not a placeholder


def test_mode_collapse_staged_run_ends_where_an_uninterrupted_run_ends(capsys: pytest.CaptureFixture[str]) -> None:
    module = load_mode_collapse()
    whole, _ = module.one_run("ring", "GAN", 60, 0, 1)
    staged, _ = module.one_run("ring", "GAN", 60, 0, 1, score_every=20)
    assert staged == whole  # each stage resumes its checkpoint exactly
    stages = [line for line in capsys.readouterr().out.splitlines() if "stage ring / GAN / seed 0" in line]
    assert [line.split("step ")[1].split(":")[0] for line in stages] == ["20", "40"]


def test_mode_collapse_decayed_row_anneals_the_last_third_and_refuses_stages() -> None:
    module = load_mode_collapse()
    recipe = module.recipe_for("stacked-mnist", "recommended + LR decay (last third)", 60000, 0)
    assert (recipe["train.lr_decay"], recipe["train.lr_decay_start"], recipe["train.steps"]) == ("linear", 40000, 60000)
    with pytest.raises(SystemExit, match="run it without --score-every"):
        module.one_run("stacked-mnist", "recommended + LR decay (last third)", 60, 0, 1, score_every=20)
