"""train.tensorboard: event files from the same collector as metrics.jsonl, read back with TensorBoard's own
reader; histograms that leave training untouched; a one-line refusal when the package is missing."""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.train.logging import read_metrics

from conftest import tiny


def events(run: Path) -> Any:
    """The run's TensorBoard events, as TensorBoard loads them (every event kept, purges applied)."""
    accumulator_module = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = accumulator_module.EventAccumulator(
        str(run / "tb"), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def training_records(run: Path) -> list[dict[str, Any]]:
    return [r for r in read_metrics(run / "metrics.jsonl") if "images_per_s" in r]


def assert_scalars_match_metrics(run: Path, accumulator: Any, tags: tuple[str, ...] = ("D/loss", "G/loss")) -> None:
    records = training_records(run)
    for tag in tags:
        scalars = accumulator.Scalars(tag)
        assert [e.step for e in scalars] == [r["step"] for r in records], tag
        assert [e.value for e in scalars] == [np.float32(r[tag]) for r in records], tag  # float32 in the events


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    newest = sorted((run / "checkpoints").iterdir())[-1]
    return load_file(str(newest / "model.safetensors"))


def test_image_run_writes_scalars_equal_to_metrics_jsonl_grids_and_score_histograms(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="digits", data__max_samples=64, model__family="dcgan", train__log_every=1,
                        train__sample_every=2, train__tensorboard=True), out=out)
    accumulator = events(out)
    tags = accumulator.Tags()
    assert {"D/loss", "G/loss", "D/real", "D/fake", "images_per_s"} <= set(tags["scalars"])
    assert "time" not in tags["scalars"] and "step" not in tags["scalars"]
    assert_scalars_match_metrics(out, accumulator, ("D/loss", "G/loss", "D/real", "G/grad_norm"))
    assert [e.step for e in accumulator.Images("samples")] == [2, 4]  # one per grid in samples/
    assert len(list((out / "samples").glob("step-*.png"))) == 2
    assert {"D/scores_real", "D/scores_fake"} <= set(tags["histograms"])
    real = accumulator.Histograms("D/scores_real")
    assert [e.step for e in real] == [1, 2, 3, 4] and real[0].histogram_value.num == 64  # every sample scored


def test_resume_hides_the_events_past_its_checkpoint_and_writes_2d_scatter_plots(tmp_path: Path) -> None:
    """A crash after step 2's checkpoint: the resumed run's events replace steps 3-4, as metrics.jsonl's do."""
    pytest.importorskip("tensorboard")
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="ring", train__log_every=1, train__checkpoint_every=2, train__tensorboard=True),
                   out=out)
    shutil.rmtree(out / "checkpoints" / "step-0000004")  # as if killed before the step-4 checkpoint
    ganforge.resume(out, train__steps=6)
    accumulator = events(out)
    assert_scalars_match_metrics(out, accumulator)
    assert [e.step for e in accumulator.Scalars("D/loss")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in accumulator.Images("samples")] == [4, 6]  # ring: the scatter plot
    assert [e.step for e in accumulator.Histograms("D/scores_fake")] == [1, 2, 3, 4, 5, 6]


def test_tensorboard_leaves_training_and_exact_resume_bit_for_bit_unchanged(tmp_path: Path) -> None:
    """Histograms run G and D at every log step: with BatchNorm, DiffAugment and a resume, weights are identical."""
    pytest.importorskip("tensorboard")
    config = tiny(model__family="dcgan", data__source="digits", data__max_samples=64, train__steps=6,
                  train__log_every=1, train__checkpoint_every=100, train__sample_every=100,
                  train__augment="diffaugment")
    ganforge.train(config, out=tmp_path / "off")
    ganforge.train({**config, "train.steps": 3, "train.tensorboard": True}, out=tmp_path / "on")
    ganforge.resume(tmp_path / "on", train__steps=6)
    assert not (tmp_path / "off" / "tb").exists()
    assert list((tmp_path / "on" / "tb").iterdir())
    off, on = final_tensors(tmp_path / "off"), final_tensors(tmp_path / "on")
    assert off.keys() == on.keys()
    assert [k for k in off if not torch.equal(off[k], on[k])] == []


def test_sink_writes_finite_numbers_only(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from ganforge.train.tensorboard import TensorBoardSink

    sink = TensorBoardSink(tmp_path / "tb")
    sink.scalars({"step": 3, "D/loss": 0.5, "G/loss": math.inf, "threads": 1, "flag": True, "warning": "x",
                  "time": 1e9})
    sink.histogram("h", torch.tensor([0.0, math.nan, 1.0]), 3)
    sink.text("warnings/mode_collapse", "mode collapse", 3)
    sink.image("grid", torch.zeros(3, 4, 4), 3)
    sink.close()
    accumulator = events(tmp_path)
    assert set(accumulator.Tags()["scalars"]) == {"D/loss", "threads"}
    assert accumulator.Histograms("h")[0].histogram_value.num == 2
    assert accumulator.Images("grid")[0].step == 3


def test_missing_package_is_refused_in_one_line_before_anything_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tensorboard" else real_find_spec(name, *args))
    out = tmp_path / "r"
    with pytest.raises(ConfigError, match=r"train.tensorboard needs the 'tensorboard' package: "
                                          r"pip install 'ganforge\[tensorboard\]'"):
        ganforge.train(tiny(data__source="ring", train__tensorboard=True), out=out)
    assert not out.exists()
    code = main(["train", "--data", "ring", "--out", str(out), "--train.steps", "4", "--train.progress", "false",
                 "--train.tensorboard", "true"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "pip install 'ganforge[tensorboard]'" in errors[0]
    assert not out.exists()


def test_importing_ganforge_and_its_trainer_needs_no_tensorboard(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['tensorboard'] = None; import ganforge, ganforge.train.trainer; "
            "assert 'torch.utils.tensorboard' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
