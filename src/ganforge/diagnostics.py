"""Live diagnostics for the failure modes the articles name: mode collapse, vanishing gradients,
non-convergence (and divergence, which the trainer stops on). Each warning carries its remedy."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

COLLAPSE_RATIO = 0.02         # fixed-noise diversity below this fraction of the real data's = collapse
PINNED = 0.99                 # D confidently right (or plainly wrong) on this fraction of samples = pinned
VANISHED_FRACTION = 0.01      # G gradient norm below this fraction of its early level = vanished
OSCILLATION_CV = 0.5          # G-loss std / |mean| above this with no trend = oscillating
CHANCE_GAP = 0.01             # D's mean verdicts on real and fake this close, none confident = D at chance

REMEDIES = {  # each names what measured best in benchmarks/mode_collapse.py and mnist_recipes.py (BENCHMARKS.md)
    "mode_collapse": "G maps different noise to nearly the same output. Try the r3gan family (relativistic loss + "
                     "R1/R2: all 25 grid modes in every benchmark run), R1 (--train.r1_gamma 0.1), packing "
                     "(--model.pack 2), a lower lr_g, or more D steps (n_critic).",
    "vanishing_gradients": "D rejects every fake and G's gradient has all but vanished. Use the non-saturating "
                           "G loss (--model.g_loss non-saturating), a lower lr_d, R1 (--train.r1_gamma 0.1), "
                           "or the r3gan family.",
    "non_convergence": "D's verdicts are pinned, so the game is not moving toward balance. Balance the players: "
                       "lower lr_d or raise lr_g (two time-scales), label smoothing or instance noise, R1 "
                       "(--train.r1_gamma 0.1), or the r3gan family.",
    "discriminator_at_chance": "If the samples still fall short of the data, D is too slow or too weak for G: "
                               "raise lr_d (two time-scales; 4 x lr_g revived the srgan lowpass stage's D), "
                               "more D steps (n_critic), or a lower lr_g. If they look right, G may have matched "
                               "the data: compare FID across checkpoints.",
    "oscillation": "losses swing without a trend. Lower both learning rates, use Adam beta1 = 0.5 or 0, "
                   "add R1 (--train.r1_gamma 0.1), or switch to the r3gan family.",
}


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    message: str


def diversity(samples: Tensor) -> float:
    """Mean pairwise L2 distance between flattened samples."""
    flat = samples.detach().float().flatten(1)
    if len(flat) < 2:
        return 0.0
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return float(distances.sum() / (n * (n - 1)))


def trend_free_oscillation(values: list[float]) -> bool:
    """Large relative swings with a least-squares slope that explains little of them.

    Only for positive losses (BCE, least squares): Wasserstein and hinge G losses hover around zero,
    where a relative spread means nothing.
    """
    if min(values) <= 0:
        return False
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values)
    if spread <= OSCILLATION_CV * max(abs(mean), 1e-8):
        return False
    xs = list(range(len(values)))
    slope = statistics.linear_regression(xs, values).slope
    return abs(slope) * (len(values) - 1) < spread


def discriminator_value(record: dict[str, Any], name: str) -> float | None:
    """D's logged value `name` ('D/name'), or with several D's ('D0/name', 'D1/name', ...) their mean."""
    if f"D/{name}" in record:
        return record[f"D/{name}"]
    values = [v for k, v in record.items() if k.endswith(f"/{name}") and k[0] == "D" and k[1:k.index("/")].isdigit()]
    return statistics.fmean(values) if values else None


class Diagnostics:
    """Watches log records and fixed-noise samples; warns once per episode of each failure."""

    def __init__(self, real_diversity: float, window: int = 5, probability_verdicts: bool = False) -> None:
        self.real_diversity = real_diversity
        self.window = window
        self.probability_verdicts = probability_verdicts  # D/real, D/fake are probabilities (0.5 each at chance)
        self.records: deque[dict[str, Any]] = deque(maxlen=window)
        self.early_grad_norms: list[float] = []
        self.active: set[str] = set()
        self.seen = 0

    def observe(self, record: dict[str, Any], samples: Tensor | None = None) -> list[Diagnosis]:
        """Add one log record (and samples from fixed noise); returns newly raised warnings."""
        self.records.append(record)
        self.seen += 1
        if "G/grad_norm" in record and len(self.early_grad_norms) < self.window:
            self.early_grad_norms.append(record["G/grad_norm"])
        found: dict[str, str] = {}
        if samples is not None and self.real_diversity > 0:
            ratio = diversity(samples) / self.real_diversity
            record["diversity_ratio"] = ratio
            # The first record is not judged: an untrained G is close to constant, which is not yet collapse.
            if ratio < COLLAPSE_RATIO and self.seen > 1:
                found["mode_collapse"] = (f"mode collapse: samples from fixed noise are {ratio:.1%} as diverse as "
                                          "real data")
        full = len(self.records) == self.window
        at_chance = full and self.probability_verdicts and self.at_chance()
        accuracies = [v for v in (discriminator_value(r, "accuracy") for r in self.records) if v is not None]
        confident = [v for v in (discriminator_value(r, "confident") for r in self.records) if v is not None]
        wins = full and len(confident) == self.window and min(confident) >= PINNED
        if wins:
            found["non_convergence"] = (f"non-convergence: D has been confidently right on >= {PINNED:.0%} of real "
                                        f"and fake samples for {self.window} log steps: it wins outright")
        if full and len(accuracies) == self.window:
            if max(accuracies) <= 1 - PINNED:
                found["non_convergence"] = (f"non-convergence: D has been wrong on nearly every sample for "
                                            f"{self.window} log steps; D is too weak")
            elif max(accuracies) >= 0.9 and min(accuracies) <= 0.1 and not at_chance:
                # (at chance, D's scores sit on its threshold and its accuracy flips on nothing)
                found["oscillation"] = ("non-convergence: D's accuracy swings between below 10% and above 90% "
                                        "within a few log steps")
            norms = [r.get("G/grad_norm") for r in self.records]
            if (wins and self.early_grad_norms and None not in norms
                    and max(norms) < VANISHED_FRACTION * statistics.median(self.early_grad_norms)):
                found["vanishing_gradients"] = (f"vanishing gradients: G's gradient norm fell to {max(norms):.2e} "
                                                f"(early: {statistics.median(self.early_grad_norms):.2e}) while D "
                                                "wins")
        if at_chance:
            real, fake = (discriminator_value(self.records[-1], key) for key in ("real", "fake"))
            found["discriminator_at_chance"] = (
                f"non-convergence: D's mean verdicts on real and generated samples have agreed within {CHANCE_GAP} "
                f"for {self.window} log steps (last: {real:.3f} and {fake:.3f}) with none confident: D no longer "
                "tells them apart, so G learns little from it")
        g_losses = [r["G/loss"] for r in self.records if "G/loss" in r]
        if full and len(g_losses) == self.window and trend_free_oscillation(g_losses):
            found["oscillation"] = "non-convergence: the G loss oscillates without a trend"
        raised = [Diagnosis(kind, f"{text}. {REMEDIES[kind]}") for kind, text in found.items()
                  if kind not in self.active]
        self.active = set(found)
        return raised

    def at_chance(self) -> bool:
        """Every record of the window: D's mean verdicts on real and fake within CHANCE_GAP, none confident."""
        for record in self.records:
            real, fake = discriminator_value(record, "real"), discriminator_value(record, "fake")
            if real is None or fake is None or abs(real - fake) >= CHANCE_GAP:
                return False
            if (discriminator_value(record, "confident") or 0.0) > 0.0:
                return False
        return True
