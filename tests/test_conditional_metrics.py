"""Class-conditional metrics against independent computations: label accuracy, intra-class FID, GAN-train."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.metrics.conditional import gan_train_accuracy, intra_class_fid, label_accuracy


def scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The FID formula as pytorch-fid writes it (scipy's sqrtm), written again here on purpose."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_label_accuracy_counts_the_samples_named_as_asked() -> None:
    probabilities = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    requested = torch.tensor([0, 1, 1, 1])
    assert label_accuracy(probabilities, requested) == 0.75  # three of four: by hand


def test_intra_class_fid_is_the_mean_of_per_class_fids() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    real_labels = np.arange(300) % 3
    fake = rng.normal(size=(240, 4)) + np.array([0.0, 0.5, 1.0])[np.arange(240) % 3, None]
    fake_labels = np.arange(240) % 3
    mean, per_class = intra_class_fid(torch.from_numpy(real), torch.from_numpy(real_labels), torch.from_numpy(fake),
                                      torch.from_numpy(fake_labels), 3)
    expected = [scipy_fid(real[real_labels == k], fake[fake_labels == k]) for k in range(3)]
    assert per_class == pytest.approx(expected, rel=1e-6)
    assert mean == pytest.approx(sum(expected) / 3, rel=1e-6)
    assert per_class[0] < per_class[1] < per_class[2]  # the shifted classes are further off


@pytest.mark.slow
def test_gan_train_of_real_digits_matches_the_classifier_of_real_digits() -> None:
    """GAN-train on a 'generator' that returns real training digits equals the real classifier's accuracy."""
    train = load_data(DataConfig(source="mnist", split="train"))
    test = load_data(DataConfig(source="mnist", split="test"))
    assert train.y is not None and test.y is not None
    accuracy = gan_train_accuracy(train.x, train.y, test.x, test.y)
    assert accuracy >= 0.98
    shuffled = train.y[torch.randperm(len(train.y), generator=torch.Generator().manual_seed(0))]
    assert gan_train_accuracy(train.x, shuffled, test.x, test.y) < 0.3  # labels that mean nothing: chance


def test_gan_train_is_only_offered_when_the_test_digits_stayed_unseen() -> None:
    from ganforge.config import from_overrides
    from ganforge.errors import ConfigError
    from ganforge.evaluate import plan

    seen = from_overrides({"data.source": "mnist", "model.condition": "concat"})
    unseen = from_overrides({"data.source": "mnist", "model.condition": "concat", "data.split": "train"})
    assert "gan_train" not in plan(seen, "image", features="mnist", num_classes=10).metrics
    assert "gan_train" in plan(unseen, "image", features="mnist", num_classes=10).metrics
    with pytest.raises(ConfigError, match="this run's G trained on them .* --data.split train"):
        plan(seen, "image", metrics="gan_train", features="mnist", num_classes=10)
