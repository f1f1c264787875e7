"""Faults a hostile user or a flaky machine brings: each finding of the fault-injection pass, reproduced.

Data loss (metrics rewrite, two writers, divergence), tampered run files, OS errors, Ctrl-C and leftovers:
every one ends in exit status 2 (130 for Ctrl-C) and one line naming the input, and nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import ganforge
from ganforge.api import RESUMABLE_KEYS
from ganforge.cli import main
from ganforge.errors import CheckpointError, RunLocked
from ganforge.families import FAMILIES
from ganforge.train.checkpoint import list_checkpoints, save_checkpoint
from ganforge.train.lock import RunLock
from ganforge.train.logging import read_metrics, truncate_after

from conftest import TINY, family_data

ROOT = Path(__file__).resolve().parents[1]
TINY_ARGS = [arg for key, value in TINY.items() for arg in (f"--{key}", str(value).lower())]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def strict_json_lines(path: Path) -> list[dict]:
    """metrics.jsonl parsed line by line as strict JSON (a bare NaN/Infinity fails)."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-JSON constant {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text(encoding="utf-8").splitlines()]


def all_tensors_finite(run: Path) -> bool:
    files = [p / "model.safetensors" for p in list_checkpoints(run / "checkpoints")]
    files += [f for f in (run / "generator.safetensors", run / "best" / "generator.safetensors") if f.is_file()]
    return all(torch.isfinite(t).all() for f in files for t in load_file(str(f)).values() if t.is_floating_point())


