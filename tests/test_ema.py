"""EMA of G: the averaging formula and BatchNorm statistics of its own weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.train.ema import EMA, refresh_batchnorm_


def test_ema_follows_the_formula_with_warmup() -> None:
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    ema = EMA(model, decay=0.9)
    model.weight.data.fill_(1.0)
    ema.update(model)  # warm-up decay min(0.9, 1/10) = 0.1
    assert ema.model.weight.item() == pytest.approx(0.9)
    for _ in range(100):  # past the warm-up: (1 + t) / (10 + t) >= 0.9 from t = 80
        ema.update(model)
    model.weight.data.fill_(2.0)
    before = ema.model.weight.item()
    ema.update(model)
    assert ema.model.weight.item() == pytest.approx(0.9 * before + 0.1 * 2.0)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_refreshed_batchnorm_matches_the_statistics_of_its_inputs() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    generator = torch.Generator().manual_seed(0)
    refresh_batchnorm_(model, lambda n: (torch.randn(n, 3, generator=generator) * 3 + 5,), batches=4, batch_size=500)
    check = torch.Generator().manual_seed(0)
    inputs = torch.cat([torch.randn(500, 3, generator=check) * 3 + 5 for _ in range(4)])
    with torch.no_grad():
        hidden = model[0](inputs)
    assert torch.allclose(model[1].running_mean, hidden.mean(0), atol=1e-4)
    assert not model.training and model[1].momentum == 0.1
