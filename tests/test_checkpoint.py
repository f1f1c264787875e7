"""Checkpoint files: damaged ones are refused clearly; loading never needs pickle."""

from __future__ import annotations

from pathlib import Path

import pytest

import ganforge
from ganforge.errors import CheckpointError
from ganforge.train.checkpoint import list_checkpoints, read_checkpoint

from conftest import tiny


def test_damaged_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="ring"), out=tmp_path / "r")
    (checkpoint,) = list_checkpoints(tmp_path / "r" / "checkpoints")
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(CheckpointError, match="is damaged or incomplete"):
        read_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match="is damaged or incomplete"):
        ganforge.resume(tmp_path / "r", train__steps=8)


def test_partial_checkpoints_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    (folder / ".partial-step-0000009").mkdir(parents=True)
    (folder / "step-0000003").mkdir()  # no files: incomplete
    assert list_checkpoints(folder) == []


def test_only_the_newest_checkpoints_are_kept(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="ring", train__steps=8, train__checkpoint_every=2, train__keep_checkpoints=2),
                   out=tmp_path / "r")
    assert [p.name for p in list_checkpoints(tmp_path / "r" / "checkpoints")] == ["step-0000006", "step-0000008"]


def test_run_without_export_cannot_sample(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="ring"), out=tmp_path / "r")
    (tmp_path / "r" / "generator.json").unlink()
    with pytest.raises(CheckpointError, match="no exported generator"):
        ganforge.load(tmp_path / "r").sample(2)