@pytest.fixture(scope="module")
def base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-step ring run with one checkpoint; tests tamper with copies of it."""
    out = tmp_path_factory.mktemp("base") / "run"
    ganforge.train({**TINY, "data.source": "ring", "model.family": "vanilla"}, out=out)
    return out


@pytest.fixture
def run_copy(base_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(base_run, target)
    return target


def checkpoint_of(run: Path) -> Path:
    return list_checkpoints(run / "checkpoints")[-1]


# -- 1. metrics.jsonl is never lost to a kill ---------------------------------------------------------------

KILL_AFTER_OPENING_FOR_WRITE = """
import os, signal, sys, threading
from pathlib import Path
folder, delay = sys.argv[1], float(sys.argv[2])
def hook(event, args):  # SIGKILL `delay` s after the first file in `folder` is opened for writing
    if event == "open" and str(args[0]).startswith(folder) and not getattr(hook, "armed", False):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR):
            hook.armed = True
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
sys.addaudithook(hook)
from ganforge.train.logging import truncate_after
truncate_after(Path(folder) / "metrics.jsonl", int(sys.argv[3]))
"""


def test_a_kill_during_the_metrics_rewrite_leaves_the_file_whole(tmp_path: Path) -> None:
    """Killed just after it starts writing (the moment an in-place rewrite has truncated the file)."""
    path = tmp_path / "metrics.jsonl"
    lines = [json.dumps({"step": s, "D/loss": 0.5, "pad": "x" * 200}) for s in range(1, 60_001)]
    original = "\n".join(lines) + "\n"
    truncated = "\n".join(lines[:59_000]) + "\n"
    for delay in (0.0, 0.001, 0.005, 0.02, 0.1):
        path.write_text(original, encoding="utf-8")
        child = subprocess.run([sys.executable, "-c", KILL_AFTER_OPENING_FOR_WRITE, str(tmp_path), str(delay),
                                "59000"], capture_output=True)
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert path.read_text(encoding="utf-8") in (original, truncated), f"damaged by a kill {delay} s in"
    truncate_after(path, 59_000)
    assert path.read_text(encoding="utf-8") == truncated


def test_the_metrics_rewrite_drops_a_torn_last_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 2, "a": 1}\n{"step": 4, "a": 2}\n{"step": 6, "a"', encoding="utf-8")
    truncate_after(path, 4)
    assert path.read_text(encoding="utf-8") == '{"step": 2, "a": 1}\n{"step": 4, "a": 2}\n'


# -- 2. one writer per run folder ---------------------------------------------------------------------------

@contextlib.contextmanager
def held_lock(run: Path) -> Iterator[RunLock]:
    lock = RunLock(run)
    lock.acquire("test")
    try:
        yield lock
    finally:
        lock.release()


def test_a_second_resume_of_a_run_in_use_is_refused(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (run_copy / "metrics.jsonl").read_bytes()
    with held_lock(run_copy):
        code, _, err = run_cli(["resume", run_copy, "--train.steps", "8"], capsys)
    assert_one_line_error(code, err, f"run folder '{run_copy}' is in use by process {os.getpid()}", "cannot resume")
    assert (run_copy / "metrics.jsonl").read_bytes() == before


def test_overwrite_of_a_run_in_use_is_refused_and_deletes_nothing(run_copy: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(p.relative_to(run_copy) for p in run_copy.rglob("*"))
    with held_lock(run_copy):
        code, _, err = run_cli(["train", "--data", "ring", "--out", run_copy, "--overwrite", *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "is in use by", "cannot train into")
    assert sorted(p.relative_to(run_copy) for p in run_copy.rglob("*")) == files


def test_two_trainings_into_one_new_folder_cannot_interleave(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new"
    out.mkdir()
    with held_lock(out):  # the first training holds the folder between its check and its writes
        code, _, err = run_cli(["train", "--data", "ring", "--out", out, *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "is in use by")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
    assert run_cli(["train", "--data", "ring", "--out", out, *TINY_ARGS], capsys)[0] == 0


def test_a_killed_writer_leaves_a_stale_lock_that_is_taken_over(run_copy: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from ganforge.train.lock import RunLock; "
        "RunLock(Path(sys.argv[1])).acquire('test'); print('held', flush=True); time.sleep(60)"), str(run_copy)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked):
        ganforge.resume(run_copy, train__steps=6)
    holder.kill()
    holder.wait()
    assert f"process {holder.pid}" in (run_copy / ".lock").read_text()  # the dead holder's record is still there
    assert ganforge.resume(run_copy, train__steps=6).step == 6


# -- 3. divergence is caught for every family -----------------------------------------------------------------

@pytest.mark.parametrize("family", list(FAMILIES))
def test_divergence_stops_every_family_without_a_non_finite_tensor_on_disk(
        family: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    data = ["--data", "digits", "--model.arch", "dcgan", "--data.max_samples", "64"] \
        if family == "dcgan" else ["--data", "ring"]
    if "vector" not in FAMILIES[family].archs:  # image-only families
        data = ["--data", "digits", "--data.max_samples", "64"]
    if FAMILIES[family].image_conditioned:  # pairs (and, for srgan, its stages) as the family needs them
        data = ["--data", "digits", "--data.max_samples", "64",
                *(arg for key, value in family_data(family).items() for arg in (f"--{key}", str(value)))]
    code, _, err = run_cli(["train", "--family", family, *data, "--out", out, *TINY_ARGS, "--train.steps", "60",
                            "--train.checkpoint_every", "1", "--train.lr_d", "1e6", "--train.lr_g", "1e6"], capsys)
    assert_one_line_error(code, err, "at step", "training stopped", "lower train.lr_d")
    assert all_tensors_finite(out)
    strict_json_lines(out / "metrics.jsonl")


def test_a_checkpoint_holding_nan_is_never_written(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight[0, 0] = float("inf")
    with pytest.raises(ganforge.TrainingDiverged, match="nets.d.weight hold NaN or infinite"):
        save_checkpoint(tmp_path, 3, {"d": net}, {}, {"sampler": {"epoch": 0, "position": 0}})
    assert list(tmp_path.iterdir()) == []


def test_non_finite_values_are_valid_json_in_metrics_and_read_back(tmp_path: Path) -> None:
    from ganforge.train.logging import MetricsLogger

    path = tmp_path / "metrics.jsonl"
    logger = MetricsLogger(path, 0, 10, 8, progress=False)
    logger.emit({"step": 1, "eval/fid": float("nan"), "x": float("inf"), "y": 1.5})
    logger.close()
    assert strict_json_lines(path) == [{"step": 1, "eval/fid": None, "x": None, "y": 1.5,
                                        "nonfinite": {"eval/fid": "nan", "x": "inf"}}]
    record = read_metrics(path)[0]
    assert math.isnan(record["eval/fid"]) and record["x"] == math.inf and "nonfinite" not in record


# -- 4. the remedies a divergence names are accepted by resume ---------------------------------------------------

def test_resume_after_divergence_accepts_the_remedies_and_records_them(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", "--family", "vanilla", "--data", "ring", "--out", out, *TINY_ARGS, "--train.steps", "40",
            "--train.checkpoint_every", "2"]
    assert run_cli([*args, "--train.steps", "4"], capsys)[0] == 0
    code, _, err = run_cli(["resume", out, "--train.steps", "40", "--train.lr_d", "1e6", "--train.lr_g", "1e6"],
                           capsys)
    assert_one_line_error(code, err, "the last good checkpoint is")
    good = checkpoint_of(out)
    code, out_text, _ = run_cli(["resume", out, "--train.steps", "40", "--train.lr_d", "1e-4", "--train.lr_g",
                                 "1e-4", "--train.r1_gamma", "0.1", "--train.n_critic", "2"], capsys)
    assert code == 0 and "to step 40" in out_text
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["command"] for h in history] == ["train", "resume", "resume"]
    assert history[-1]["step"] == int(good.name.split("-")[1])
    assert history[-1]["changed"]["train.lr_d"] == {"from": 1e6, "to": 1e-4}
    assert history[-1]["changed"]["train.r1_gamma"] == {"from": 0.0, "to": 0.1}
    state = json.loads((checkpoint_of(out) / "state.json").read_text())
    assert {g["lr"] for o in state["optimizers"].values() for g in o["param_groups"]} == {1e-4}
    assert {"train.lr_g", "train.lr_d", "train.r1_gamma", "train.r2_gamma", "train.n_critic",
            "train.lr_decay"} <= set(RESUMABLE_KEYS)


# -- 5. a checkpoint without its optimiser state, a generator of NaNs -------------------------------------------

def test_a_checkpoint_missing_optimiser_tensors_is_refused(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = checkpoint_of(run_copy) / "model.safetensors"
    tensors = {k: v for k, v in load_file(str(model)).items() if not k.startswith("optim.")}
    save_file(tensors, str(model))
    code, _, err = run_cli(["resume", run_copy, "--train.steps", "8"], capsys)
    assert_one_line_error(code, err, str(checkpoint_of(run_copy)), "missing tensors optim.")


def test_a_generator_with_nan_weights_is_refused(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = run_copy / "generator.safetensors"
    tensors = load_file(str(weights))
    first = next(iter(tensors))
    tensors[first] = torch.full_like(tensors[first], float("nan"))
    save_file(tensors, str(weights))
    code, _, err = run_cli(["sample", run_copy, "--out", run_copy / "s.npy"], capsys)
    assert_one_line_error(code, err, str(weights), "NaN or infinite")
    assert not (run_copy / "s.npy").exists()


# -- 6. tampered run files: one line each ------------------------------------------------------------------

def _edit_state(mutate: Callable[[dict], object]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        path = checkpoint_of(run) / "state.json"
        state = json.loads(path.read_text())
        mutate(state)
        path.write_text(json.dumps(state))
    return apply


def _replace_state(content: object) -> Callable[[Path], None]:
    return lambda run: (checkpoint_of(run) / "state.json").write_text(json.dumps(content))


def _drop_tensor(name: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        model = checkpoint_of(run) / "model.safetensors"
        save_file({k: v for k, v in load_file(str(model)).items() if k != name}, str(model))
    return apply


STATE_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "no rng.torch": (_drop_tensor("rng.torch"), "missing tensors rng.torch"),
    "state is a list": (_replace_state([]), "it holds []; expected an object"),
    "only a format": (_replace_state({"format": 2}), "field 'step' is missing"),
    "no sampler": (_edit_state(lambda s: s.pop("sampler")), "field 'sampler' is missing"),
    "step is text": (_edit_state(lambda s: s.update(step="abc")), "field 'step' is 'abc'"),
    "bad numpy rng": (_edit_state(lambda s: s["rng"]["numpy"].__setitem__(1, [1, 2])), "field 'rng.numpy[1]'"),
    "not UTF-8": (lambda run: (checkpoint_of(run) / "state.json").write_bytes(b"\xff\xfe{"), "is damaged"),
}


@pytest.mark.parametrize("damage", list(STATE_DAMAGE))
def test_a_damaged_checkpoint_state_is_one_line(damage: str, run_copy: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    apply, fragment = STATE_DAMAGE[damage]
    apply(run_copy)
    code, _, err = run_cli(["resume", run_copy, "--train.steps", "8"], capsys)
    assert_one_line_error(code, err, str(checkpoint_of(run_copy)), fragment)


def test_a_folder_not_named_like_a_checkpoint_is_ignored(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(checkpoint_of(run_copy), run_copy / "checkpoints" / "step-abc")
    code, out, _ = run_cli(["resume", run_copy, "--train.steps", "6"], capsys)
    assert code == 0 and "to step 6" in out


@pytest.mark.parametrize(("content", "fragment"), [
    (b'{"step": 1}\n\xff\xfe\n{"step": 2}\n', "line 2 is not a metrics record"),
    (b'{"step": 1}\n5\n{"step": 2}\n', "line 2 is not a metrics record"),
])
def test_a_damaged_metrics_line_is_one_line(content: bytes, fragment: str, run_copy: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (run_copy / "metrics.jsonl").write_bytes(content)
    code, _, err = run_cli(["resume", run_copy, "--train.steps", "8"], capsys)
    assert_one_line_error(code, err, str(run_copy / "metrics.jsonl"), fragment)
    with pytest.raises(CheckpointError, match=fragment):
        ganforge.load(run_copy).metrics()


def test_a_folder_in_place_of_the_exported_generator_is_one_line(run_copy: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (run_copy / "generator.safetensors").unlink()
    (run_copy / "generator.safetensors").mkdir()
    code, _, err = run_cli(["sample", run_copy], capsys)
    assert_one_line_error(code, err, "exported generator", "damaged")
    code, _, err = run_cli(["resume", run_copy, "--train.steps", "8"], capsys)  # the export cannot be written
    assert_one_line_error(code, err, "generator.safetensors", "a folder stands where a file is expected")


EXPORT_DAMAGE: dict[str, tuple[Callable[[dict], object], str]] = {  # each edit mutates, or returns a replacement
    "a list": (lambda m: [], "it holds []"),
    "no net": (lambda m: m.pop("net"), "field 'net' is missing"),
    "no latent": (lambda m: m.pop("latent"), "field 'latent' is missing"),
    "no data": (lambda m: m.pop("data"), "field 'data' is missing"),
    "hidden is text": (lambda m: m["net"]["args"].update(hidden="x"), "argument 'hidden' is 'x'; expected int"),
    "cauchy latent": (lambda m: m["latent"].update(dist="cauchy"), "field 'latent.dist' is 'cauchy'"),
    "unknown net": (lambda m: m["net"].update(name="unet"), "field 'net.name' is 'unet'"),
}


@pytest.mark.parametrize("damage", list(EXPORT_DAMAGE))
def test_a_damaged_generator_json_is_one_line(damage: str, run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit, fragment = EXPORT_DAMAGE[damage]
    path = run_copy / "generator.json"
    meta = json.loads(path.read_text())
    result = edit(meta)
    path.write_text(json.dumps(result if isinstance(result, list) else meta))
    code, _, err = run_cli(["sample", run_copy], capsys)
    assert_one_line_error(code, err, fragment)


# -- 7. OS errors ------------------------------------------------------------------------------------------

def test_out_under_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(["train", "--data", "ring", "--out", tmp_path / "file" / "run", *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "file", "a part of the path is a file")


def test_out_under_a_pseudo_file_system_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["train", "--data", "ring", "--out", "/proc/ganforge-run", *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "/proc/ganforge-run")


def test_permission_denied_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as root in CI, where chmod cannot deny; the refusal is injected where the folder is made."""
    real_mkdir = Path.mkdir

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        if self.name == "locked":
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", denied)
    code, _, err = run_cli(["train", "--data", "ring", "--out", tmp_path / "locked", *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "Permission denied", "choose a writable --out")


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A small tmpfs of our own (root only): a real read-only or full file system."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("needs root and mount to make a real read-only or full file system")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_read_only_file_system_is_one_line_for_every_command(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "fs", "20m") as fs:
        run = fs / "run"
        assert run_cli(["train", "--data", "ring", "--out", run, *TINY_ARGS], capsys)[0] == 0
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        commands = [["train", "--data", "ring", "--out", fs / "other", *TINY_ARGS],
                    ["resume", run, "--train.steps", "8"], ["sample", run], ["eval", run, "--n", "50"]]
        for args in commands:
            code, _, err = run_cli(args, capsys)
            assert_one_line_error(code, err, "Read-only file system", "choose a writable --out")


def test_a_full_disk_stops_with_the_last_good_checkpoint_named(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "fs", "3m") as fs:
        run = fs / "run"
        args = [*TINY_ARGS, "--model.mlp_hidden", "160"]
        assert run_cli(["train", "--family", "vanilla", "--data", "ring", "--out", run, *args], capsys)[0] == 0
        filler = fs / "filler"
        with open(filler, "wb") as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        filler.write_bytes(filler.read_bytes()[: -400_000])  # room for logs, not for a checkpoint
        code, _, err = run_cli(["resume", run, "--train.steps", "8"], capsys)
        line = assert_one_line_error(code, err, "No space left on device", "the last good checkpoint is",
                                     "step-0000004", "a checkpoint needs about")
        assert "MiB free" in line
        code, _, err = run_cli(["sample", run, "--n", "20000", "--out", fs / "big.npy"], capsys)
        assert_one_line_error(code, err, "No space left on device")
        filler.unlink()
        assert ganforge.resume(run, train__steps=8).step == 8  # the earlier checkpoint was intact


# -- 8. Ctrl-C ---------------------------------------------------------------------------------------------

def test_ctrl_c_while_starting_exits_130_without_a_traceback(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "--data", "ring", "--out", tmp_path / "r"],
                             stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(0.3)  # importing torch takes longer than this
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "Traceback" not in err, err
    assert err.strip() == "interrupted while starting; nothing was written"
    assert not (tmp_path / "r").exists()


def test_ctrl_c_before_the_run_folder_exists_says_nothing_was_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ganforge.api.load_data", interrupted)
    code, _, err = run_cli(["train", "--data", "ring", "--out", tmp_path / "r", *TINY_ARGS], capsys)
    assert code == 130 and err.strip() == "interrupted before training started; nothing was written"
    assert "resume" not in err and not (tmp_path / "r").exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_a_kill_during_training_saves_a_checkpoint_and_says_so(tmp_path: Path, stop: int) -> None:
    out = tmp_path / "r"
    child = subprocess.Popen([sys.executable, "-m", "ganforge", "train", "--data", "ring", "--out", out,
                              "--train.steps", "100000", "--train.progress", "false", "--train.log_every", "10"],
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").is_file() or not (out / "metrics.jsonl").read_text():
        assert time.time() < deadline and child.poll() is None
        time.sleep(0.2)
    child.send_signal(stop)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 128 + stop and "Traceback" not in err, err  # 130 for Ctrl-C, 143 for a kill
    saved = list_checkpoints(out / "checkpoints")
    assert len(saved) == 1 and f"checkpoint '{saved[0]}' was written" in err and "ganforge resume" in err


# -- 9. the command line ----------------------------------------------------------------------------------------

def test_command_line_mistakes_are_one_line(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["train", "--data", "ring", "--model.arch", "transformer"], "'model.arch' got 'transformer'; expected one of"),
        (["sample", run_copy, "--device", "cuda"], "has no CUDA GPU"),
        (["sample", run_copy, "--device", "tpu"], "--device got 'tpu'; expected auto, cpu, cuda or cuda:N"),
        (["eval", run_copy, "--features", "bogus"], "unknown feature extractor 'bogus'"),
        (["eval", run_copy, "--features", "mnist"], "holds vectors"),
        (["train", "--steps", "10"], "unrecognized arguments: --steps; config keys are dotted"),
        (["sample", run_copy, "--n", "abc"], "argument --n: invalid int value: 'abc' (see 'ganforge sample --help')"),
        (["sample", run_copy, "--format", "jpg"], "argument --format: invalid choice: 'jpg'"),
        ([], "the following arguments are required: command"),
        (["fly"], "invalid choice: 'fly'"),
    ]
    if torch.cuda.is_available():
        cases = [c for c in cases if "CUDA" not in c[1]]
    for args, fragment in cases:
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, fragment)


