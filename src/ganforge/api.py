"""The Python API: train(), resume() and load()."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.atomic import write_atomic, write_text_atomic
from ganforge.config import Config, Overrides, coerce, from_overrides, to_overrides, to_toml
from ganforge.console import note
from ganforge.data import TensorData, load_data
from ganforge.errors import CheckpointError, ConfigError, TrainingInterrupted
from ganforge.evaluate import Evaluator, plan
from ganforge.recipes import load_user_overrides, resolve
from ganforge.run import Run
from ganforge.train.backend import is_main_process
from ganforge.train.checkpoint import checkpoint_step, list_checkpoints
from ganforge.train.rundir import RunDir
from ganforge.train.trainer import Trainer

# Keys a resumed run may change: schedule and bookkeeping, never the model or the data. The LR schedule is one
# of them: "continue this run, annealing the LR over the new steps" is a common next step.
SCHEDULE_KEYS = ("train.steps", "train.lr_decay", "train.lr_decay_start", "train.log_every",
                 "train.sample_every", "train.checkpoint_every", "train.keep_checkpoints", "train.progress",
                 "train.device", "train.eval_every", "train.eval_metrics", "train.eval_features",
                 "train.eval_samples", "train.diagnostics", "train.threads", "train.tensorboard")
# The remedies a divergence message suggests, applied from the last good checkpoint (recorded in history.jsonl).
REMEDY_KEYS = ("train.lr_g", "train.lr_d", "train.r1_gamma", "train.r2_gamma", "train.reg_every", "train.gp_weight",
               "train.n_critic")
# The losses and the batch of a stage that starts at a step (srgan's adversarial stage after train.pretrain_steps):
# one pre-trained SRResNet checkpoint serves several SRGAN runs with different weights, losses and batch sizes.
# After a new batch size the sampler's saved position (batches into its shuffled epoch) counts batches of the new
# size; an epoch with no batch left at that position ends there.
STAGE_KEYS = ("train.adversarial_weight", "train.adversarial_loss", "train.feature_matching_weight",
              "train.batch_size", "train.stage_batch_size", "train.content_loss")
RESUMABLE_KEYS = SCHEDULE_KEYS + REMEDY_KEYS + STAGE_KEYS


def _user_values(config: Config | Overrides | str | Path | None) -> Overrides:
    if config is None:
        return {}
    if isinstance(config, Config):  # only what differs from the defaults counts as the user's choice
        defaults = to_overrides(Config())
        return {k: v for k, v in to_overrides(config).items() if v != defaults[k]}
    if isinstance(config, (str, Path)):
        return load_user_overrides(str(config), {})
    flat: Overrides = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{name}": coerce(f"{key}.{name}", v) for name, v in value.items()})
        else:
            flat[key] = coerce(key, value)
    return flat


def train(config: Config | Overrides | str | Path | None = None, out: str | Path = "runs/ganforge",
          overwrite: bool = False, **overrides: Any) -> Run:
    """Train a GAN and return its Run. `config`: a Config, a recipe path, or (dotted or nested) dict.

    Keyword overrides use double underscores for dots: train(data__source="ring", train__steps=500).
    """
    user = _user_values(config)
    user.update({key.replace("__", "."): coerce(key.replace("__", "."), v) for key, v in overrides.items()})
    return train_resolved(resolve(user), out, overwrite)


def build_evaluator(config: Config, data: TensorData) -> Evaluator | None:
    """The in-training evaluator for train.eval_every > 0 (None otherwise)."""
    train = config.train
    if train.eval_every == 0:
        return None
    classes = conditional_classes(config, data)
    evaluation = plan(config, data.spec.kind, train.eval_metrics, train.eval_features, classes, in_training=True)
    for text in evaluation.notes:
        note(text)
    device = "cuda" if train.device.startswith("cuda") or (train.device == "auto" and torch.cuda.is_available()) \
        else "cpu"
    return Evaluator(config, data, evaluation, train.eval_samples, device=device, progress=False,
                     num_classes=classes)


def conditional_classes(config: Config, data: TensorData) -> int:
    """How many classes the run's generator is conditioned on (0: unconditional or vector-conditioned)."""
    return data.spec.num_classes if config.model.condition not in ("none", "auto") else 0


