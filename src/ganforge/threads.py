"""How many intra-op threads torch may use: a fixed number, or `auto`, chosen once per run by measured rules.

Measured on a 2-core machine (BENCHMARKS.md, "Under load"):
- Conv nets gain 1.4-1.9x from a second thread when the machine is idle, and keep most of it beside other
  work, since each parallel region is long.
- MLP nets (2-D points, small vectors) gain -5..+17% from it idle, within the noise, but their thousands of
  tiny parallel regions each wait at an OpenMP barrier for a core another process holds: beside a busy
  process a 2-thread MLP step ran 2-5x slower than a 1-thread one, and it slowed its neighbour too.
- A conv run that took both cores while alone and kept them when a second training started slowed to 11-27% of
  its speed: its second thread waits on the core the neighbour holds.
So `auto` gives MLP-only runs one thread, and conv runs the cores that other processes leave free at the
start (read from /proc/stat over 50 ms), then follows the load (`LoadFollower`): every RECHECK_SECONDS it reads
what other processes used since the last look, and when two looks in a row ask for another count it switches
(one thread while a neighbour trains, all cores again once it stops). The count in use is logged with every
metrics record and checkpointed; a resume starts from it. Results can differ in their last bits between thread
counts (tiny conv nets and R3GAN's ResNets do): a run whose count never changed is bit-exact, and `--train.threads
N` pins the count for bit-exact reproductions on a shared machine. `auto` never exceeds OMP_NUM_THREADS where that
is set (one-thread processes side by side stay one-thread).
"""

from __future__ import annotations

import math
import os
import time

from ganforge.errors import ConfigError

FIRST_LOOK_SECONDS = 0.05
BUSY_ABOVE = 0.4         # a core counts as taken when other processes use more than this much of it
RECHECK_SECONDS = 10.0   # auto re-reads the load this often (wall time, between steps)
LOOKS_TO_SWITCH = 2      # ... and changes the count only when this many looks in a row ask for the same other count


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota if there is one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max") as handle:
            quota, period = handle.read().split()
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def parse_threads(value: int | str, cores: int | None = None) -> int | None:
    """train.threads as a count (None for auto); refuses 0, negatives, words and more than the machine's cores."""
    cores = cores or usable_cores()
    if value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= cores:
        return value
    raise ConfigError(f"config key 'train.threads' got {value!r}; expected auto or a number of threads from 1 to "
                      f"{cores} (the cores this process may use)")


def threads_for(others: float, cores: int, margin: float = BUSY_ABOVE) -> int:
    """All cores but those other processes keep busy (a core counts as busy beyond `margin` of it); at least 1."""
    return cores if others <= margin else max(1, cores - math.ceil(others - margin))


def _cpus_in_proc_stat() -> int:
    try:
        with open("/proc/stat") as handle:
            return sum(1 for line in handle if line.startswith("cpu") and line[3:4].isdigit())
    except OSError:
        return 0


def _busy_seconds() -> float:
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def other_processes_load(cores: int, seconds: float = FIRST_LOOK_SECONDS) -> float | None:
    """Cores other processes keep busy, over `seconds` of this process waiting; None where /proc/stat counts
    other CPUs than this process may use (a container on a bigger host would see the host's load)."""
    if _cpus_in_proc_stat() != cores:
        return None
    before = _mark()
    time.sleep(seconds)
    return _others_between(before, _mark())


def _own_seconds() -> float:
    return sum(os.times()[:2])


Mark = tuple[float, float, float]  # wall clock, the machine's busy CPU seconds, this process's CPU seconds


def _mark() -> Mark:
    return time.monotonic(), _busy_seconds(), _own_seconds()


def _others_between(before: Mark, after: Mark) -> float:
    """Cores other processes kept busy between two marks (all busy time but this process's own)."""
    wall = after[0] - before[0]
    return max(0.0, (after[1] - before[1]) - (after[2] - before[2])) / wall if wall > 0 else 0.0


class LoadFollower:
    """auto's thread count for a conv run, kept in step with what other processes use (module docstring)."""

    def __init__(self, count: int, cores: int, interval: float | None = None, looks: int | None = None) -> None:
        self.count, self.cores = count, cores
        self.interval = RECHECK_SECONDS if interval is None else interval
        self.looks = LOOKS_TO_SWITCH if looks is None else looks
        self._mark = _mark()
        self._asked: list[int] = []

    def poll(self) -> int | None:
        """The new count when it should change now, else None; reads /proc/stat at most once per interval."""
        if time.monotonic() - self._mark[0] < self.interval:
            return None
        before, self._mark = self._mark, _mark()
        others = _others_between(before, self._mark)
        self._asked = [*self._asked, threads_for(others, self.cores)][-self.looks:]
        wanted = self._asked[0]
        if len(self._asked) < self.looks or wanted == self.count or any(a != wanted for a in self._asked):
            return None
        self.count = wanted
        return wanted


def load_follower(setting: int | str, count: int, convolutional: bool, cores: int | None = None
                  ) -> LoadFollower | None:
    """A LoadFollower where auto may change a run's count: a conv run, several usable cores (within
    OMP_NUM_THREADS) and a /proc/stat that describes them; None otherwise."""
    usable = cores or usable_cores()
    allowed = min(usable, environment_cap() or usable)
    if setting != "auto" or not convolutional or allowed == 1 or _cpus_in_proc_stat() != usable:
        return None
    return LoadFollower(count, allowed)


def environment_cap() -> int | None:
    """OMP_NUM_THREADS when it is set to a positive number: the user (or a benchmark running processes side by
    side) has said how many threads a process may use, and `auto` stays within it."""
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def choose_threads(setting: int | str, convolutional: bool, cores: int | None = None) -> int:
    """The count for a run: a fixed setting as given; auto by the rules in this module's docstring, never above
    OMP_NUM_THREADS when that is set."""
    cores = cores or usable_cores()
    fixed = parse_threads(setting, cores)
    if fixed is not None:
        return fixed
    cap = environment_cap()
    if cap is not None:
        cores = min(cores, cap)
    if not convolutional or cores == 1:
        return 1
    others = other_processes_load(cores)
    return cores if others is None else threads_for(others, cores)


def apply_threads(count: int) -> None:
    import torch  # here, so that config validation can use this module without loading torch

    torch.set_num_threads(count)
