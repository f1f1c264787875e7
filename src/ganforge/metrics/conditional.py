"""Metrics of a class-conditional generator: does it make what it is told?

- label accuracy: the share of samples a classifier trained on real data puts in the class G was asked for
  (this is GAN-test of Shmelkov et al. 2018 when the classifier is the domain classifier);
- intra-class FID (Miyato & Koyama 2018): the FID of each class's samples against that class's real data, and
  the mean over classes;
- GAN-train (Shmelkov et al. 2018): a classifier trained on generated labelled samples only, tested on real
  held-out data: high when the samples are both right and as varied as the real ones.
Each is checked in tests against an independent count or computation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.metrics.fid import fid_from_features


def label_accuracy(probabilities: Tensor, requested: Tensor) -> float:
    """Share of samples whose most probable class is the requested one."""
    return float((probabilities.argmax(1).cpu() == requested.cpu()).double().mean())


def intra_class_fid(real: Tensor, real_labels: Tensor, fake: Tensor, fake_labels: Tensor,
                    num_classes: int) -> tuple[float, list[float]]:
    """(mean over classes, per class) FID between each class's real and generated features. Classes with fewer
    than two samples on either side get NaN and are left out of the mean."""
    per_class: list[float] = []
    for k in range(num_classes):
        real_k, fake_k = real[real_labels.cpu() == k], fake[fake_labels.cpu() == k]
        per_class.append(fid_from_features(real_k, fake_k) if len(real_k) > 1 and len(fake_k) > 1 else float("nan"))
    scored = [v for v in per_class if v == v]
    return (sum(scored) / len(scored) if scored else float("nan")), per_class


def gan_train_accuracy(images: Tensor, labels: Tensor, test_images: Tensor, test_labels: Tensor,
                       source: str = "mnist", seed: int = 0) -> float:
    """GAN-train: the domain classifier's recipe for `source` trained on generated (images, labels) alone, then scored
    on real held-out images. `images` are uint8 or floats in [0, 1]."""
    from dataclasses import replace

    from ganforge.metrics.classifier import (
        DOMAIN_RECIPES,
        ClassifierRecipe,
        DigitClassifier,
        fit_classifier,
        held_out_accuracy,
    )
    from ganforge.metrics.features import as_uint8

    # the domain classifier's own recipe (Fashion-MNIST's takes 3 epochs of 60,000, not MNIST's 30 of 4,000)
    recipe = replace(DOMAIN_RECIPES.get(source, ClassifierRecipe(data=source)), seed=seed)
    x = as_uint8(images).float() / 255.0
    test_x = as_uint8(test_images).float() / 255.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitClassifier(x.shape[1], x.shape[-1], int(max(labels.max(), test_labels.max())) + 1, recipe.width,
                              recipe.feature_dim)
        fit_classifier(net, x, labels.cpu(), recipe, torch.Generator().manual_seed(seed))
        return held_out_accuracy(net, test_x, test_labels.cpu())