def interrupted(run_dir: RunDir) -> TrainingInterrupted:
    """What Ctrl-C outside the trainer's own stop (a second Ctrl-C, or during set-up) leaves behind."""
    good = list_checkpoints(run_dir.checkpoints)
    if good:
        return TrainingInterrupted(f"interrupted; the newest checkpoint '{good[-1]}' is kept: continue with "
                                   f"'ganforge resume {run_dir.root}'")
    return TrainingInterrupted(f"interrupted before the first checkpoint of '{run_dir.root}'; there is nothing to "
                               "resume: train again with --overwrite")


def train_resolved(config: Config, out: str | Path, overwrite: bool) -> Run:
    run_dir = RunDir(out)
    try:
        data = load_data(config.data)
        # validates nets and data before the folder is touched
        trainer = Trainer(config, run_dir, data, evaluator=build_evaluator(config, data))
    except KeyboardInterrupt:
        raise TrainingInterrupted("interrupted before training started; nothing was written") from None
    try:
        if trainer.backend.is_main:
            run_dir.prepare_new(config, overwrite)
            run_dir.record_history("train", 0, threads=trainer.threads)
        trainer.backend.barrier()
        trainer.fit()
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise interrupted(run_dir) from None
    finally:
        trainer.close()
        run_dir.release()
    return Run(out)


def resume(run: str | Path, **overrides: Any) -> Run:
    """Continue a run from its newest checkpoint; only schedule keys (e.g. train.steps) may change."""
    changes = {key.replace("__", "."): v for key, v in overrides.items()}
    return resume_with(run, changes)


def resume_with(run: str | Path, changes: Overrides) -> Run:
    run_dir = RunDir(run)
    saved = run_dir.read_config()
    flat = to_overrides(saved)
    changed: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        value = coerce(key, value)
        if key not in RESUMABLE_KEYS and value != flat[key]:
            raise ConfigError(f"config key '{key}' cannot change when resuming (it would mix two runs); keys that "
                              f"can: {', '.join(RESUMABLE_KEYS)}. Start a new run with --out for other changes")
        if value != flat[key]:
            changed[key] = {"from": flat[key], "to": value}
        flat[key] = value
    config = from_overrides(flat)
    if is_main_process():
        run_dir.open_for_resume()
    try:
        checkpoints = list_checkpoints(run_dir.checkpoints)
        if not checkpoints:
            raise CheckpointError(f"run '{run}' has no checkpoint to resume from; start it again with "
                                  "'ganforge train ... --overwrite'")
        latest = checkpoints[-1]
        step = checkpoint_step(latest)
        if config.train.steps <= step:
            raise ConfigError(f"run '{run}' is already at step {step}; pass --train.steps above {step} to train "
                              "further")
        data = load_data(config.data)
        trainer = Trainer(config, run_dir, data, resume_from=latest, evaluator=build_evaluator(config, data))
        try:
            if trainer.backend.is_main:
                write_text_atomic(run_dir.config, to_toml(config))
                run_dir.record_history("resume", step, changed=changed, threads=trainer.threads)
            trainer.fit()
        finally:
            trainer.close()
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise interrupted(run_dir) from None
    finally:
        run_dir.release()
    return Run(run)


def load(run: str | Path) -> Run:
    """Open a finished (or running) run folder for sampling."""
    return Run(run)


def save_array(samples: Tensor, path: Path) -> None:
    """Samples as a float32 .npy file, written atomically."""

    buffer = io.BytesIO()  # numpy's own writes lose the errno of a full disk; Python's keep it
    np.save(buffer, samples.numpy().astype(np.float32))
    write_atomic(path, lambda temp: temp.write_bytes(buffer.getvalue()))