def test_a_folder_of_unreadable_images_is_one_line_not_a_warning_too(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"not an image")
    code, _, err = run_cli(["train", "--data", folder, "--out", tmp_path / "r", *TINY_ARGS], capsys)
    assert_one_line_error(code, err, "none of its 2 image files could be read", "a.png")


# -- 10. leftovers and file modes ---------------------------------------------------------------------------

def test_temporaries_of_killed_writers_are_removed_on_resume(run_copy: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = run_copy / "samples" / f".step-0000004.png.{dead.pid}.abcd1234.tmp"
    live = run_copy / "samples" / ".step-0000004.png.1.abcd1234.tmp"  # pid 1 is alive: a writer at work
    for path in (stale, live):
        path.write_bytes(b"half")
    ganforge.resume(run_copy, train__steps=6)
    assert not stale.exists() and live.exists()


def test_run_files_are_readable_by_the_group(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        out = tmp_path / "r"
        ganforge.train({**TINY, "data.source": "digits", "model.family": "dcgan"}, out=out)
    finally:
        os.umask(previous)
    files = [out / "config.toml", out / "generator.json", out / "generator.safetensors", out / "metrics.jsonl",
             *(out / "samples").iterdir(), *checkpoint_of(out).iterdir()]
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o644"}


def test_sample_into_a_missing_folder_says_it_created_it(run_copy: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new" / "deeper" / "s.npy"
    code, out, _ = run_cli(["sample", run_copy, "--out", target], capsys)
    assert code == 0 and f"created folder {target.parent}" in out and np.load(target).shape == (64, 2)


# -- acceptance: a SIGKILL soak -------------------------------------------------------------------------------

KILL_ON_WRITE_TO = """
import os, signal, sys, threading
target, delay = sys.argv[1], float(sys.argv[2])
def hook(event, args):  # SIGKILL `delay` s after the first write-open of a path containing `target`
    if event == "open" and target in str(args[0]) and not getattr(hook, "armed", False):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR):
            hook.armed = True
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
sys.addaudithook(hook)
from ganforge.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_twenty_sigkills_at_random_moments_lose_nothing_but_recent_steps(tmp_path: Path) -> None:
    """Kills during train and resume, at random times and while a checkpoint or metrics.jsonl is being written;
    after each, resume and sample succeed and metrics.jsonl parses line by line."""
    rng = np.random.default_rng(0)
    out = tmp_path / "run"
    args = ["--data", "ring", "--family", "vanilla", "--train.progress", "false", "--train.log_every", "1",
            "--train.checkpoint_every", "3", "--train.sample_every", "5", "--model.mlp_hidden", "32"]
    targets = ["checkpoints/.partial-", "metrics.jsonl", "generator.safetensors", "samples/"]

    def cli(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ganforge", *argv], capture_output=True, text=True,
                              timeout=timeout)

    assert cli(["train", *args, "--out", str(out), "--train.steps", "6"]).returncode == 0
    steps = 6
    for kill in range(20):
        steps += 400
        command = ["resume", str(out), "--train.steps", str(steps)] if kill % 5 else \
            ["train", *args, "--out", str(out), "--overwrite", "--train.steps", str(steps)]
        if kill % 2:  # at a random moment
            child = subprocess.Popen([sys.executable, "-m", "ganforge", *command], stderr=subprocess.DEVNULL)
            time.sleep(float(rng.uniform(1.0, 4.0)))
            child.kill()
        else:  # just after it starts writing a checkpoint, metrics.jsonl (the resume rewrite), G's export or a grid
            target = targets[(kill // 2) % len(targets)]
            child = subprocess.Popen([sys.executable, "-c", KILL_ON_WRITE_TO, target, str(rng.uniform(0, 0.01)),
                                      *command], stderr=subprocess.DEVNULL)
        assert child.wait(timeout=300) == -signal.SIGKILL, f"kill {kill} came too late: the command had finished"
        if command[0] == "train" and not list_checkpoints(out / "checkpoints"):
            # killed before a fresh run's first checkpoint: nothing to resume, but nothing damaged either
            assert cli(["train", *args, "--out", str(out), "--overwrite", "--train.steps", "6"]).returncode == 0
        at = int(list_checkpoints(out / "checkpoints")[-1].name.split("-")[1])
        resumed = cli(["resume", str(out), "--train.steps", str(at + 2)])
        assert resumed.returncode == 0, (kill, resumed.stderr)
        sampled = cli(["sample", str(out), "--n", "16", "--out", str(tmp_path / "s.npy")])
        assert sampled.returncode == 0, (kill, sampled.stderr)
        records = strict_json_lines(out / "metrics.jsonl")
        assert [r["step"] for r in records if "warning" not in r] == sorted({r["step"] for r in records
                                                                              if "warning" not in r})
        steps = at + 2
