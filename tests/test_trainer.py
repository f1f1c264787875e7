"""The loop: exact resume, divergence, crash safety, logs, sample grids and run-folder hygiene."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import ganforge
from ganforge import losses
from ganforge.errors import ConfigError, StorageError, TrainingDiverged
from ganforge.train import checkpoint as checkpoint_module
from ganforge.train.trainer import linear_decay

from conftest import tiny


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    newest = sorted((run / "checkpoints").iterdir())[-1]
    return load_file(str(newest / "model.safetensors"))


@pytest.mark.parametrize(("family", "source", "extra"), [
    ("dcgan", "digits", {}), ("wgan-gp", "ring", {}), ("vanilla", "ring", {}), ("r3gan", "digits", {}),
    ("vanilla", "ring", {"train.unrolled_steps": 3}),
])
def test_resume_is_bit_exact(family: str, source: str, extra: dict, tmp_path: Path) -> None:
    """N steps + resume + N steps == 2N steps: nets, EMA, optimiser state and RNG alike."""
    config = tiny(model__family=family, data__source=source, train__steps=14, train__checkpoint_every=100,
                  train__sample_every=100, data__max_samples=200 if source == "digits" else None, **extra)
    ganforge.train(config, out=tmp_path / "straight")
    ganforge.train({**config, "train.steps": 7}, out=tmp_path / "split")
    ganforge.resume(tmp_path / "split", train__steps=14)
    straight, split = final_tensors(tmp_path / "straight"), final_tensors(tmp_path / "split")
    assert straight.keys() == split.keys()
    differing = [k for k in straight if not torch.equal(straight[k], split[k])]
    assert differing == []
    assert any(k.startswith("optim.generator.") for k in straight) and "rng.torch" in straight


def test_resuming_with_an_lr_decay_from_the_checkpoint_equals_that_schedule_from_scratch(tmp_path: Path) -> None:
    """Train at a constant LR, then resume annealing it: the same as one run with lr_decay_start at the checkpoint."""
    config = tiny(data__source="ring", train__steps=12, train__checkpoint_every=100, train__sample_every=100,
                  train__lr_decay="linear", train__lr_decay_start=6)
    ganforge.train(config, out=tmp_path / "straight")
    ganforge.train({**config, "train.steps": 6, "train.lr_decay": "none", "train.lr_decay_start": 0},
                   out=tmp_path / "split")
    ganforge.resume(tmp_path / "split", train__steps=12, train__lr_decay="linear", train__lr_decay_start=6)
    straight, split = final_tensors(tmp_path / "straight"), final_tensors(tmp_path / "split")
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []
    constant = tiny(data__source="ring", train__steps=12, train__checkpoint_every=100, train__sample_every=100)
    ganforge.train(constant, out=tmp_path / "constant")  # the decay does change the outcome
    assert not torch.equal(final_tensors(tmp_path / "constant")["nets.generator.body.0.weight"],
                           straight["nets.generator.body.0.weight"])


def test_linear_decay_holds_the_rate_until_its_start_then_falls_towards_zero() -> None:
    factors = [linear_decay(step, start=4, steps=8) for step in range(8)]
    assert factors == [1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert [linear_decay(step, start=0, steps=4) for step in range(4)] == [1.0, 0.75, 0.5, 0.25]


def test_resume_refuses_to_change_the_model(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="ring"), out=tmp_path / "r")
    with pytest.raises(ConfigError, match="'model.latent_dim' cannot change when resuming"):
        ganforge.resume(tmp_path / "r", model__latent_dim=3, train__steps=8)
    with pytest.raises(ConfigError, match="already at step 4; pass --train.steps above 4"):
        ganforge.resume(tmp_path / "r", train__steps=4)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_loss = losses.bce_discriminator

    def poisoned(real: torch.Tensor, fake: torch.Tensor, **kwargs: float) -> torch.Tensor:
        calls["n"] += 1
        return real_loss(real, fake, **kwargs) * (float("nan") if calls["n"] == 7 else 1.0)

    monkeypatch.setattr(losses, "bce_discriminator", poisoned)
    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match=r"the D loss became nan at step 7;.*step-0000004"):
        ganforge.train(tiny(data__source="ring", model__family="vanilla", train__steps=10), out=out)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-0000004"]
    tensors = final_tensors(out)
    assert all(torch.isfinite(v.float()).all() for k, v in tensors.items() if not k.startswith("rng"))
    assert ganforge.load(out).sample(3).isfinite().all()


def test_crash_while_checkpointing_leaves_the_previous_one_loadable(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    config = tiny(data__source="ring", train__steps=8, train__checkpoint_every=4)
    real_write = checkpoint_module._write_file
    calls = {"n": 0}

    def crashing_write(path: Path, payload: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the second checkpoint's model.safetensors
            path.write_bytes(b"half a file")
            raise OSError(5, "disk vanished", str(path))
        real_write(path, payload)

    monkeypatch.setattr(checkpoint_module, "_write_file", crashing_write)
    with pytest.raises(StorageError, match="disk vanished.*the last good checkpoint is .*step-0000004"):
        ganforge.train(config, out=out)
    monkeypatch.setattr(checkpoint_module, "_write_file", real_write)
    assert [p.name for p in checkpoint_module.list_checkpoints(out / "checkpoints")] == ["step-0000004"]
    run = ganforge.resume(out, train__steps=8)
    assert run.step == 8


def test_metrics_sample_grids_and_export_are_written(tmp_path: Path) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="digits", train__steps=6, train__log_every=2, train__sample_every=3,
                        train__checkpoint_every=3), out=out)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    records = [r for r in lines if "warning" not in r]
    assert [r["step"] for r in records] == [2, 4, 6]
    assert {"D/loss", "G/loss", "D/real", "D/fake", "D/accuracy", "G/grad_norm", "diversity_ratio",
            "images_per_s"} <= set(records[0])
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-0000003.png", "step-0000006.png"]
    meta = json.loads((out / "generator.json").read_text())
    assert meta["step"] == 6 and meta["weights"] == "ema" and meta["net"]["name"] == "dcgan_generator"


def test_resume_rewrites_metrics_after_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="ring", train__steps=4, train__log_every=1), out=out)
    ganforge.resume(out, train__steps=6)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "warning" not in r] == [1, 2, 3, 4, 5, 6]


def test_output_folder_with_another_run_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="ring"), out=out)
    with pytest.raises(ConfigError, match="already holds a run; continue it with 'ganforge resume"):
        ganforge.train(tiny(data__source="grid"), out=out)
    run = ganforge.train(tiny(data__source="grid"), out=out, overwrite=True)
    assert run.config.data.source == "grid"
    assert run.spec.modes and len(run.spec.modes) == 25
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no ganforge run"):
        ganforge.train(tiny(data__source="ring"), out=tmp_path / "other")


def test_batch_larger_than_the_data_set_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ganforge.DataError, match=r"has 5 samples, fewer than one batch.*at most 5"):
        ganforge.train(tiny(data__source="digits", data__max_samples=5, train__batch_size=8), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_bf16_autocast_trains(tmp_path: Path) -> None:
    run = ganforge.train(tiny(data__source="digits", train__precision="bf16"), out=tmp_path / "r")
    assert run.sample(2).isfinite().all()


def test_training_on_the_cpu_flushes_denormal_numbers_to_zero(tmp_path: Path) -> None:
    # A saturated D's run slowed to a third of its speed on denormal arithmetic; training flushes them.
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush denormal numbers")
    try:
        assert torch.tensor([1e-40]).mul(1.0).item() != 0  # kept while not flushing
        ganforge.train(tiny(model__family="vanilla", data__source="ring", train__steps=2), out=tmp_path / "run")
        assert torch.tensor([1e-40]).mul(1.0).item() == 0
    finally:
        torch.set_flush_denormal(False)
