"""Data sources: built-in sets, toy mixtures, image folders, array files, and the epoch sampler."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import BUILTIN, EpochSampler, load_data, source_kind
from ganforge.data.spec import SPEC_SCHEMA
from ganforge.data.splits import split_by_item
from ganforge.data.toy import TOY_MIXTURES
from ganforge.errors import DataError
from ganforge.schema import validate

from conftest import FASHION_MNIST_MISSING, fashion_mnist_present, write_image


def test_mnist_is_the_5000_real_labelled_digits() -> None:
    data = load_data(DataConfig(source="mnist"))
    assert data.x.shape == (5000, 1, 28, 28) and data.x.dtype == torch.uint8
    assert torch.bincount(data.y).tolist() == [500] * 10
    assert data.spec.num_classes == 10 and data.spec.kind == "image"
    # real strokes: mostly black background with bright pixels
    assert 0.6 < (data.x == 0).float().mean().item() < 0.95 and data.x.max().item() == 255


def test_digits_resizes_to_the_requested_resolution() -> None:
    data = load_data(DataConfig(source="digits", resolution=16))
    assert data.x.shape == (1797, 1, 16, 16)
    assert data.spec.shape == (1, 16, 16)


@pytest.mark.parametrize(("name", "modes", "std"), [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_toy_mixtures_follow_pacgan(name: str, modes: int, std: float) -> None:
    data = load_data(DataConfig(source=name))
    centres, _ = TOY_MIXTURES[name]
    assert data.x.shape == (100_000, 2) and len(centres) == modes
    nearest = torch.cdist(data.x.double(), torch.tensor(centres)).argmin(dim=1)
    offsets = data.x.double() - torch.tensor(centres)[nearest]
    assert offsets.std().item() == pytest.approx(std, rel=0.02)
    assert torch.bincount(nearest, minlength=modes).min().item() > 100_000 / modes * 0.9


def test_ring_and_grid_centres() -> None:
    ring, _ = TOY_MIXTURES["ring"]
    assert np.allclose(np.linalg.norm(ring, axis=1), 1.0)
    grid, _ = TOY_MIXTURES["grid"]
    assert sorted(set(grid[:, 0].round(6))) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_batches_are_encoded_to_minus_one_one() -> None:
    data = load_data(DataConfig(source="mnist", max_samples=10))
    batch = data.batch(torch.arange(10), torch.device("cpu"))
    assert batch["x"].min().item() == -1.0 and batch["x"].max().item() == 1.0
    assert data.spec.decode(batch["x"]).min().item() == 0.0


def test_image_folder_with_class_subfolders_gives_labels(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "cats" / f"{i}.png", (40, 30), seed=i)
        write_image(tmp_path / "dogs" / "deep" / f"{i}.jpg", (20, 50), seed=10 + i)
    data = load_data(DataConfig(source=str(tmp_path), resolution=16))
    assert data.x.shape == (6, 3, 16, 16)
    assert data.spec.class_names == ("cats", "dogs") and data.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_grey_folder_stays_grey_and_can_be_forced_to_rgb(tmp_path: Path) -> None:
    for i in range(2):
        write_image(tmp_path / f"{i}.bmp", (12, 12), mode="L", seed=i)
    assert load_data(DataConfig(source=str(tmp_path), resolution=8)).x.shape == (2, 1, 8, 8)
    assert load_data(DataConfig(source=str(tmp_path), resolution=8, channels=3)).x.shape == (2, 3, 8, 8)
    assert load_data(DataConfig(source=str(tmp_path), resolution=8)).y is None


def test_resize_crops_the_centre(tmp_path: Path) -> None:
    from PIL import Image

    wide = np.zeros((10, 30), dtype=np.uint8)
    wide[:, 10:20] = 255  # white centre square, black sides
    Image.fromarray(wide, "L").save(tmp_path / "wide.png")
    data = load_data(DataConfig(source=str(tmp_path), resolution=10))
    assert data.x.float().mean().item() > 250


def test_truncated_files_are_skipped_with_one_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_image(tmp_path / "good.jpg", (16, 16))
    (tmp_path / "cut.jpg").write_bytes(good.read_bytes()[:200])
    (tmp_path / "junk.png").write_bytes(b"not an image")
    data = load_data(DataConfig(source=str(tmp_path), resolution=8))
    assert len(data) == 1
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "skipped 2" in err and "cut.jpg" in err and "junk.png" in err


def test_folder_with_no_readable_image_fails(tmp_path: Path) -> None:
    (tmp_path / "junk.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="none of its 1 image files could be read"):
        load_data(DataConfig(source=str(tmp_path), resolution=8))


def test_empty_and_missing_sources_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no images"):
        load_data(DataConfig(source=str(tmp_path)))
    with pytest.raises(DataError, match=r"unknown data source 'nowhere'.*mnist, digits, ring, grid"):
        source_kind("nowhere")
    with pytest.raises(DataError, match="does not exist"):
        source_kind(str(tmp_path / "x.npy"))
    (tmp_path / "table.txt").write_text("1,2")
    with pytest.raises(DataError, match="unsupported type"):
        source_kind(str(tmp_path / "table.txt"))


def test_npy_images_any_layout(tmp_path: Path, image_array: Path) -> None:
    data = load_data(DataConfig(source=str(image_array)))
    assert data.x.shape == (40, 3, 16, 16) and source_kind(str(image_array)) == "image"
    floats = tmp_path / "floats.npy"
    np.save(floats, np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32))
    assert load_data(DataConfig(source=str(floats))).x.shape == (5, 1, 8, 8)


def test_npz_vectors_are_standardised_and_decode_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(100, 4)).astype(np.float32)
    path = tmp_path / "table.npz"
    np.savez(path, x=x, y=rng.integers(0, 3, 100))
    data = load_data(DataConfig(source=str(path)))
    assert data.spec.kind == "vector" and data.spec.num_classes == 3
    assert data.x.mean(0).abs().max().item() < 1e-5
    assert torch.allclose(data.spec.decode(data.x), torch.from_numpy(x), atol=1e-4)


def test_bad_arrays_name_the_file_and_shape(tmp_path: Path) -> None:
    path = tmp_path / "odd.npy"
    np.save(path, np.zeros((3, 5, 6, 7)))
    with pytest.raises(DataError, match=r"odd.npy' has shape \(3, 5, 6, 7\)"):
        load_data(DataConfig(source=str(path)))
    keys = tmp_path / "keys.npz"
    np.savez(keys, a=np.zeros((2, 2)), b=np.zeros((2, 2)))
    with pytest.raises(DataError, match=r"holds arrays \['a', 'b'\]"):
        load_data(DataConfig(source=str(keys)))
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="could not be read"):
        load_data(DataConfig(source=str(broken)))


def test_sampler_is_reproducible_and_resumes_exactly() -> None:
    a, b = EpochSampler(20, 6, seed=3), EpochSampler(20, 6, seed=3)
    first = [a.next_indices() for _ in range(7)]  # crosses two epoch boundaries (3 batches per epoch)
    assert all(torch.equal(x, b.next_indices()) for x in first)
    c = EpochSampler(20, 6, seed=3)
    for _ in range(4):
        c.next_indices()
    d = EpochSampler(20, 6, seed=3)
    d.load_state_dict(c.state_dict())
    assert all(torch.equal(c.next_indices(), d.next_indices()) for _ in range(5))
    epoch = torch.cat(first[:3])
    assert len(set(epoch.tolist())) == 18  # no repeats within an epoch


def test_sampler_gives_each_rank_disjoint_batches() -> None:
    ranks = [EpochSampler(40, 5, seed=0, rank=r, world_size=2) for r in range(2)]
    seen = [set(s.next_indices().tolist()) for s in ranks]
    assert not seen[0] & seen[1]


def test_stacked_mnist_has_a_real_digit_per_channel_and_1000_modes() -> None:
    stacked = load_data(DataConfig(source="stacked-mnist"))
    digits = load_data(DataConfig(source="mnist"))
    assert stacked.x.shape == (128_000, 3, 28, 28) and stacked.spec.num_classes == 1000
    assert len(torch.unique(stacked.y)) == 1000
    label = int(stacked.y[0])
    for channel, digit in enumerate((label // 100, label // 10 % 10, label % 10)):
        matches = (digits.x[:, 0] == stacked.x[0, channel]).flatten(1).all(dim=1)
        assert digits.y[matches].tolist()[0] == digit


@pytest.mark.parametrize("name", list(BUILTIN))
def test_every_builtin_source_loads_with_a_spec_that_validates(name: str) -> None:
    if name in ("faces", "photos") and importlib.util.find_spec("skimage") is None:
        pytest.skip("scikit-image is not installed (pip install 'ganforge[photos]')")
    if name == "fashion-mnist" and not fashion_mnist_present():
        pytest.skip(FASHION_MNIST_MISSING)
    data = load_data(DataConfig(source=name, max_samples=16))
    assert len(data) == 16 and data.spec.shape == tuple(data.x.shape[1:]) and source_kind(name) == data.spec.kind
    raw = json.loads(json.dumps(data.spec.to_dict()))  # as generator.json holds it
    validate(raw, SPEC_SCHEMA, Path("generator.json"), "re-export it")
    assert data.source is None and not data.spec.image_conditioned


def test_split_by_item_and_the_sets_that_have_a_split(tmp_path: Path) -> None:
    train, test = split_by_item(torch.arange(10).repeat(2), 3)
    assert sorted(set((torch.arange(10).repeat(2)[test]).tolist())) == [2, 5, 8] and len(train) + len(test) == 20
    write_image(tmp_path / "a.png", (8, 8))
    with pytest.raises(DataError, match=r"fixed held-out split \(mnist, digits, photos, faces, fashion-mnist, "
                                        r"a folder of IDX files\)"):
        load_data(DataConfig(source=str(tmp_path), split="test"))
