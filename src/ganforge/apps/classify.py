"""`ganforge classify RUN --data SOURCE`: the classifier a semi-supervised run exported, applied to a data source:
accuracy and a confusion matrix where the data has labels, predictions (CSV) where it has none."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ganforge.atomic import write_text_atomic
from ganforge.data import TensorData
from ganforge.errors import DataError
from ganforge.train.rundir import RunDir, load_classifier_export


@dataclass
class Classification:
    predicted: Tensor                  # (N,) class indices
    probabilities: Tensor              # (N, K)
    class_names: tuple[str, ...]
    labels: Tensor | None              # the data's own labels, when it has them

    @property
    def accuracy(self) -> float | None:
        return None if self.labels is None else float((self.predicted == self.labels).double().mean())

    def confusion(self) -> Tensor:
        """(K, K) counts: row = true class, column = predicted."""
        assert self.labels is not None
        k = len(self.class_names)
        return torch.bincount(self.labels * k + self.predicted, minlength=k * k).view(k, k)


@torch.no_grad()
def classify(run: RunDir, data: TensorData, batch_size: int = 500) -> Classification:
    net, meta = load_classifier_export(run)
    spec, expected = data.spec, tuple(meta["data"]["shape"])
    if spec.shape != expected:
        raise DataError(f"data source '{spec.name}' holds samples shaped {spec.shape}, but the classifier of "
                        f"'{run.root}' takes {expected}; pass data of the run's kind (e.g. its own source, or "
                        "--data.resolution / --data.channels to match)")
    names = tuple(meta.get("classes") or meta["data"]["class_names"])
    logits = torch.cat([net(data.batch(torch.arange(i, min(i + batch_size, len(data))), torch.device("cpu"))["x"])
                        for i in range(0, len(data), batch_size)])
    labels = data.y if data.y is not None and spec.class_names == names else None
    if data.y is not None and labels is None:
        raise DataError(f"data source '{spec.name}' names its classes {spec.class_names[:5]}..., the classifier "
                        f"{names[:5]}...; classify data labelled the same way, or unlabelled data")
    return Classification(logits.argmax(1), torch.softmax(logits.float(), 1), names, labels)


def confusion_table(result: Classification) -> str:
    """The confusion matrix as aligned text, true classes down, predicted across."""
    matrix = result.confusion()
    width = max(5, *(len(n) for n in result.class_names), len(str(int(matrix.max()))) + 1)
    lines = ["true \\ predicted".ljust(width + 2) + "".join(n[:width].rjust(width + 1) for n in result.class_names)]
    for name, row in zip(result.class_names, matrix.tolist(), strict=True):
        lines.append(name[:width].ljust(width + 2) + "".join(str(v).rjust(width + 1) for v in row))
    return "\n".join(lines)


def write_predictions(result: Classification, path: Path) -> None:
    """index, predicted class, its probability (and the true class, if known), one row per sample."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", "predicted", "probability"] + (["label"] if result.labels is not None else []))
    for i, (cls, probs) in enumerate(zip(result.predicted.tolist(), result.probabilities, strict=True)):
        row = [i, result.class_names[cls], f"{float(probs[cls]):.4f}"]
        if result.labels is not None:
            row.append(result.class_names[int(result.labels[i])])
        writer.writerow(row)
    write_text_atomic(path, buffer.getvalue())
