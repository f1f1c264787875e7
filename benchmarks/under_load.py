"""Speed beside other work: steps/s of three workloads alone, beside one and beside two other trainings of the
same workload with default settings (started and stopped by this script), for 1 thread, 2 threads and auto.

Each measured run is a `ganforge train` process; its speed is the mean of metrics.jsonl's images/s over a window
that opens `--settle` seconds after its first record (start-up, data loading, warm-up and auto's switches left
out), divided by the batch size. The competitors are started first and given time to reach their stride.
`--pair` instead times `make run`'s training alone and then twice at once (two experiments side by side),
start-up included.

    python benchmarks/under_load.py                       # the full table (about 80 minutes)
    python benchmarks/under_load.py --workloads grid --seconds 20 --repeats 1
    python benchmarks/under_load.py --pair                # make run's training alone, then two at once
    python benchmarks/under_load.py --quick               # a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--train.progress", "false", "--train.diagnostics", "false", "--train.sample_every", "1000000",
         "--train.checkpoint_every", "1000000"]


@dataclass(frozen=True)
class Workload:
    label: str
    args: tuple[str, ...]
    batch: int
    log_every: int


WORKLOADS = {
    "grid": Workload("2-D recommended recipe (grid)", ("--data", "grid"), 512, 100),
    "mnist": Workload("make run's DCGAN (MNIST, 28 px)", (str(ROOT / "configs" / "mnist_dcgan.toml"),), 64, 10),
    "dcgan64": Workload("DCGAN at 64 px (MNIST resized)",
                        ("--family", "dcgan", "--data", "mnist", "--data.resolution", "64"), 64, 2),
}


def start(workload: Workload, out: Path, threads: str, steps: int = 10**7) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "ganforge", "train", *workload.args, "--out", str(out), "--overwrite",
               "--train.steps", str(steps), "--train.log_every", str(workload.log_every), *QUIET]
    if threads != "default":
        command += ["--train.threads", threads]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def records(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [r for r in (json.loads(line) for line in path.read_text().splitlines() if line) if "images_per_s" in r]


def measure(workload: Workload, threads: str, competitors: int, seconds: float, folder: Path, settle: float
            ) -> tuple[float, int]:
    """(steps/s of the measured run, the thread count it used) beside `competitors` default trainings, over
    `seconds` that begin `settle` seconds after its first record (time for auto's load followers to switch)."""
    scratch = Path(tempfile.mkdtemp(dir=folder))  # a fresh folder: no earlier run's metrics to misread
    others = [start(workload, scratch / f"competitor-{i}", "default") for i in range(competitors)]
    try:
        if others:
            deadline = time.time() + 120
            while any(not records(scratch / f"competitor-{i}") for i in range(competitors)):
                if time.time() > deadline:
                    raise RuntimeError("a competitor did not start logging within 120 s")
                time.sleep(0.5)
        measured = start(workload, scratch / "measured", threads)
        try:
            deadline = time.time() + 300
            while not records(scratch / "measured"):  # its first record: start-up is over
                if time.time() > deadline or measured.poll() is not None:
                    raise RuntimeError(f"the measured run did not start logging ({workload.label})")
                time.sleep(0.2)
            time.sleep(settle)
            skip = max(1, len(records(scratch / "measured")))
            time.sleep(seconds)
        finally:
            stop([measured])
    finally:
        stop(others)
    window = records(scratch / "measured")[skip:] or records(scratch / "measured")[-1:]
    rate = statistics.fmean(r["images_per_s"] for r in window) / workload.batch
    return rate, int(window[-1].get("threads", 0))


def table(names: list[str], settings: list[str], loads: list[int], seconds: float, repeats: int, settle: float
          ) -> None:
    print(f"steps/s (mean of {repeats} x {seconds:.0f} s windows, each {settle:.0f} s after the run's first "
          "record); in brackets: share of the same setting's idle "
          "speed; auto's chosen thread count after the slash", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for name in names:
            workload = WORKLOADS[name]
            rates: dict[tuple[str, int], float] = {}
            chosen: dict[tuple[str, int], int] = {}
            for repeat in range(repeats):
                for load in loads:
                    order = settings if repeat % 2 == 0 else settings[::-1]  # alternate, so drift spreads evenly
                    for setting in order:
                        rate, threads = measure(workload, setting, load, seconds, scratch, settle)
                        rates[setting, load] = rates.get((setting, load), 0.0) + rate / repeats
                        chosen[setting, load] = threads
            print(f"\n{workload.label}")
            print("| threads | " + " | ".join(["alone" if n == 0 else f"beside {n}" for n in loads]) + " |")
            print("|---|" + "---|" * len(loads))
            for setting in settings:
                cells = []
                for load in loads:
                    share = rates[setting, load] / rates[setting, loads[0]]
                    label = f"{rates[setting, load]:.2f}" + (f" ({share:.0%})" if load else "")
                    cells.append(label + (f" /{chosen[setting, load]}" if setting == "auto" else ""))
                print(f"| {setting} | " + " | ".join(cells) + " |")
            for load in loads:
                fixed = [rates[s, load] for s in settings if s != "auto"]
                if "auto" in settings and fixed:
                    where = "alone" if load == 0 else f"beside {load}"
                    print(f"  auto vs the better fixed count, {where}: {rates['auto', load] / max(fixed):.2f}",
                          flush=True)


def pair(seconds_limit: float) -> None:
    """make run's training alone, then two copies at once (each in its own folder), wall time each."""
    recipe = str(ROOT / "configs" / "mnist_dcgan.toml")

    def run_make_run(out: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "ganforge", "train", recipe, "--out", str(out), "--overwrite",
                                 "--train.progress", "false"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                cwd=ROOT)

    with tempfile.TemporaryDirectory() as folder:
        began = time.time()
        alone = run_make_run(Path(folder) / "alone")
        alone.wait(timeout=seconds_limit)
        idle = time.time() - began
        print(f"make run's training alone: {idle:.0f} s", flush=True)
        began = time.time()
        both = [run_make_run(Path(folder) / f"pair-{i}") for i in range(2)]
        times = []
        for process in both:
            process.wait(timeout=seconds_limit)
            times.append(time.time() - began)
        print(f"two at once: {times[0]:.0f} s and {times[1]:.0f} s ({max(times) / idle:.2f}x the idle time)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    parser.add_argument("--threads", default="1,2,auto", help="settings to compare (numbers or auto)")
    parser.add_argument("--loads", default="0,1,2", help="how many competitors (comma list)")
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window per cell")
    parser.add_argument("--repeats", type=int, default=2, help="windows per cell (alternating order)")
    parser.add_argument("--settle", type=float, default=25.0,
                        help="seconds after the measured run's first record before its window opens (auto's load "
                             "followers switch after two looks 10 s apart)")
    parser.add_argument("--pair", action="store_true", help="time make run's training alone and two at once")
    parser.add_argument("--quick", action="store_true", help="one workload, short windows: a smoke test")
    args = parser.parse_args()
    if args.settle < 0 or args.seconds <= 0:
        parser.error(f"--settle must be >= 0 and --seconds > 0 (got {args.settle} and {args.seconds})")
    if args.pair:
        pair(seconds_limit=4 * 3600)
        return
    if args.quick:
        args.workloads, args.threads, args.loads, args.seconds, args.repeats = "grid", "auto", "0,1", 2.0, 1
        args.settle = 0.0
    table(args.workloads.split(","), args.threads.split(","), [int(n) for n in args.loads.split(",")],
          args.seconds, args.repeats, args.settle)


if __name__ == "__main__":
    main()
