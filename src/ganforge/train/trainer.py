"""The one training loop: runs a family's phases in turn (D, then G through a frozen D), and owns
optimisers, EMA, logging, sample grids and checkpoints. It knows nothing of a family's internals."""

from __future__ import annotations

import random
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ganforge.conditions import (
    GRID_COLUMNS,
    NO_CONDITION,
    Condition,
    balanced_labels,
    call_generator,
    chunk,
    grid_labels,
)
from ganforge.config import Config
from ganforge.data import EpochSampler, ShardedSampler, TensorData
from ganforge.data.dihedral import flip_pairs
from ganforge.diagnostics import Diagnostics, diversity
from ganforge.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    StorageError,
    TrainingDiverged,
    TrainingInterrupted,
    describe_os_error,
)
from ganforge.families import Family, StepState, get_family
from ganforge.families.base import Batch
from ganforge.grid import image_grid, pyramid_grid, save_png, scatter_plot, side_by_side
from ganforge.threads import apply_threads, choose_threads, load_follower, usable_cores
from ganforge.train.backend import Backend
from ganforge.train.checkpoint import list_checkpoints, prune_checkpoints, restore_checkpoint, save_checkpoint
from ganforge.train.ema import EMA, has_batchnorm, refresh_batchnorm_
from ganforge.train.logging import MetricsLogger, NonFinite
from ganforge.train.rundir import RunDir, export_classifier, export_generator, export_net
from ganforge.train.tensorboard import ScoreProbe, TensorBoardSink, require_tensorboard

GRID_IMAGES = 64
GPU_DATA_SHARE = 0.25  # data sets smaller than this share of GPU memory live on the GPU
SCATTER_POINTS = 2000
TRANSLATION_GRID_PAIRS, TRANSLATION_GRID_COLUMNS = 24, 4  # image-to-image grids: 24 input | output | target, 4 a row
DOMAIN_B_STREAM = 11  # unpaired data: domain B's sampler is seeded train.seed + this, apart from domain A's
PYRAMID_GRID_SAMPLES, PYRAMID_GRID_COLUMNS = 32, 4  # LAPGAN grids: 32 samples, 4 a row, each shown at every level
# An evaluator scores a sampler (n, seed) -> decoded samples; the API layer builds it from the metrics.
Evaluator = Callable[[Callable[[int, int], Tensor], int], dict[str, Any]]


def gradient_norm(net: nn.Module) -> Tensor:
    """The L2 norm of all of `net`'s gradients, as a 0-d tensor on their device (no host sync)."""
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def weights_finite(net: nn.Module) -> bool:
    """Whether every parameter and floating-point buffer of `net` is finite (one max-norm per tensor, which cannot
    overflow; one host sync): BatchNorm's running variance can overflow while the weights are still finite."""
    tensors = [p.detach() for p in net.parameters()] + [b for b in net.buffers() if b.is_floating_point()]
    return not tensors or bool(torch.isfinite(torch.stack(torch._foreach_norm(tensors, float("inf")))).all())


