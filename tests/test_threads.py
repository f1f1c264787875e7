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
from ganforge import threads as threads_module
from ganforge.cli import main
from ganforge.errors import ConfigError
from ganforge.threads import (
    BUSY_ABOVE,
    LoadFollower,
    choose_threads,
    other_processes_load,
    parse_threads,
    threads_for,
    usable_cores,
)
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


class FakeClock:
    """/proc/stat's busy seconds, this process's CPU seconds and the wall clock, advanced by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = self.busy = self.own = 0.0
        monkeypatch.setattr(threads_module.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads_module, "_busy_seconds", lambda: self.busy)
        monkeypatch.setattr(threads_module, "_own_seconds", lambda: self.own)

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += seconds * own_cores
        self.busy += seconds * (own_cores + other_cores)


def test_auto_follows_the_load_after_two_looks_in_a_row_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    follower = LoadFollower(count=2, cores=2, interval=10.0, looks=2)
    clock.run(5, own_cores=2.0, other_cores=1.0)
    assert follower.poll() is None                   # not a full interval yet
    clock.run(5, own_cores=1.5, other_cores=0.9)
    assert follower.poll() is None                   # one look asks for 1 thread: not enough
    clock.run(10, own_cores=1.5, other_cores=0.2)
    assert follower.poll() is None                   # the next disagrees (a passing blip)
    for expected in (None, 1):                       # a neighbour trains: two looks ask for 1 thread
        clock.run(10, own_cores=1.0, other_cores=0.9)
        assert follower.poll() == expected
    clock.run(10, own_cores=1.0, other_cores=1.0)
    assert follower.poll() is None and follower.count == 1  # no change to report
    for expected in (None, 2):                       # the neighbour stops: all cores again
        clock.run(10, own_cores=1.0, other_cores=0.05)
        assert follower.poll() == expected


def test_a_conv_run_under_auto_drops_to_one_thread_while_a_neighbour_trains(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(monkeypatch)
    monkeypatch.setattr(threads_module, "RECHECK_SECONDS", 10.0)
    monkeypatch.setattr(threads_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads_module, "_cpus_in_proc_stat", lambda: 2)
    monkeypatch.setattr(trainer_module, "usable_cores", lambda: 2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(trainer_module, "choose_threads", lambda setting, convolutional: 2)
    apply = []
    monkeypatch.setattr(trainer_module, "apply_threads", apply.append)
    original_step = trainer_module.Trainer._train_one_step

    def step_beside_a_neighbour(self: trainer_module.Trainer, logger: object) -> None:
        original_step(self, logger)
        clock.run(10, own_cores=1.0, other_cores=1.0)  # every step: 10 s beside a busy process

    monkeypatch.setattr(trainer_module.Trainer, "_train_one_step", step_beside_a_neighbour)
    out = tmp_path / "r"
    ganforge.train(tiny(data__source="digits", model__family="dcgan", train__steps=4, train__log_every=1,
                        train__threads="auto"), out=out)
    assert apply == [2, 1]  # chosen at the start, then one thread from the second look on
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["threads"] for r in records if "threads" in r] == [2, 1, 1, 1]
    state = json.loads((out / "checkpoints" / "step-0000004" / "state.json").read_text())
    assert state["threads"] == 1  # a resume starts from the count in use
    apply.clear()
    ganforge.train(tiny(data__source="digits", model__family="dcgan", train__steps=4, train__threads=2),
                   out=tmp_path / "fixed")
    assert apply == [2]  # a fixed count stays
