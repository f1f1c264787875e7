"""The `ganforge` commands (train, resume, sample, eval, classify, translate, upscale, report, list): user errors
print one line and exit with status 2."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import torch

from ganforge.api import Run, conditional_classes, resume_with, save_array, train_resolved
from ganforge.conditions import GRID_COLUMNS, grid_labels
from ganforge.config import Overrides, coerce, from_overrides, parse_cli_overrides
from ganforge.data import BUILTIN, load_data
from ganforge.data.splits import HELD_OUT_PER_CLASS, effective_split, has_official_split
from ganforge.errors import GanforgeError, TrainingInterrupted, describe_os_error
from ganforge.evaluate import (
    ALL_METRICS,
    PACGAN_SAMPLES,
    REAL_SPLITS,
    Evaluator,
    format_table,
    plan,
    timed,
    write_result,
)
from ganforge.families import FAMILIES
from ganforge.grid import image_grid, save_png, scatter_plot
from ganforge.nets import NETS
from ganforge.recipes import RECOMMENDED, list_recipes, load_user_overrides, resolve
from ganforge.threads import apply_threads, choose_threads

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UsageError(GanforgeError):
    """The command line itself is wrong (unknown option, missing argument, bad value)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one UsageError line instead of usage + exit."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments"):
            message += "; config keys are dotted, e.g. --train.steps 2000"
        raise UsageError(f"{message} (see '{self.prog} --help')")


