"""Fixed held-out splits: the same digits are held out by the MNIST classifier, `data.split` and the semi-supervised
benchmark, so "held out" means one thing across ganforge; unlabelled built-in sets hold out whole items (photos);
sets that come split (Fashion-MNIST, any folder of IDX files) keep their own training and test files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ganforge.errors import DataError

# Built-in labelled sets with a fixed split: held-out samples per class (seed 0). mnist's is the MNIST
# classifier's: 400 of each digit train it, 100 are held out.
HELD_OUT_PER_CLASS = {"mnist": 100, "digits": 30}
SPLIT_SEED = 0
# Built-in unlabelled sets split by item: every k-th item is held out (photos: by photograph, in sorted names, so
# that no crop of a held-out photo is trained on; faces: by face, in file order).
HELD_OUT_EVERY = {"photos": 3, "faces": 4}
# Built-in sets with an official split: data.split train / test are their own training and test files, and auto
# trains on the training files (so that the test set stays unseen, as published scores assume).
OFFICIAL_SPLIT = ("fashion-mnist",)
SPLIT_SETS = (*HELD_OUT_PER_CLASS, *HELD_OUT_EVERY, *OFFICIAL_SPLIT, "a folder of IDX files")


def stratified_split(labels: Tensor, held_out_per_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Indices (train, held_out): the first `held_out_per_class` of each class in a seeded permutation."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    held: list[Tensor] = []
    for cls in labels.unique():
        members = order[labels[order] == cls]
        if len(members) <= held_out_per_class:
            raise DataError(f"class {int(cls)} has only {len(members)} samples; cannot hold out "
                            f"{held_out_per_class} and still train")
        held.append(members[:held_out_per_class])
    held_out = torch.cat(held).sort().values
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[held_out] = False
    return mask.nonzero().squeeze(1), held_out


LABELLED_STREAM = 104_729  # data.labelled_seed's stream is apart from the split's: the kept labels are never test ones


def has_official_split(source: str) -> bool:
    """Whether `source` comes split into training and test files: a set in OFFICIAL_SPLIT or a folder of IDX files."""
    from ganforge.data.idx import idx_files  # local: splits stays importable without the readers

    if source in OFFICIAL_SPLIT:
        return True
    folder = Path(source)
    try:
        return folder.is_dir() and bool(idx_files(folder))
    except OSError:
        return False


def effective_split(source: str, split: str, labelled: int) -> str:
    """data.split with 'auto' resolved: a set with an official split trains on its training files; a
    semi-supervised run on a set with a held-out split trains on the rest."""
    if split != "auto":
        return split
    if has_official_split(source):
        return "train"
    return "train" if labelled and source in HELD_OUT_PER_CLASS else "all"


def split_by_item(items: Tensor, every: int) -> tuple[Tensor, Tensor]:
    """Indices (train, held_out): samples of items every-1, 2 * every-1, ... (0-based) are held out."""
    held = items % every == every - 1
    return (~held).nonzero().squeeze(1), held.nonzero().squeeze(1)


def split_indices(source: str, labels: Tensor | None, split: str, items: Tensor | None = None,
                  test_files: Tensor | None = None) -> Tensor | None:
    """Indices of `split` ('train' or 'test') of a built-in set with a fixed split; None for 'all'. `items` names
    the item each sample comes from, for sets split by item (HELD_OUT_EVERY); `test_files` is 1 for each sample of
    a set's official test files, 0 for its training files (OFFICIAL_SPLIT, IDX folders)."""
    if split == "all":
        return None
    if test_files is not None:
        return (test_files == (1 if split == "test" else 0)).nonzero().squeeze(1)
    if source in HELD_OUT_EVERY and items is not None:
        train, test = split_by_item(items, HELD_OUT_EVERY[source])
        return train if split == "train" else test
    if source not in HELD_OUT_PER_CLASS or labels is None:
        raise DataError(f"data.split '{split}' needs a data set with a fixed held-out split "
                        f"({', '.join(SPLIT_SETS)}); '{source}' has none: use --data.split all")
    train, test = stratified_split(labels, HELD_OUT_PER_CLASS[source], SPLIT_SEED)
    return train if split == "train" else test


def labelled_subset(labels: Tensor, per_class: int, seed: int) -> Tensor:
    """Labels with all but `per_class` of each class hidden (-1): the same samples for the same seed."""
    counts = torch.bincount(labels)
    smallest = int(counts[counts > 0].min())
    if per_class > smallest:
        raise DataError(f"data.labelled {per_class} asks for more labels per class than the smallest class has "
                        f"({smallest}); use at most {smallest}")
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(LABELLED_STREAM + seed))
    kept = torch.full_like(labels, -1)
    for cls in labels.unique():
        members = order[labels[order] == cls][:per_class]
        kept[members] = cls
    return kept
