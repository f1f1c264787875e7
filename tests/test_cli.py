"""The command line: the issue's commands work, and each user error is one line with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main, split_dotted

TINY_ARGS = ["--train.steps", "4", "--train.batch_size", "8", "--train.progress", "false", "--model.g_width", "8",
             "--model.d_width", "8", "--model.mlp_hidden", "16", "--model.latent_dim", "8",
             "--train.checkpoint_every", "4"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_dotted_overrides_are_split_from_options() -> None:
    own, dotted = split_dotted(["train", "--data", "grid", "--train.steps", "30", "--model.family=sngan", "x.toml"])
    assert own == ["train", "--data", "grid", "x.toml"] and dotted == ["--train.steps", "30", "--model.family=sngan"]


def test_train_then_sample_png_and_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, stdout, _ = run_cli(["train", "--family", "dcgan", "--data", "digits", "--seed", "1", "--out", str(out),
                               *TINY_ARGS], capsys)
    assert code == 0 and "run folder" in stdout
    code, _, _ = run_cli(["sample", str(out), "--n", "9", "--seed", "0", "--out", str(tmp_path / "g.png")], capsys)
    with Image.open(tmp_path / "g.png") as grid:
        assert code == 0 and grid.size == (3 * 10 + 2, 3 * 10 + 2)
    run_cli(["sample", str(out), "--n", "5", "--out", str(tmp_path / "s.npy")], capsys)
    array = np.load(tmp_path / "s.npy")
    assert array.shape == (5, 1, 8, 8) and array.dtype == np.float32 and 0 <= array.min() <= array.max() <= 1


def test_train_without_family_uses_the_recommended_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run_cli(["train", "--data", "grid", "--out", str(tmp_path / "g"), *TINY_ARGS], capsys)
    from ganforge.recipes import RECOMMENDED

    assert code == 0 and f"trained {RECOMMENDED['vector']['model.family']} on grid" in stdout


def test_resume_continues_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r")
    run_cli(["train", "--data", "ring", "--out", out, *TINY_ARGS], capsys)
    code, stdout, _ = run_cli(["resume", out, "--train.steps", "6"], capsys)
    assert code == 0 and "to step 6" in stdout


def test_list_names_families_data_and_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run_cli(["list"], capsys)
    for name in ("vanilla", "dcgan", "wgan-gp", "sngan", "mnist", "digits", "ring", "grid", "mnist_dcgan"):
        assert name in stdout
    assert code == 0


def test_user_errors_are_one_line_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "o")
    cases = [
        (["train", "--family", "stylegan"], ["unknown family 'stylegan'", "vanilla, dcgan"]),
        (["train", "--data", "cifar"], ["unknown data source 'cifar'", "mnist, digits, ring, grid"]),
        (["train", "--data", "ring", "--train.stpes", "3"], ["did you mean 'train.steps'"]),
        (["train", "--data", "ring", "--train.steps", "many"], ["'train.steps' got 'many'; expected int"]),
        (["train", "--data", str(tmp_path / "missing")], ["unknown data source"]),
        (["train", "missing.toml"], ["'missing.toml' does not exist"]),
        (["train", "--data", "digits", "--data.max_samples", "3", "--out", out, *TINY_ARGS],
         ["has 3 samples, fewer than one batch"]),
        (["sample", str(tmp_path)], ["not a ganforge run folder"]),
        (["resume", str(tmp_path)], ["not a ganforge run folder"]),
    ]
    for args, fragments in cases:
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, *fragments)


def test_empty_folder_and_bad_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["train", "--data", str(empty), "--out", str(tmp_path / "o"), *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "holds no images")
    (empty / "a.png").write_bytes(b"broken")
    code, _, err = run_cli(["train", "--data", str(empty), "--out", str(tmp_path / "o"), *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "none of its 1 image files could be read")


def test_existing_run_is_not_overwritten_by_accident(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "r")
    assert run_cli(["train", "--data", "ring", "--out", out, *TINY_ARGS], capsys)[0] == 0
    code, _, err = run_cli(["train", "--data", "grid", "--out", out, *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "already holds a run", "--overwrite")
    assert run_cli(["train", "--data", "grid", "--out", out, "--overwrite", *TINY_ARGS], capsys)[0] == 0


def test_diverging_loss_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "--data", "ring", "--family", "vanilla", "--out", str(tmp_path / "r"),
                            *TINY_ARGS, "--train.lr_d", "1e10", "--train.lr_g", "1e10"], capsys)
    assert_one_line_error(code, err, "became nan at step", "lower train.lr_d")


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ganforge.cli", "train", "--family", "nope"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    from ganforge.families import FAMILIES

    assert result.stderr.strip() == f"error: unknown family 'nope'; valid families: {', '.join(FAMILIES)}"
