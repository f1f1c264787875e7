"""The thread policy: fixed counts, `auto` by net type and free cores, one count per run, reused on resume."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.threads import BUSY_ABOVE, choose_threads, other_processes_load, parse_threads, threads_for, usable_cores
from ganforge.train import trainer as trainer_module

from conftest import tiny

CORES = usable_cores()
multi_core = pytest.mark.skipif(CORES < 2, reason="needs at least 2 cores")


def test_threads_for_keeps_the_cores_other_processes_leave_free() -> None:
    assert threads_for(0.0, 2, 0.4) == 2
    assert threads_for(0.3, 2, 0.4) == 2   # a little background work does not cost a thread
    assert threads_for(0.5, 2, 0.4) == 1
    assert threads_for(1.9, 2, 0.4) == 1   # never fewer than one
    assert threads_for(1.3, 16, 0.4) == 15
    assert threads_for(2.5, 16, 0.4) == 13


@pytest.mark.parametrize("value", [0, -1, CORES + 1, "many"])
def test_a_thread_count_outside_1_to_the_cores_is_refused(value: object, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=f"expected auto or a number of threads from 1 to {CORES}"):
        parse_threads(value)  # type: ignore[arg-type]
    code = main(["train", "--data", "ring", "--out", str(tmp_path / "r"), "--train.threads", str(value)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "'train.threads' got" in err
    assert not (tmp_path / "r").exists()


def test_a_fixed_count_is_applied_and_logged(tmp_path: Path) -> None:
    previous = torch.get_num_threads()
    try:
        ganforge.train(tiny(data__source="ring", train__threads=1), out=tmp_path / "r")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)
    records = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert {r["threads"] for r in records if "threads" in r} == {1}
    history = json.loads((tmp_path / "r" / "history.jsonl").read_text().splitlines()[0])
    assert history["threads"] == 1


BUSY = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"


def test_auto_gives_mlp_runs_one_thread() -> None:
    assert choose_threads("auto", convolutional=False) == 1


@multi_core
@pytest.mark.parametrize(("setting", "expected"), [("1", 1), (str(CORES + 4), CORES), ("", CORES), ("x", CORES)])
def test_auto_stays_within_omp_num_threads(setting: str, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Processes started side by side with OMP_NUM_THREADS=1 stay one-thread (a conv run would otherwise take
    every core it saw idle in its first 50 ms, and two such runs oversubscribe the machine)."""
    monkeypatch.setenv("OMP_NUM_THREADS", setting)
    monkeypatch.setattr("ganforge.threads.other_processes_load", lambda cores: 0.0)
    assert choose_threads("auto", convolutional=True) == expected
    assert choose_threads(1, convolutional=True) == 1


@multi_core
def test_auto_gives_conv_runs_the_cores_other_processes_leave_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    load = other_processes_load(CORES)
    if load is None:
        pytest.skip("/proc/stat does not describe this process's cores (a container on a bigger host)")
    if load <= BUSY_ABOVE:  # an idle machine (other work beside the suite would rightly get fewer threads)
        assert choose_threads("auto", convolutional=True) == CORES
    busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(CORES - 1)]
    try:
        time.sleep(0.3)
        assert choose_threads("auto", convolutional=True) == 1
    finally:
        for child in busy:
            child.kill()
            child.wait()


def test_a_resume_keeps_the_count_its_checkpoint_was_trained_with(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="digits", model__family="dcgan", train__threads=1), out=out)
    ganforge.resume(out, train__steps=6, train__threads="auto")

    def must_not_choose(*args: object, **kwargs: object) -> int:
        raise AssertionError("auto chose again instead of reusing the recorded count")

    monkeypatch.setattr(trainer_module, "choose_threads", must_not_choose)
    ganforge.resume(out, train__steps=8)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["threads"] for h in history] == [1, 1, 1]
    state = json.loads((out / "checkpoints" / "step-0000008" / "state.json").read_text())
    assert state["threads"] == 1
