"""Fashion-MNIST: the IDX reader, the built-in source and its split, the folder option, the domain classifier and the
evaluation protocol against the test images. Tests on the real files skip where the Debian package is absent."""

from __future__ import annotations

import gzip
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.data.builtin import FASHION_MNIST_ENV, FASHION_NAMES
from ganforge.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx, read_labelled
from ganforge.errors import DataError
from ganforge.metrics import classifier

from conftest import FASHION_MNIST_MISSING, fashion_mnist_present, one_line

real_files = pytest.mark.skipif(not fashion_mnist_present(), reason=FASHION_MNIST_MISSING)
TINY_CLI = ["--train.steps", "2", "--train.batch_size", "8", "--train.progress", "false", "--model.g_width", "8",
            "--model.d_width", "8", "--model.latent_dim", "8", "--train.threads", "1"]


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, cut: int = 0) -> Path:
    """An IDX file of a uint8 array (gzipped if the name ends .gz); `cut` drops that many bytes from its end."""
    magic = magic if magic is not None else 0x0800 | array.ndim
    raw = struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - cut]
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def write_idx_folder(folder: Path, images: np.ndarray, labels: np.ndarray, test: int, gz: bool = True) -> Path:
    """The four IDX files of a set whose last `test` samples are its test files."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, part in (("train", slice(0, len(images) - test)), ("t10k", slice(len(images) - test, None))):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images[part])
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels[part])
    return folder


def fixture_set(n: int = 30, side: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, side, side), dtype=np.uint8), np.arange(n) % 10


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_reader_reads_gzipped_and_plain_files(tmp_path: Path, suffix: str) -> None:
    images, labels = fixture_set()
    read_images, read_labels = read_labelled(write_idx(tmp_path / f"i{suffix}", images),
                                             write_idx(tmp_path / f"l{suffix}", labels))
    assert np.array_equal(read_images, images) and read_images.dtype == np.uint8
    assert np.array_equal(read_labels, labels) and read_labels.dtype == np.int64


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_reader_refuses_a_wrong_magic_number_and_a_truncated_file(tmp_path: Path, suffix: str) -> None:
    images, _ = fixture_set()
    with pytest.raises(DataError, match=r"'.*labels.*' has magic number 0x00000803; expected magic number 0x00000801"):
        read_idx(write_idx(tmp_path / f"labels{suffix}", images), LABELS_MAGIC)
    with pytest.raises(DataError, match=r"'.*short.*' holds 4315 bytes of data, but its header \(30 x 12 x 12\) says "
                                        r"4320: the file is truncated"):
        read_idx(write_idx(tmp_path / f"short{suffix}", images, cut=5), IMAGES_MAGIC)
    with pytest.raises(DataError, match="too few for its header"):
        read_idx(write_idx(tmp_path / f"stub{suffix}", images, cut=4320 + 8), IMAGES_MAGIC)


def test_bad_idx_files_are_one_line_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, labels = fixture_set()
    folder = write_idx_folder(tmp_path / "set", images, labels, test=10)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:9])  # 10 test images, 9 labels
    code = main(["train", "--data", str(folder), "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "t10k-images-idx3-ubyte.gz' (10 images)", "(9 labels) differ in length")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:10], magic=IMAGES_MAGIC)
    code = main(["train", "--data", str(folder), "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "t10k-labels-idx1-ubyte.gz' has magic number 0x00000803",
             "expected magic number 0x00000801")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[20:])
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[20:], cut=100)
    code = main(["train", "--data", str(folder), "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "t10k-images-idx3-ubyte.gz' holds 1340 bytes", "truncated")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    code = main(["train", "--data", str(folder), "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "lacks t10k-labels-idx1-ubyte(.gz)")


def test_a_folder_of_idx_files_is_a_data_set_with_its_own_split(tmp_path: Path) -> None:
    images, labels = fixture_set()
    folder = write_idx_folder(tmp_path / "fashion-copy", images, labels, test=10, gz=False)
    train, test, everything = (load_data(DataConfig(source=str(folder), split=s)) for s in ("auto", "test", "all"))
    assert len(train) == 20 and len(test) == 10 and len(everything) == 30
    assert torch.equal(test.x[:, 0], torch.from_numpy(images[20:]))
    assert torch.equal(test.y, torch.from_numpy(labels[20:]))
    assert train.spec.class_names == FASHION_NAMES  # "fashion" in the path: Fashion-MNIST's class names
    other = write_idx_folder(tmp_path / "digits-idx", images, labels, test=10)
    assert load_data(DataConfig(source=str(other))).spec.class_names == tuple(str(i) for i in range(10))


def test_missing_files_name_the_package_and_the_folder_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path))  # an empty folder
    code = main(["train", "--data", "fashion-mnist", "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "'fashion-mnist'", "apt-get install dataset-fashion-mnist",
             "--data path/to/dir")


def test_a_test_split_where_the_source_has_none_is_one_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--data", "ring", "--data.split", "test", "--out", str(tmp_path / "r"), *TINY_CLI])
    one_line(code, capsys.readouterr().err, "data.split 'test' needs a data set with a fixed held-out split",
             "fashion-mnist", "'ring' has none")


@real_files
def test_the_built_in_set_has_the_official_split_and_class_names() -> None:
    test = load_data(DataConfig(source="fashion-mnist", split="test"))
    assert tuple(test.x.shape) == (10_000, 1, 28, 28) and test.x.dtype == torch.uint8
    assert torch.bincount(test.y).tolist() == [1000] * 10 and test.spec.class_names == FASHION_NAMES
    train = load_data(DataConfig(source="fashion-mnist"))  # auto: the 60,000 training images
    assert len(train) == 60_000 and torch.bincount(train.y).tolist() == [6000] * 10


@real_files
def test_two_training_steps_on_the_real_files_then_a_class_sample(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["train", "--family", "cgan", "--data", "fashion-mnist", "--out", str(out), *TINY_CLI]) == 0
    assert main(["sample", str(out), "--class", "Ankle boot", "--n", "4", "--out", str(tmp_path / "boots.npy")]) == 0
    assert "of class Ankle boot" in capsys.readouterr().out and np.load(tmp_path / "boots.npy").shape == (4, 1, 28, 28)


@pytest.fixture(scope="module")
def small_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,500 training and 500 test images of the real set, as an IDX folder (the classifier trains in seconds)."""
    if not fashion_mnist_present():
        pytest.skip(FASHION_MNIST_MISSING)
    train = load_data(DataConfig(source="fashion-mnist", split="train", max_samples=1500))
    test = load_data(DataConfig(source="fashion-mnist", split="test", max_samples=500))
    images = torch.cat([train.x, test.x])[:, 0].numpy()
    labels = torch.cat([train.y, test.y]).numpy()
    return write_idx_folder(tmp_path_factory.mktemp("fashion-small"), images, labels, test=500)