def split_dotted(argv: list[str]) -> tuple[list[str], list[str]]:
    """Separate dotted config overrides (--train.steps 10) from the subcommand's own options."""
    own, dotted = [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg[2:].split("=", 1)[0]
        if arg.startswith("--") and "." in name:
            dotted.append(arg)
            if "=" not in arg and i + 1 < len(argv):
                dotted.append(argv[i + 1])
                i += 1
        else:
            own.append(arg)
        i += 1
    return own, dotted


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="ganforge", description=__doc__, allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a GAN (override any config key: --train.steps 2000)",
                                allow_abbrev=False)
    train.add_argument("recipe", nargs="?", help="a TOML recipe (path or name in configs/)")
    train.add_argument("--family", help="GAN family (ganforge list); default: the recipe's, or recommended")
    train.add_argument("--data", help="built-in data set, image folder or .npy/.npz file")
    train.add_argument("--seed", help="random seed (same seed, same result on CPU)")
    train.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    train.add_argument("--out", help="run folder (default: runs/<family>-<data>)")
    train.add_argument("--overwrite", action="store_true", help="replace a run already in --out")

    resume = commands.add_parser("resume", help="continue a run from its newest checkpoint", allow_abbrev=False)
    resume.add_argument("run", help="run folder")
    resume.add_argument("--device", help="auto | cpu | cuda | cuda:N")

    sample = commands.add_parser("sample", help="draw samples from a run's generator", allow_abbrev=False)
    sample.add_argument("run", help="run folder")
    sample.add_argument("--n", type=int, default=None,
                        help="number of samples (default 64; a class-conditional run: 8 per class, a row each)")
    sample.add_argument("--class", dest="label", default=None,
                        help="class-conditional runs: the class to draw, by index or name (e.g. 7 or seven)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    sample.add_argument("--out", help="output file (default: <run>/samples/sample-seed<seed>.<format>)")
    sample.add_argument("--format", choices=("png", "npy"), default=None,
                        help="png grid (scatter for points) or npy array; default from --out's suffix, else png")
    sample.add_argument("--device", default="cpu", help="device to sample on (default cpu)")
    sample.add_argument("--threads", default="auto", help="CPU threads: auto (the default) or N")
    sample.add_argument("--interpolate", type=int, default=None, metavar="K",
                        help="a latent walk through K random latents instead of samples: --out walk.gif (animated, "
                             "--n walks side by side) or walk.png (a row per walk)")
    sample.add_argument("--frames", type=int, default=8, help="latent walk: frames from one key latent to the next")
    sample.add_argument("--caption", action="store_true", help="a caption line over the picture (step, family, data)")

    evaluate = commands.add_parser("eval", help="score a run: FID, KID, IS, precision/recall, density/coverage, modes",
                                   allow_abbrev=False)
    evaluate.add_argument("run", help="run folder")
    evaluate.add_argument("--metrics", default="auto",
                          help=f"comma list of {', '.join(ALL_METRICS)}; image-to-image runs (pix2pix, srgan): "
                               "psnr, ssim, fid, kid, labels; cyclegan: labels, fid, kid (default: by kind of run "
                               "and data)")
    evaluate.add_argument("--features", default="auto",
                          help="comma list of inception, mnist, fashion-mnist (default: Inception + the data set's "
                               "own classifier)")
    evaluate.add_argument("--real-split", default=None,
                          help="real images to score against: train (the run's training data, the default), test "
                               "(its data set's held-out split, e.g. Fashion-MNIST's 10,000 test images; written to "
                               "eval/step-N-test.json), or test,train for both from one set of sample features")
    evaluate.add_argument("--n", type=int, default=None,
                          help="generated samples (default 10,000 for images; 2,500 for mixtures)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    evaluate.add_argument("--device", default="cpu", help="device for G and the feature networks (default cpu)")
    evaluate.add_argument("--threads", default="auto", help="CPU threads: auto (the cores other work leaves free) or N")

    classify = commands.add_parser("classify", help="apply a semi-supervised run's classifier to data: accuracy and "
                                   "confusion matrix, or predictions", allow_abbrev=False)
    classify.add_argument("run", help="run folder of a --family sgan run")
    classify.add_argument("--data", help="data source: built-in name, folder or .npy/.npz (default: the run's own, "
                          "its test split where it has one)")
    classify.add_argument("--out", help="write predictions to this CSV file")

    translate = commands.add_parser("translate", help="apply an image-to-image run (pix2pix, cyclegan) to image files",
                                    allow_abbrev=False)
    translate.add_argument("run", help="run folder of an image-to-image run")
    translate.add_argument("inputs", nargs="+", help="image files, folders or globs ('photos/*.png')")
    translate.add_argument("--out", required=True, help="output folder (same file names, .png), or one .png file")
    translate.add_argument("--direction", choices=("a2b", "b2a"), default="a2b",
                           help="a2b (input to target domain; the only direction of paired runs) or b2a "
                                "(cyclegan: data.target's domain back to data.source's)")
    translate.add_argument("--device", default="cpu", help="device to run G on (default cpu)")
    translate.add_argument("--threads", default="auto", help="CPU threads: auto (the default) or N")

    upscale = commands.add_parser("upscale", help="apply a super-resolution run (srgan) to image files, tiled",
                                  allow_abbrev=False)
    upscale.add_argument("run", help="run folder of a super-resolution run (scale 2, 4 or 8)")
    upscale.add_argument("inputs", nargs="+", help="image files, folders or globs ('photos/*.png')")
    upscale.add_argument("--out", required=True, help="output folder (same file names, .png), or one .png file")
    upscale.add_argument("--tile", type=int, default=256, help="tiles of this many input px (default 256; 0: whole "
                         "images at once)")
    upscale.add_argument("--overlap", type=int, default=None, help="px of context around each tile, cropped off "
                         "again (default: G's receptive radius, so tiles leave no seam; 16 for a G without one)")
    upscale.add_argument("--device", default="cpu", help="device to run G on (default cpu)")
    upscale.add_argument("--threads", default="auto", help="CPU threads: auto (the default) or N")

    report = commands.add_parser("report", help="a self-contained HTML page of a run (curves, samples, warnings, "
                                 "evaluations), or of several runs side by side", allow_abbrev=False)
    report.add_argument("runs", nargs="+", help="run folder(s)")
    report.add_argument("--out", help="the .html file (default: RUN/report.html; required for several runs)")

    commands.add_parser("list", help="families, data sets, recipes and nets")
    return parser


def _train_overrides(args: argparse.Namespace, dotted: Overrides) -> Overrides:
    user = load_user_overrides(args.recipe, {})
    shorthands = {"model.family": args.family, "data.source": args.data, "train.seed": args.seed,
                  "train.device": args.device}
    user.update({key: coerce(key, value) for key, value in shorthands.items() if value is not None})
    user.update(dotted)
    return user


def command_train(args: argparse.Namespace, dotted: Overrides) -> int:
    config = resolve(_train_overrides(args, dotted))
    out = args.out or f"runs/{config.model.family}-{Path(config.data.source).name}"
    train_resolved(config, out, args.overwrite)
    print(f"trained {config.model.family} on {config.data.source} for {config.train.steps} steps; run folder: {out}")
    return 0


def command_resume(args: argparse.Namespace, dotted: Overrides) -> int:
    if args.device is not None:
        dotted["train.device"] = args.device
    run = resume_with(args.run, dotted)
    print(f"resumed {args.run} to step {run.step}")
    return 0


def command_sample(args: argparse.Namespace, dotted: Overrides) -> int:
    if dotted:
        raise GanforgeError(f"'ganforge sample' takes no config keys (got {next(iter(dotted))})")
    run = Run(args.run)
    apply_threads(choose_threads(coerce("train.threads", args.threads), convolutional=run.spec.kind == "image"))
    if args.interpolate is not None:
        return _sample_walk(run, args)
    fmt = args.format or (Path(args.out).suffix.lstrip(".") if args.out else "png")
    if fmt not in ("png", "npy"):
        raise GanforgeError(f"output '{args.out}' has suffix '.{fmt}'; use a .png or .npy file, or pass --format")
    out = Path(args.out) if args.out else run.dir.samples / f"sample-seed{args.seed}.{fmt}"
    condition = run.condition
    labels: Any = args.label
    columns = None
    if condition is not None and condition["kind"] == "label" and args.label is None and args.n is None:
        labels = grid_labels(condition["num_classes"]).tolist()  # the default grid: one row per class
        columns = GRID_COLUMNS
    n = args.n or (len(labels) if isinstance(labels, list) else 64)
    samples = run.sample(n, seed=args.seed, device=args.device, labels=labels)
    if args.out and not out.parent.exists():
        out.parent.mkdir(parents=True)
        print(f"created folder {out.parent}")
    caption = _caption(run) if args.caption else ""
    if fmt == "npy":
        save_array(samples, out)
    elif run.spec.kind == "image":
        save_png(image_grid(samples, columns=columns, caption=caption), out)
    else:
        save_png(scatter_plot(samples, caption=caption), out)
    what = f" of class {run.spec.class_names[run.class_index(args.label)]}" if args.label is not None else ""
    print(f"wrote {n} samples{what} to {out}")
    return 0


def _caption(run: Run) -> str:
    return f"step {run.step} · {run.config.model.family} · {run.config.data.source}"


def _sample_walk(run: Run, args: argparse.Namespace) -> int:
    from ganforge.apps.walk import latent_walk, save_walk

    out = Path(args.out) if args.out else run.dir.samples / f"walk-seed{args.seed}.gif"
    if out.suffix.lower() not in (".gif", ".png"):
        raise GanforgeError(f"output '{out}' has suffix '{out.suffix}'; a latent walk is written as .gif (animated) "
                            "or .png (a strip)")
    if args.format is not None:
        raise GanforgeError("--format applies to samples; a latent walk's format follows --out (.gif or .png)")
    frames = latent_walk(run, args.interpolate, args.frames, args.n, args.seed, args.label,
                         closed=out.suffix.lower() == ".gif")
    if not out.parent.exists():
        out.parent.mkdir(parents=True)
        print(f"created folder {out.parent}")
    save_walk(frames, out, _caption(run) if args.caption else "")
    print(f"wrote a latent walk of {frames.shape[1]} samples through {args.interpolate} key latents "
          f"({frames.shape[0]} frames) to {out}")
    return 0


def command_translate(args: argparse.Namespace, dotted: Overrides) -> int:
    from ganforge.apps.translate import find_inputs, translate_files

    if dotted:
        raise GanforgeError(f"'ganforge translate' takes no config keys (got {next(iter(dotted))})")
    run = Run(args.run)
    if not run.image_conditioned:
        raise GanforgeError(f"run '{args.run}' draws samples from noise; translate needs an image-to-image run "
                            "(--family pix2pix with --data.pairs or --data.target); use 'ganforge sample'")
    run.check_direction(args.direction)
    apply_threads(choose_threads(coerce("train.threads", args.threads), convolutional=True))
    inputs = [path for spec in args.inputs for path in find_inputs(spec)]
    written = list(translate_files(run, inputs, Path(args.out), device=args.device, direction=args.direction))
    print(f"translated {len(written)} image{'s' if len(written) != 1 else ''} to "
          f"{written[0] if len(written) == 1 else args.out}")
    return 0


def command_upscale(args: argparse.Namespace, dotted: Overrides) -> int:
    from ganforge.apps.translate import find_inputs
    from ganforge.apps.upscale import upscale_files

    if dotted:
        raise GanforgeError(f"'ganforge upscale' takes no config keys (got {next(iter(dotted))})")
    run = Run(args.run)
    apply_threads(choose_threads(coerce("train.threads", args.threads), convolutional=True))
    inputs = [path for spec in args.inputs for path in find_inputs(spec)]
    written = list(upscale_files(run, inputs, Path(args.out), tile=args.tile, overlap=args.overlap,
                                 device=args.device))
    print(f"upscaled {len(written)} image{'s' if len(written) != 1 else ''} x{run.condition['scale']} to "
          f"{written[0] if len(written) == 1 else args.out}")
    return 0


def command_report(args: argparse.Namespace, dotted: Overrides) -> int:
    from ganforge.apps.report import write_report

    if dotted:
        raise GanforgeError(f"'ganforge report' takes no config keys (got {next(iter(dotted))})")
    path = write_report(args.runs, args.out)
    print(path)
    return 0


def command_eval(args: argparse.Namespace, dotted: Overrides) -> int:
    if dotted:
        raise GanforgeError(f"'ganforge eval' takes no config keys (got {next(iter(dotted))})")
    apply_threads(choose_threads(coerce("train.threads", args.threads), convolutional=True))  # feature nets
    splits = real_splits(args.real_split)
    run = Run(args.run)
    if args.real_split is not None and run.image_conditioned:
        raise GanforgeError(f"--real-split applies to runs that draw from noise; '{args.run}' is an image-to-image "
                            "run, always scored on its data set's held-out images where it has them")

    if "b2a" in run.directions:  # two unpaired domains, both directions on held-out images (evaluate_domains.py)
        from ganforge.evaluate_domains import evaluate_domains
        from ganforge.evaluate_domains import summary as domains_summary

        record = evaluate_domains(run, args.metrics, args.features, args.n, args.device, args.seed, progress=True)
        write_result(path := run.dir.evals / f"step-{run.step:07d}.json", record)
        print(format_table(record["results"]))
        print(f"{domains_summary(record)}; written to {path}")
        return 0
    if run.image_conditioned:  # scored on held-out (input, target) pairs, beside a baseline (evaluate_pairs.py)
        from ganforge.evaluate_pairs import evaluate_pairs, summary

        record = evaluate_pairs(run, args.metrics, args.features, args.n, args.device, args.seed, progress=True)
        write_result(path := run.dir.evals / f"step-{run.step:07d}.json", record)
        print(format_table(record["results"]))
        print(f"{summary(record)}; written to {path}")
        return 0
    config = run.config
    data = load_data(config.data)
    classes = conditional_classes(config, data)
    evaluation = plan(config, data.spec.kind, args.metrics, args.features, classes)
    for text in evaluation.notes:
        print(f"note: {text}", file=sys.stderr)
    n = args.n or (10_000 if data.spec.kind == "image" else PACGAN_SAMPLES)
    if n < 2:
        raise GanforgeError(f"--n must be at least 2, got {n}")

    def generate(count: int, seed: int, labels: Any = None) -> Any:
        vectors = None
        if data.c is not None and run.condition is not None and run.condition["kind"] == "vector":
            rows = torch.randint(len(data.c), (count,), generator=torch.Generator().manual_seed(seed))
            vectors = data.c[rows]  # the condition vectors of random real samples
        return run.sample(count, seed=seed, device=args.device, labels=None if labels is None else labels.tolist(),
                          conditions=vectors)

    shared_fakes: dict[Any, Any] = {}  # one extraction of the samples, scored against each real split
    for real in splits:
        evaluator = Evaluator(config, data, evaluation, n, device=args.device, progress=True, num_classes=classes,
                              real=real, shared_fakes=shared_fakes)
        results, seconds = timed(functools.partial(evaluator, generate, args.seed))
        record = {"run": str(run.dir.root), "step": run.step, "seed": args.seed, "wall_time_s": round(seconds, 1),
                  "results": results, "protocol": evaluator.protocol()}
        path = run.dir.evals / f"step-{run.step:07d}{'' if real == 'train' else '-' + real}.json"
        write_result(path, record)
        print(format_table(results))
        against = evaluator.real_protocol()
        print(f"{n} generated samples at step {run.step} against {against['count']} real ({against['split']} split "
              f"of '{against['source']}'); {seconds:.1f} s; written to {path}")
    return 0


def real_splits(text: str | None) -> list[str]:
    """--real-split: 'train' (the default), 'test', or both as a comma list, in the order given."""
    splits = [part.strip() for part in (text or "train").split(",")]
    for split in splits:
        if split not in REAL_SPLITS:
            raise GanforgeError(f"--real-split: invalid choice: '{split}' (choose from {', '.join(REAL_SPLITS)}, or "
                                "both as test,train)")
    if len(set(splits)) < len(splits):
        raise GanforgeError(f"--real-split: '{text}' names a split twice")
    return splits


def command_classify(args: argparse.Namespace, dotted: Overrides) -> int:
    from ganforge.apps.classify import classify, confusion_table, write_predictions

    run = Run(args.run)
    config = run.config
    source = args.data or config.data.source
    overrides = {"data.source": source, "data.resolution": config.data.resolution,
                 "data.channels": config.data.channels, **dotted}
    has_test = source in HELD_OUT_PER_CLASS or has_official_split(source)
    if source == config.data.source and has_test and "data.split" not in dotted:
        overrides["data.split"] = "test"  # the run's own data set: score the digits it never trained on
    data = load_data(from_overrides({k: v for k, v in overrides.items() if v is not None}).data)
    result = classify(run.dir, data)
    if result.accuracy is not None:
        seen = (source == config.data.source
                and effective_split(source, config.data.split, config.data.labelled) == "all")
        print(f"accuracy {result.accuracy:.2%} on {len(data)} samples of '{source}'"
              + (" (test split)" if overrides.get("data.split") == "test" else "")
              + (" - note: this run trained on all of them (data.split all), so this is not a held-out score"
                 if seen else ""))
        print(confusion_table(result))
    if args.out:
        write_predictions(result, Path(args.out))
        print(f"wrote {len(data)} predictions to {args.out}")
    elif result.accuracy is None:
        print(f"'{source}' has no labels; pass --out preds.csv to write the predictions")
    return 0


def command_list(args: argparse.Namespace, dotted: Overrides) -> int:
    print("families:")
    for name, family in FAMILIES.items():
        print(f"  {name:10s} {family.description}")
    print("data sets (built in; or pass a folder of images or a .npy/.npz file):")
    for name, source in BUILTIN.items():
        print(f"  {name:10s} {source.description}")
    print("recommended when no family is given:")
    for kind, recipe in RECOMMENDED.items():
        print(f"  {kind:10s} {recipe['model.family']}")
    print("recipes (configs/):")
    for path in list_recipes():
        print(f"  {path.stem}")
    print("nets:")
    print("  " + ", ".join(NETS))
    return 0


COMMANDS = {"train": command_train, "resume": command_resume, "sample": command_sample, "eval": command_eval,
            "classify": command_classify, "translate": command_translate, "upscale": command_upscale,
            "report": command_report, "list": command_list}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        own, dotted_args = split_dotted(argv)
        args = build_parser().parse_args(own)
        dotted = parse_cli_overrides(dotted_args)
        return COMMANDS[args.command](args, dotted)
    except GanforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as error:  # the file system's refusal: permissions, read-only, full disk, a file for a folder
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as interrupt:  # the trainer's TrainingInterrupted says what was kept
        print(f"\n{interrupt or 'interrupted'}", file=sys.stderr)
        # 128 + the signal, as a shell reports a process the signal ended: a batch system sees SIGTERM's 143
        return 128 + interrupt.signal_number if isinstance(interrupt, TrainingInterrupted) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