def linear_decay(step: int, start: int, steps: int) -> float:
    """The learning-rate factor at `step`: 1 until `start`, then linearly down to 1 / (steps - start) by the last."""
    return 1.0 if step < start else 1.0 - (step - start) / (steps - start)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Build everything a run needs, optionally restore a checkpoint, then `fit()`."""

    def __init__(self, config: Config, run: RunDir, data: TensorData, resume_from: Path | None = None,
                 evaluator: Evaluator | None = None) -> None:
        train = config.train
        if train.tensorboard:  # refused before the run folder is touched
            require_tensorboard()
        self.config, self.run, self.data, self.evaluator = config, run, data, evaluator
        self.best: dict[str, Any] = {}  # {"key": metric, "value": best value, "step": step}
        self.backend = Backend(train)

        family_class = get_family(config.model.family)
        if data.domain_b is not None and not family_class.unpaired:
            raise ConfigError(f"data.target '{data.spec.domain_b}' is a second, unpaired domain (data.unpaired "
                              f"true), which family '{family_class.name}' does not learn from; use --family "
                              "cyclegan for unpaired domains, or pair two folders by file name (pix2pix) with "
                              "--data.unpaired false")
        if config.data.flips and not data.spec.source_shape:
            raise ConfigError(f"data.flips turns each training pair's input and target alike, but '{data.spec.name}' "
                              "gives no pairs; use --data.pairs (e.g. downscale4) or --data.target with paired "
                              "folders, or leave data.flips false")
        # Same seed on every rank while building nets (identical replicas); then one stream per rank.
        seed_everything(train.seed)
        self.family: Family = family_class(config, data.spec)
        self.family.use_data(data)
        self.family.configure_ranks(self.backend.rank, self.backend.world_size)
        for key, size in (("train.batch_size", train.batch_size), ("train.stage_batch_size", train.stage_batch_size)):
            per_step = size * self.backend.world_size * self.family.batch_multiple
            if len(data) < per_step:
                several = f" x {self.family.batch_multiple} discriminators" if self.family.batch_multiple > 1 else ""
                raise DataError(f"data source '{data.spec.name}' has {len(data)} samples, fewer than one batch "
                                f"({key} = {size}{several}); lower --{key} to at most "
                                f"{len(data) * size // per_step}")
        if data.domain_b is not None and len(data.domain_b) < train.batch_size * self.backend.world_size:
            raise DataError(f"data.target '{data.spec.domain_b}' has {len(data.domain_b)} samples, fewer than one "
                            f"batch (train.batch_size = {train.batch_size}); lower --train.batch_size to at most "
                            f"{len(data.domain_b) // self.backend.world_size}")
        self.nets = {name: self.backend.prepare(net) for name, net in self.family.nets.items()}
        self.optimizers = self.family.optimizers()
        self.base_lrs = {name: [group["lr"] for group in opt.param_groups] for name, opt in self.optimizers.items()}
        self.phases = self.family.phases()
        self.generator = self.nets[self.family.generator_key]
        self.ema = EMA(self.generator, train.ema_decay) if train.ema else None
        if self.backend.device.type == "cuda" and data.x.nbytes < GPU_DATA_SHARE * torch.cuda.get_device_properties(
                self.backend.device).total_memory:
            self.data = data = data.to(self.backend.device)  # on the GPU once: no host copy per step
        self.sampler_batch_size = train.batch_size
        self.sampler = self._sampler(self.sampler_batch_size)
        # Semi-supervised data (data.labelled): a second stream of batches from the few labelled samples only.
        self.labelled_sampler: EpochSampler | None = None
        if data.spec.labelled and data.y is not None:
            self.labelled_indices = (data.y >= 0).nonzero().squeeze(1)
            self.labelled_sampler = EpochSampler(len(self.labelled_indices),
                                                 min(train.batch_size, len(self.labelled_indices)), train.seed + 7,
                                                 device=data.x.device)
        # Two unpaired domains (data.target with data.unpaired): domain B's batches come from a sampler of its own.
        self.sampler_b: EpochSampler | None = None
        if data.domain_b is not None:
            self.sampler_b = EpochSampler(len(data.domain_b), train.batch_size, train.seed + DOMAIN_B_STREAM,
                                          self.backend.rank, self.backend.world_size, device=data.x.device)
        if self.backend.world_size > 1:
            seed_everything(train.seed + self.backend.rank)

        self.step = 0
        recorded_threads = None
        if resume_from is not None:
            state = restore_checkpoint(resume_from, self.nets, self.optimizers,
                                       self.ema.model if self.ema else None, self.family.load_state_tensors)
            self.step = int(state["step"])
            self.sampler_batch_size = self.batch_size_at(self.step)
            self.sampler = self._sampler(self.sampler_batch_size)
            self.sampler.load_state_dict(state["sampler"])
            if self.sampler_b is not None:
                if "sampler_b" not in state:
                    raise CheckpointError(f"checkpoint '{resume_from}' holds no position of domain B's sampler "
                                          "(data.target), so it was not written by this run's config; resume the "
                                          "run it came from")
                self.sampler_b.load_state_dict(state["sampler_b"])
            if self.labelled_sampler is not None and "labelled_sampler" in state:
                self.labelled_sampler.load_state_dict(state["labelled_sampler"])
            if self.ema is not None:
                self.ema.updates = int(state["ema_updates"])
            self.best = dict(state.get("best", {}))
            recorded_threads = state.get("threads")
        # Results may differ in their last bits between thread counts: a resume starts from the count its checkpoint
        # was trained with; auto then follows other processes' load (threads.py), a fixed count stays.
        convolutional = any(isinstance(m, nn.modules.conv._ConvNd) for net in self.nets.values()
                            for m in net.modules())
        if train.threads == "auto" and recorded_threads is not None and recorded_threads <= usable_cores():
            self.threads = int(recorded_threads)
        else:
            self.threads = choose_threads(train.threads, convolutional)
        apply_threads(self.threads)
        self.load_follower = load_follower(train.threads, self.threads, convolutional)
        # Numbers below float32's normal range (1.2e-38) make a backward pass on them 5-64x slower; a run whose D had
        # saturated slowed step by step to a third of its speed. Flushed to zero while training (process-wide, like
        # the thread count; BENCHMARKS.md, "Denormal numbers on the CPU").
        if self.backend.device.type == "cpu":
            torch.set_flush_denormal(True)

        # Fixed noise (and conditions: a row per class) for sample grids, from a private RNG so grids never change
        # the training stream.
        self.fixed_condition = self._grid_condition()
        self.fixed_batch: Batch | None = None
        if self.family.image_conditioned:  # G's "noise" is the input image: fixed images of the data
            self.fixed_batch = self._fixed_rows(TRANSLATION_GRID_PAIRS, train.seed + 1)
            self.fixed_latent = self.fixed_batch[self.family.input_key]
        else:
            count = next((len(t) for t in self.fixed_condition if t is not None),
                         GRID_IMAGES if data.spec.kind == "image" else SCATTER_POINTS)
            self.fixed_latent = self.family.sample_latent(count, "cpu", torch.Generator().manual_seed(train.seed + 1))
        self._stop_requested = False
        self._stop_signal = signal.SIGINT
        self._refreshed_at = -1
        self.diagnostics: Diagnostics | None = None
        if train.diagnostics:  # real images of G's output domain, to compare its outputs' diversity with
            real = data.spec.decode(self._fixed_rows(GRID_IMAGES, train.seed)[self.family.output_key])
            self.diagnostics = Diagnostics(real_diversity=diversity(real),
                                           probability_verdicts=self.family.scores_are_logits)
        self.sink: TensorBoardSink | None = None  # made by fit() on the main process with train.tensorboard
        self.score_probe = ScoreProbe(self.family, self.data, train.seed) \
            if train.tensorboard and ScoreProbe.applies(self.family) else None

    def _sampler(self, batch_size: int) -> EpochSampler | ShardedSampler:
        """The real data's batches of `batch_size` (each D's, with several), shuffled by epochs from train.seed."""
        data, seed = self.data, self.config.train.seed
        if self.family.data_shards:
            return ShardedSampler(len(data), batch_size, seed, self.family.data_shards, device=data.x.device)
        return EpochSampler(len(data), batch_size * self.family.batch_multiple, seed, self.backend.rank,
                            self.backend.world_size, device=data.x.device)

    def batch_size_at(self, step: int) -> int:
        """Real samples per step at `step`: train.stage_batch_size once train.pretrain_steps have passed."""
        train = self.config.train
        return train.stage_batch_size if train.stage_batch_size and step >= train.pretrain_steps \
            else train.batch_size

    def _resize_batches(self, logger: MetricsLogger) -> None:
        """At the stage boundary: batches of the stage's size from the same place in the shuffled epoch, as a
        resume there with --train.batch_size would draw them (the sampler's position counts batches)."""
        size = self.batch_size_at(self.step)
        if size == self.sampler_batch_size:
            return
        position = self.sampler.state_dict()
        self.sampler_batch_size, self.sampler = size, self._sampler(size)
        self.sampler.load_state_dict(position)
        logger.batch_size = size * self.backend.world_size

    def _fixed_rows(self, count: int, seed: int) -> Batch:
        """A fixed batch of up to `count` random rows (and of domain B's, if any), from a private RNG (CPU)."""
        data, rng = self.data, torch.Generator().manual_seed(seed)
        picks = torch.randperm(len(data), generator=rng)[:count]
        picks_b = None if data.domain_b is None else torch.randperm(len(data.domain_b), generator=rng)[:count]
        return data.batch(picks.to(data.x.device), torch.device("cpu"),
                          None if picks_b is None else picks_b.to(data.x.device))

    # -- the loop ------------------------------------------------------------------------------
    def fit(self) -> None:
        train, backend = self.config.train, self.backend
        if train.tensorboard and backend.is_main:  # a resume hides the events a crash left past its checkpoint
            self.sink = TensorBoardSink(self.run.tensorboard, purge_step=self.step + 1 if self.step else None)
        logger = MetricsLogger(self.run.metrics if backend.is_main else None, self.step, train.steps,
                               self.batch_size_at(self.step) * backend.world_size, train.progress and backend.is_main,
                               self.sink)
        # Ctrl-C finishes the current step, saves a checkpoint, then stops (main thread only); so does SIGTERM (kill,
        # a batch system's stop) in a single process. Under torchrun SIGTERM stays torchrun's way of ending the ranks.
        in_main_thread = threading.current_thread() is threading.main_thread()
        stop_signals = [signal.SIGINT, signal.SIGTERM] if backend.world_size == 1 else [signal.SIGINT]
        if not in_main_thread:
            stop_signals = []
        previous_handlers = {sig: signal.signal(sig, self._request_stop) for sig in stop_signals}
        try:
            while self.step < train.steps:
                self._train_one_step(logger)
                self.step += 1
                self._follow_load()
                logger.advance()
                self._periodic(logger)
                if self._stop_requested:
                    self._check_finite(logger)
                    if self.family.owners():  # D's held by other ranks: gathering them needs every rank at once
                        raise TrainingInterrupted(
                            f"interrupted at step {self.step}; the D's of an MD-GAN run under torchrun live on "
                            "their own ranks, so no checkpoint was written now: the newest periodic one is kept; "
                            f"continue with 'ganforge resume {self.run.root}'", self._stop_signal)
                    saved = self._save(self.step) if self.backend.is_main else None
                    raise TrainingInterrupted(f"interrupted at step {self.step}; checkpoint '{saved}' was written: "
                                              f"continue with 'ganforge resume {self.run.root}'",
                                              self._stop_signal)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            logger.close()  # and the sink
            self.sink = None

    def _follow_load(self) -> None:
        """auto: the thread count other processes leave room for (one while a neighbour trains)."""
        count = None if self.load_follower is None else self.load_follower.poll()
        if count is not None:
            apply_threads(count)
            self.threads = count

    def train_steps(self, count: int) -> None:
        """`count` bare steps: no logs, samples, checkpoints or checks. For timing one recipe's step against
        another's in one process (benchmarks/step_cost.py); a run trains with fit()."""
        logger = MetricsLogger(None, self.step, self.step + count, self.batch_size_at(self.step), False)
        for _ in range(count):
            self._train_one_step(logger)
            self.step += 1

    def _train_one_step(self, logger: MetricsLogger) -> None:
        # 1. One real batch per iteration (each rank its own slice), of the stage's size after pre-training.
        self._resize_batches(logger)
        indices = self.sampler.next_indices(self.family.sample_parts(self.step)) \
            if isinstance(self.sampler, ShardedSampler) else self.sampler.next_indices()
        indices_b = None if self.sampler_b is None else self.sampler_b.next_indices()
        batch = self.data.batch(indices, self.backend.device, indices_b)
        if self.config.data.flips:
            batch = flip_pairs(batch, self.config.train.seed, self.step)
        if self.labelled_sampler is not None:
            labelled = self.data.batch(self.labelled_indices[self.labelled_sampler.next_indices()], self.backend.device)
            batch["x_labelled"], batch["y_labelled"] = labelled["x"], labelled["y"]
        batch = self.backend.prepare_batch(batch)
        state = StepState(self.step, optimizers=self.optimizers)
        train = self.config.train
        # Set every step (not only when decaying): a resume may have changed the rates as a remedy.
        self._set_learning_rates(linear_decay(self.step, train.lr_decay_start, train.steps)
                                 if train.lr_decay == "linear" else 1.0)
        due = [phase for phase in self.phases if phase.due(self.step)]
        for i, phase in enumerate(due):
            # 2. Grad on only for nets trained now or later in this iteration: G stays frozen
            #    while D trains unless G trains next (then D's fake batch keeps G's graph for reuse).
            training = {name for p in due[i:] for name in p.modules}
            for name, net in self.nets.items():
                net.requires_grad_(name in training)
            # 3. The family's loss; the trainer owns backward and the optimiser step (one per net trained).
            with self.backend.autocast():
                out = phase.loss_fn(batch, state)
            for name in phase.modules:
                self.optimizers[name].zero_grad(set_to_none=True)
            out["loss"].backward()
            if phase.synchronized:
                for name in phase.modules:
                    self.backend.reduce_gradients(self.nets[name])
            values = {key: value.detach() for key, value in out.items()}
            norms = torch.stack([gradient_norm(self.nets[name]) for name in phase.modules])
            values["grad_norm"] = torch.linalg.vector_norm(norms)
            for name in phase.modules:
                self.optimizers[name].step()
            if phase.after_step is not None:
                phase.after_step()
            # 4. EMA follows each generator update.
            if self.ema is not None and self.family.generator_key in phase.modules:
                self.ema.update(self.generator)
            logger.add(phase.name, self.step + 1, values)

    def _set_learning_rates(self, factor: float) -> None:
        for name, optimizer in self.optimizers.items():
            for group, base in zip(optimizer.param_groups, self.base_lrs[name], strict=True):
                group["lr"] = base * factor

    def _periodic(self, logger: MetricsLogger) -> None:
        train, step, last = self.config.train, self.step, self.step == self.config.train.steps
        due = [every for every in (train.log_every, train.sample_every, train.checkpoint_every, train.eval_every)
               if every and step % every == 0]
        if not (due or last):
            return
        # Nothing is logged, drawn or saved before the values since the last event are known to be finite.
        self._check_finite(logger)
        try:
            self._periodic_writes(logger, step, last)
        except OSError as exc:
            raise self._storage_error(exc) from None

    def _periodic_writes(self, logger: MetricsLogger, step: int, last: bool) -> None:
        train = self.config.train
        if step % train.log_every == 0 or last:
            record = logger.summarize(step)
            record["threads"] = self.threads
            for name, optimizer in self.optimizers.items():  # the rates of the step just taken (schedules, resumes)
                record[f"lr/{name}"] = float(optimizer.param_groups[0]["lr"])
            found = []
            if self.diagnostics is not None:
                found = self.diagnostics.observe(record, self._diagnostic_samples())
            logger.emit(record)
            for diagnosis in found:
                logger.warning(step, diagnosis.kind, diagnosis.message)
            if self.sink is not None and self.score_probe is not None:
                for tag, scores in self.score_probe(self.generator, self.backend.device,
                                                    self.backend.prepare_batch).items():
                    self.sink.histogram(tag, scores, step)
        if step % train.checkpoint_every == 0 or last:  # every rank: nets one rank trains alone reach rank 0
            self.backend.share_owned(self.family.owners(), self.nets, self.optimizers)
        if not self.backend.is_main:
            return
        if step % train.sample_every == 0 or last:
            self.save_sample_grid(self.run.samples / f"step-{step:07d}.png")
        if self.evaluator is not None and (step % train.eval_every == 0 or last):
            self._evaluate(logger)
        if step % train.checkpoint_every == 0 or last:
            self._save(step)

    # -- sampling, saving ----------------------------------------------------------------------
    def _grid_condition(self) -> Condition:
        """For a conditional G: one grid row per class, or the first data rows' condition vectors."""
        if not self.family.conditional:
            return NO_CONDITION
        spec = self.data.spec
        if spec.num_classes:
            if spec.kind == "image":
                return grid_labels(spec.num_classes), None
            return balanced_labels(SCATTER_POINTS, spec.num_classes), None
        assert self.data.c is not None
        return None, self.data.c[: GRID_IMAGES if spec.kind == "image" else SCATTER_POINTS].cpu()

    def draw_condition(self, n: int, generator: torch.Generator) -> Condition:
        """Conditions for n samples to score or sample: classes balanced, or condition vectors of random data rows."""
        if not self.family.conditional:
            return NO_CONDITION
        if self.data.spec.num_classes:
            return balanced_labels(n, self.data.spec.num_classes), None
        assert self.data.c is not None
        rows = torch.randint(len(self.data.c), (n,), generator=generator)
        return None, self.data.c[rows.to(self.data.c.device)].cpu()

    @torch.no_grad()
    def _diagnostic_samples(self) -> Tensor:
        """The current (not EMA) G on fixed noise, with its running BatchNorm statistics."""
        self.generator.eval()
        count = min(GRID_IMAGES, len(self.fixed_latent))
        device = self.backend.device
        out = call_generator(self.generator, self.fixed_latent[:count].to(device),
                             chunk(self.fixed_condition, 0, count, device))
        self.generator.train()
        return self.data.spec.decode(out).cpu()

    def sampling_net(self) -> nn.Module:
        """G as used for sampling now: the EMA copy with BatchNorm statistics of its own weights."""
        if self.ema is None:
            return self.generator
        if self._refreshed_at != self.step and has_batchnorm(self.ema.model):
            rng = torch.Generator().manual_seed(self.config.train.seed * 1_000_003 + self.step)
            device = self.backend.device

            def inputs(n: int) -> tuple[Tensor | None, ...]:
                z = self.family.sample_latent(n, device, rng)
                condition = chunk(self.draw_condition(n, rng), 0, n, device)
                return (z,) if condition[0] is None and condition[1] is None else (z, *condition)

            refresh_batchnorm_(self.ema.model, inputs)
            self._refreshed_at = self.step
        return self.ema.model

    @torch.no_grad()
    def generate(self, latent: Tensor, condition: Condition = NO_CONDITION) -> Tensor:
        net = self.sampling_net()
        was_training = net.training
        net.eval()
        device = self.backend.device
        out = torch.cat([call_generator(net, latent[i : i + 256].to(device), chunk(condition, i, i + 256, device))
                         for i in range(0, len(latent), 256)])
        net.train(was_training)
        return self.data.spec.decode(out).cpu()

    def save_sample_grid(self, path: Path) -> None:
        caption = f"step {self.step} · {self.config.model.family} · {self.data.spec.name}"
        levels = None if self.fixed_batch is not None else self._pyramid_levels()
        if levels is not None:  # a pyramid's every level, coarsest first
            picture = image_grid(pyramid_grid(levels), columns=len(levels) * PYRAMID_GRID_COLUMNS, caption=caption)
        elif self.fixed_batch is not None:  # input | output | target (CycleGAN: | reconstruction), side by side
            inputs, outputs, third = self._translation_columns()
            picture = image_grid(side_by_side(inputs, outputs, third), columns=3 * TRANSLATION_GRID_COLUMNS,
                                 caption=caption)
        elif self.data.spec.kind == "image":
            columns = GRID_COLUMNS if self.fixed_condition[0] is not None else None  # a row per class
            picture = image_grid(self.generate(self.fixed_latent, self.fixed_condition), columns=columns,
                                 caption=caption)
        else:
            reference = self.data.spec.decode(self.data.x[:SCATTER_POINTS])
            picture = scatter_plot(self.generate(self.fixed_latent, self.fixed_condition), reference,
                                   caption=caption)
        save_png(picture, path)
        if self.sink is not None:
            self.sink.image("samples", picture, self.step)

    @torch.no_grad()
    def _translation_columns(self) -> list[Tensor]:
        """The family's grid columns for the fixed batch (G as sampled, in eval mode), decoded."""
        assert self.fixed_batch is not None
        net = self.sampling_net()
        was_training = net.training
        net.eval()
        device = self.backend.device
        fixed = self.backend.prepare_batch({key: value.to(device) for key, value in self.fixed_batch.items()})
        columns = self.family.grid_columns(net, fixed)
        net.train(was_training)
        return [self.data.spec.decode(column).cpu() for column in columns]

    @torch.no_grad()
    def _pyramid_levels(self) -> list[Tensor] | None:
        net = self.sampling_net()
        was_training = net.training
        net.eval()
        latent = self.fixed_latent[:PYRAMID_GRID_SAMPLES].to(self.backend.device)
        levels = self.family.pyramid_levels(net, latent)
        net.train(was_training)
        return None if levels is None else [self.data.spec.decode(level).cpu() for level in levels]

    def _evaluate(self, logger: MetricsLogger) -> None:
        """Score the sampling net; keep its export in best/ when the first metric improves."""
        from ganforge.evaluate import is_better  # the trainer needs only this rule, not the metrics

        assert self.evaluator is not None

        def generate(n: int, seed: int, labels: Tensor | None = None) -> Tensor:
            rng = torch.Generator().manual_seed(seed)
            condition = (labels, None) if labels is not None else self.draw_condition(n, rng)
            return self.generate(self.family.sample_latent(n, "cpu", rng), condition)

        results = self.evaluator(generate, self.config.train.seed + 2)
        logger.emit({"step": self.step, **{f"eval/{k}": v for k, v in results.items()}})
        key = self.best.get("key") or next((k for k in results if not k.endswith("_std")), None)
        if key is not None and key in results and is_better(key, float(results[key]), self.best.get("value")):
            self.best = {"key": key, "value": float(results[key]), "step": self.step}
            self.run.best.mkdir(exist_ok=True)
            export_generator(self.run, self.sampling_net(), {**self._export_meta(self.step), "best": self.best},
                             folder=self.run.best)

    def _export_meta(self, step: int) -> dict[str, Any]:
        model, spec = self.config.model, self.data.spec
        meta: dict[str, Any] = {"family": model.family,
                                "latent": {"dim": self.family.latent_width, "dist": model.latent_dist},
                                "data": spec.to_dict(), "step": step, "weights": "ema" if self.ema else "raw"}
        if self.family.image_conditioned:  # what `translate` must give: images of these channels (no noise)
            del meta["latent"]
            meta["condition"] = self.family.export_condition()
        elif self.family.conditional:  # what `sample` must be told: a class (by index or name) or a vector
            meta["condition"] = ({"kind": "label", "num_classes": spec.num_classes} if spec.num_classes
                                 else {"kind": "vector", "dim": spec.condition_dim})
        return meta

    def _save(self, step: int) -> Path:
        extra: dict[str, Any] = {"sampler": self.sampler.state_dict(), "threads": self.threads,
                                 "ema_updates": self.ema.updates if self.ema else 0, "best": self.best}
        if self.labelled_sampler is not None:
            extra["labelled_sampler"] = self.labelled_sampler.state_dict()
        if self.sampler_b is not None:
            extra["sampler_b"] = self.sampler_b.state_dict()
        try:
            path = save_checkpoint(self.run.checkpoints, step, self.nets, self.optimizers, extra,
                                   self.ema.model if self.ema else None, self.family.state_tensors())
            prune_checkpoints(self.run.checkpoints, self.config.train.keep_checkpoints)
            export_generator(self.run, self.sampling_net(), self._export_meta(step))
            for stem, net in self.family.exported_nets().items():  # e.g. CycleGAN's B -> A generator
                export_net(self.run.root, stem, net, self._export_meta(step))
            if getattr(self.family, "exports_classifier", False):  # the semi-supervised D: the run's classifier
                export_classifier(self.run, self.family.classifier(),  # type: ignore[attr-defined]
                                  {**self._export_meta(step), **self.family.export_meta()})  # type: ignore[attr-defined]
        except TrainingDiverged as exc:
            raise self._divergence(str(exc)) from None
        except OSError as exc:
            raise self._storage_error(exc) from None
        return path

    # -- failures ------------------------------------------------------------------------------
    def _check_finite(self, logger: MetricsLogger) -> None:
        """Stop on the first NaN/inf among the logged values (losses, gradient norms) or in any weights."""
        bad: NonFinite | None = logger.flush()
        if bad is not None:
            raise self._divergence(bad.describe())
        nets = dict(self.nets, **({"generator EMA": self.ema.model} if self.ema else {}))
        for name, net in nets.items():
            if not weights_finite(net):
                raise self._divergence(f"the {name} weights or BatchNorm statistics became NaN or infinite at "
                                       f"step {self.step} or before")

    def _last_good(self) -> str:
        good = list_checkpoints(self.run.checkpoints)
        return f"the last good checkpoint is '{good[-1]}'" if good else "no checkpoint was written before it"

    def _divergence(self, what: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"{what}; training stopped and {self._last_good()}; lower train.lr_d / train.lr_g, add R1 "
            "(--train.r1_gamma 0.1), or use the r3gan family: 'ganforge resume RUN' accepts these changes")

    def _storage_error(self, exc: OSError) -> StorageError:
        """A failed write mid-run: say what the disk said, what is safe, and how much room a checkpoint needs."""
        size = sum(p.numel() * p.element_size() for net in self.nets.values() for p in net.state_dict().values())
        size = size * 3 + (size // 2 if self.ema else 0)  # weights + two Adam moments (+ EMA of G)
        try:
            free = f", {shutil.disk_usage(self.run.root).free / 2**20:.0f} MiB free"
        except OSError:
            free = ""
        return StorageError(f"{describe_os_error(exc)}; training stopped at step {self.step} and "
                            f"{self._last_good()} (a checkpoint needs about {size / 2**20:.1f} MiB{free})")

    def _request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop_requested, self._stop_signal = True, signal.Signals(signum)

    def close(self) -> None:
        self.backend.close()
