"""Inception Score from class probabilities, following Salimans et al. 2016 (arXiv:1606.03498)."""

from __future__ import annotations

import torch

from ganforge.errors import ConfigError
from ganforge.metrics.fid import ArrayLike


def inception_score_from_probs(probs: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """Mean and (population) std over splits of exp(E_x KL(p(y|x) || p(y))) for (N, K) class probabilities.

    Splits are the contiguous slices [i*N//splits, (i+1)*N//splits) of the original TF code, without shuffling.
    """
    p = torch.as_tensor(probs).detach().cpu().double()
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ConfigError(f"probs must be a 2-D (N, K) array of class probabilities, got shape {tuple(p.shape)}")
    if not bool(torch.isfinite(p).all()):
        raise ConfigError("probs contains NaN or inf values")
    # a tolerance for float32 softmax outputs, tight enough to reject logits passed by mistake
    if bool((p < 0).any()) or not torch.allclose(p.sum(dim=1), torch.ones(1, dtype=p.dtype), atol=1e-3):
        raise ConfigError("probs must be non-negative with rows summing to 1 (apply softmax to logits first)")
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ConfigError(f"splits must be between 1 and the number of samples ({n}), got {splits}")
    scores = torch.empty(splits, dtype=torch.float64)
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(dim=0, keepdim=True)
        # xlogy makes 0 * log 0 = 0, so one-hot predictions are allowed
        kl = torch.special.xlogy(part, part) - torch.special.xlogy(part, marginal)
        scores[i] = kl.sum(dim=1).mean().exp()
    return float(scores.mean()), float(scores.std(correction=0))