@pytest.fixture
def tiny_classifier(small_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[classifier.ClassifierRecipe]:
    """The built-in source pointed at the small copy, and a 2-epoch recipe standing in for the domain one."""
    monkeypatch.setenv(FASHION_MNIST_ENV, str(small_copy))
    recipe = classifier.ClassifierRecipe(data="fashion-mnist", held_out_per_class=0, epochs=2, batch_size=64,
                                         max_shift=1.0, max_rotation=0.0, max_scale=0.0)
    monkeypatch.setitem(classifier.DOMAIN_RECIPES, "fashion-mnist", recipe)
    monkeypatch.setitem(classifier.MIN_ACCURACIES, "fashion-mnist", 0.5)
    yield recipe


def test_the_classifier_trains_on_the_training_files_is_cached_and_beats_chance(
        tiny_classifier: classifier.ClassifierRecipe) -> None:
    features = classifier.FashionMNISTFeatures(progress=False)
    meta = features.meta
    assert meta["held_out_accuracy"] > 0.6  # 10 classes: chance is 0.1
    assert classifier.FashionMNISTFeatures(progress=False).meta == meta  # the second one is read from the cache
    protocol = features.protocol()
    assert protocol["extractor"] == "fashion-mnist" and protocol["classifier"].startswith("fashion-mnist-")
    test = load_data(DataConfig(source="fashion-mnist", split="test"))
    extracted = features.extract(test.x[:200])
    assert extracted.features.shape == (200, 256) and extracted.probabilities is not None
    assert float((extracted.probabilities.argmax(1) == test.y[:200]).double().mean()) > 0.6


def test_eval_against_the_test_images_records_the_protocol(tiny_classifier: classifier.ClassifierRecipe,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    assert main(["train", "--data", "fashion-mnist", "--out", str(out), *TINY_CLI]) == 0
    args = ["eval", str(out), "--features", "fashion-mnist", "--metrics", "fid,kid,pr,classes", "--n", "100",
            "--threads", "1"]
    assert main([*args, "--real-split", "test"]) == 0 and main(args) == 0
    capsys.readouterr()
    test = json.loads((out / "eval" / "step-0000002-test.json").read_text())
    train = json.loads((out / "eval" / "step-0000002.json").read_text())
    assert test["protocol"]["real"] == {"source": "fashion-mnist", "split": "test", "count": 100, "of": 500,
                                        "held_out": True}
    assert train["protocol"]["real"] == {"source": "fashion-mnist", "split": "train", "count": 100, "of": 1500,
                                         "held_out": False}
    assert test["results"]["fashion-mnist/fid"] != train["results"]["fashion-mnist/fid"]
    assert {"fashion-mnist/kid", "fashion-mnist/precision", "fashion-mnist/class_kl"} <= set(test["results"])
    code = main(["eval", str(out), "--real-split", "tests"])
    one_line(code, capsys.readouterr().err, "--real-split: invalid choice: 'tests'")
    code = main(["eval", str(out), "--real-split", "test,test"])
    one_line(code, capsys.readouterr().err, "--real-split", "twice")


def test_eval_against_both_splits_extracts_the_samples_once_and_scores_as_two_runs(
        tiny_classifier: classifier.ClassifierRecipe, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r"
    assert main(["train", "--data", "fashion-mnist", "--out", str(out), *TINY_CLI]) == 0
    args = ["eval", str(out), "--features", "fashion-mnist", "--metrics", "fid,kid,classes", "--n", "100",
            "--threads", "1"]
    separate = {}
    for split, name in (("test", "step-0000002-test.json"), ("train", "step-0000002.json")):
        assert main([*args, "--real-split", split]) == 0
        separate[split] = json.loads((out / "eval" / name).read_text())
    extractions: list[int] = []
    extract = classifier.FashionMNISTFeatures.extract

    def counted(self: classifier.FashionMNISTFeatures, images: torch.Tensor, **kwargs: object) -> object:
        extractions.append(len(images))
        return extract(self, images, **kwargs)

    monkeypatch.setattr(classifier.FashionMNISTFeatures, "extract", counted)
    assert main([*args, "--real-split", "test,train"]) == 0
    capsys.readouterr()
    assert extractions == [100]  # the samples once; both real sets' features come from the cache
    both = {"test": json.loads((out / "eval" / "step-0000002-test.json").read_text()),
            "train": json.loads((out / "eval" / "step-0000002.json").read_text())}
    for split in ("test", "train"):
        assert both[split]["results"] == separate[split]["results"]
        assert both[split]["protocol"] == separate[split]["protocol"]
