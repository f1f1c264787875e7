"""Label preservation of CycleGAN runs on mnist <-> digits, read by an independent classifier.

`ganforge eval RUN` reads each translation with ganforge's own digit classifier of the target domain (a CNN,
metrics/classifier.py). This script reads the same held-out translations with a classifier that shares nothing with
it: scikit-learn's RBF support-vector machine on raw pixels (C 10, gamma 'scale'), trained on the target domain's
*training* images in the form the evaluation scores them (domain B cut to data.target_box when the run sets one).
For each direction it prints the SVM's accuracy on the target's own held-out images (its ceiling), on the
untranslated held-out sources (the source-only baseline) and on each run's translations of them.

    python benchmarks/cyclegan_labels.py RUN [RUN ...]     # runs of the same two domains and form
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from sklearn.svm import SVC
from torch import Tensor

import ganforge
from ganforge.data import TensorData, load_data
from ganforge.evaluate_domains import in_target_form
from ganforge.metrics.features import as_uint8
from ganforge.run import DIRECTIONS


def pixels(images: Tensor) -> np.ndarray:
    """uint8 images (N, C, H, W) as rows of floats in [0, 1]."""
    return images.float().reshape(len(images), -1).numpy() / 255.0


def labels_of(data: TensorData) -> np.ndarray:
    assert data.y is not None, "both domains must be labelled"
    return data.y.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="CycleGAN run folders, all on the same two domains")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [ganforge.load(path) for path in args.runs]
    data = runs[0].config.data
    train = load_data(replace(data, split="train", max_samples=None))
    test = load_data(replace(data, split="test", max_samples=None))
    assert train.domain_b is not None and test.domain_b is not None, "the runs must be two-domain (CycleGAN) runs"
    trained, held_out = {"a": train, "b": train.domain_b}, {"a": test, "b": test.domain_b}
    box = data.target_box
    form: dict[str, Callable[[Tensor], Tensor]] = {letter: in_target_form(data, letter) for letter in "ab"}
    readers: dict[str, SVC] = {}
    for letter in "ab":
        reader = SVC(kernel="rbf", C=10.0, gamma="scale")
        readers[letter] = reader.fit(pixels(form[letter](trained[letter].x)), labels_of(trained[letter]))
    print(f"domains: a = {data.source}, b = {data.target} (target_box {box}); held-out images: "
          f"{len(test.x)} a, {len(test.domain_b.x)} b")
    print(f"{'images read':40s} {'a2b':>8s} {'b2a':>8s}")
    rows: dict[str, dict[str, float]] = {"target's own held-out images (ceiling)": {}, "input (source-only)": {}}
    for direction in DIRECTIONS:
        source, target = direction[0], direction[2]
        wanted = labels_of(held_out[source])
        reader, shaped = readers[target], form[target]
        rows["target's own held-out images (ceiling)"][direction] = float(
            (reader.predict(pixels(shaped(held_out[target].x))) == labels_of(held_out[target])).mean())
        rows["input (source-only)"][direction] = float((reader.predict(pixels(shaped(held_out[source].x)))
                                                       == wanted).mean())
        for path, run in zip(args.runs, runs, strict=True):
            translated = as_uint8(run.translate(held_out[source].x.float() / 255.0, direction=direction))
            rows.setdefault(f"G: {path}", {})[direction] = float(
                (reader.predict(pixels(shaped(translated))) == wanted).mean())
    for name, row in rows.items():
        print(f"{name:40s} {row['a2b']:8.2%} {row['b2a']:8.2%}")


if __name__ == "__main__":
    main()
