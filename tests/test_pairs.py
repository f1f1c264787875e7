"""Image pairs for image-conditioned generators: data.pairs derivations, paired folders (data.target), and the
built-in faces and photos."""

from __future__ import annotations

import importlib.util
import json
import socket
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from ganforge.config import DataConfig, from_overrides
from ganforge.data import BUILTIN, load_data, photo_names, read_photo
from ganforge.data.builtin import PHOTOS
from ganforge.data.pairs import PAIR_FORMS, derive_inputs, parse_pairs
from ganforge.data.spec import SPEC_SCHEMA, DataSpec
from ganforge.data.splits import split_indices
from ganforge.errors import ConfigError, DataError
from ganforge.schema import validate

needs_skimage = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                   reason="scikit-image is not installed (pip install 'ganforge[photos]')")


def _npy(tmp_path: Path, images: np.ndarray, name: str = "images.npy") -> str:
    """Save uint8 images (N, C, H, W) as a .npy source; returns its path."""
    path = tmp_path / name
    np.save(path, images.astype(np.uint8))
    return str(path)


def _rgb(tmp_path: Path, n: int = 6, side: int = 32) -> str:
    return _npy(tmp_path, np.random.default_rng(0).integers(0, 256, (n, 3, side, side)))


def _constant(tmp_path: Path, value: int, n: int = 8, side: int = 32, channels: int = 1) -> str:
    return _npy(tmp_path, np.full((n, channels, side, side), value), f"constant{value}.npy")


KINDS = [("downscale2", (3, 16, 16)), ("downscale4", (3, 8, 8)), ("downscale8", (3, 4, 4)), ("edges", (1, 32, 32)),
         ("grey", (1, 32, 32)), ("noise0.1", (3, 32, 32)), ("blur1.5", (3, 32, 32)), ("mask25", (3, 32, 32))]


@pytest.mark.parametrize(("pairs", "shape"), KINDS)
def test_every_kind_gives_uint8_inputs_aligned_with_the_targets(tmp_path: Path, pairs: str,
                                                                  shape: tuple[int, ...]) -> None:
    data = load_data(DataConfig(source=_rgb(tmp_path), pairs=pairs))
    assert data.x.shape == (6, 3, 32, 32) and data.source is not None
    assert data.source.shape == (6, *shape) and data.source.dtype == torch.uint8
    assert data.spec.pairs == pairs and data.spec.source_shape == shape and data.spec.image_conditioned


@pytest.mark.parametrize(("pairs", "shape"), KINDS)
def test_two_loads_give_the_same_inputs(tmp_path: Path, pairs: str, shape: tuple[int, ...]) -> None:
    config = DataConfig(source=_rgb(tmp_path), pairs=pairs)
    assert torch.equal(load_data(config).source, load_data(config).source)


def test_no_pairs_means_no_source(tmp_path: Path) -> None:
    data = load_data(DataConfig(source=_rgb(tmp_path)))
    assert data.source is None and data.spec.source_shape == () and data.spec.pairs == ""
    assert not data.spec.image_conditioned and "source" not in data.batch(torch.arange(2), torch.device("cpu"))


def test_downscale_of_a_constant_image_is_constant(tmp_path: Path) -> None:
    data = load_data(DataConfig(source=_constant(tmp_path, 77), pairs="downscale4"))
    assert data.source.shape == (8, 1, 8, 8) and bool((data.source == 77).all())


def test_downscale4_of_mnist_is_pillows_bicubic_7px_and_keeps_labels() -> None:
    data = load_data(DataConfig(source="mnist", pairs="downscale4", max_samples=32))
    assert data.source.shape == (32, 1, 7, 7) and data.spec.source_shape == (1, 7, 7)
    for image, small in zip(data.x[:, 0].numpy(), data.source[:, 0].numpy(), strict=True):
        expected = np.asarray(Image.fromarray(image, "L").resize((7, 7), Image.Resampling.BICUBIC))
        assert np.array_equal(small, expected)
    assert data.y is not None and data.spec.num_classes == 10  # label preservation metrics need them


def test_downscale_refuses_sizes_it_cannot_divide(tmp_path: Path) -> None:
    source = _npy(tmp_path, np.zeros((2, 1, 28, 28)))
    with pytest.raises(DataError, match=r"'downscale8'.*28x28.*downscale2 or downscale4.*--data.resolution 32") as info:
        load_data(DataConfig(source=source, pairs="downscale8"))
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match=r"'downscale4'.*at least 16 px.*'digits' gives 8x8.*downscale2"):
        load_data(DataConfig(source="digits", pairs="downscale4", max_samples=4))


@pytest.mark.parametrize("std", [0.05, 0.1])
def test_noise_has_the_asked_std_on_mid_grey(tmp_path: Path, std: float) -> None:
    data = load_data(DataConfig(source=_constant(tmp_path, 128, n=16), pairs=f"noise{std}"))
    offsets = data.source.double() - 128.0
    assert offsets.std().item() == pytest.approx(std * 255.0, rel=0.03)
    assert abs(offsets.mean().item()) < 0.5 and torch.equal(data.x, torch.full_like(data.x, 128))


def test_random_pairs_follow_the_seed_and_each_sample_its_index() -> None:
    full = load_data(DataConfig(source="digits", pairs="noise0.2"))
    other_seed = load_data(DataConfig(source="digits", pairs="noise0.2", pairs_seed=1))
    assert not torch.equal(full.source, other_seed.source)
    first = load_data(DataConfig(source="digits", pairs="noise0.2", max_samples=300))
    assert torch.equal(first.source, full.source[:300])
    # a held-out digit gets the same input whether loaded alone (split test) or with all the others
    held_out = load_data(DataConfig(source="digits", pairs="mask30", split="test"))
    everything = load_data(DataConfig(source="digits", pairs="mask30"))
    positions = split_indices("digits", everything.y, "test")
    assert torch.equal(held_out.x, everything.x[positions]) and torch.equal(held_out.y, everything.y[positions])
    assert torch.equal(held_out.source, everything.source[positions])


@pytest.mark.parametrize("percent", [5, 25, 50, 90])
def test_mask_covers_the_asked_share_as_one_square(tmp_path: Path, percent: int) -> None:
    side = 20
    data = load_data(DataConfig(source=_constant(tmp_path, 0, n=12, side=side, channels=3), pairs=f"mask{percent}"))
    hole = data.source == 128
    assert torch.equal(hole.all(dim=1), hole.any(dim=1))  # every channel, the same pixels
    corners = set()
    for image in hole[:, 0]:
        rows, cols = torch.nonzero(image, as_tuple=True)
        area = int(image.sum())
        assert abs(area - percent / 100 * side * side) <= side  # within one pixel row
        assert (int(rows.max() - rows.min()) + 1) ** 2 == area == (int(cols.max() - cols.min()) + 1) ** 2
        corners.add((int(rows.min()), int(cols.min())))
    assert len(corners) > 1  # drawn at random places


def test_edges_of_flat_and_step_images(tmp_path: Path) -> None:
    flat = load_data(DataConfig(source=_constant(tmp_path, 90, channels=3), pairs="edges"))
    assert flat.source.shape == (8, 1, 32, 32) and int(flat.source.max()) == 0
    step = np.zeros((2, 3, 32, 32))
    step[:, :, :, 16:] = 200  # a vertical step between columns 15 and 16
    edges = load_data(DataConfig(source=_npy(tmp_path, step), pairs="edges")).source[:, 0]
    assert int(edges.max()) == 255
    columns = torch.nonzero(edges.amax(dim=(0, 1))).flatten().tolist()
    assert columns == [15, 16] and bool((edges[:, :, 15:17] == 255).all())


def test_grey_is_the_itu_601_luma_and_refuses_grey_sources(tmp_path: Path) -> None:
    data = load_data(DataConfig(source=_rgb(tmp_path, n=2, side=16), pairs="grey"))
    assert data.source.shape == (2, 1, 16, 16)
    for rgb, grey in zip(data.x.numpy().astype(int), data.source[:, 0].numpy(), strict=True):
        for r, g, b, y in zip(rgb[0].flat, rgb[1].flat, rgb[2].flat, grey.flat, strict=True):
            luma = Fraction(299 * r + 587 * g + 114 * b, 1000)
            assert y == int(luma + Fraction(1, 2))  # rounded half up
    with pytest.raises(DataError, match=r"'grey'.*'digits' is grey \(1 channel\).*no colour to learn") as info:
        load_data(DataConfig(source="digits", pairs="grey", max_samples=4))
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="channels of 'digits' are equal"):
        load_data(DataConfig(source="digits", pairs="grey", channels=3, max_samples=4))


def test_blur_is_pillows_gaussian_blur(tmp_path: Path) -> None:
    data = load_data(DataConfig(source=_rgb(tmp_path, n=2), pairs="blur2"))
    image = Image.fromarray(data.x[1].numpy().transpose(1, 2, 0), "RGB")
    expected = np.asarray(image.filter(ImageFilter.GaussianBlur(2.0))).transpose(2, 0, 1)
    assert np.array_equal(data.source[1].numpy(), expected)
    assert data.source.float().std() < data.x.float().std() / 2  # random pixels lose most of their detail
    flat = load_data(DataConfig(source=_constant(tmp_path, 40), pairs="blur3"))
    assert bool((flat.source == 40).all())


@pytest.mark.parametrize("pairs", ["grey", "downscale2", "mask40"])
def test_batches_encode_the_source_and_keep_it_aligned(tmp_path: Path, pairs: str) -> None:
    data = load_data(DataConfig(source=_rgb(tmp_path, n=8), pairs=pairs))
    indices = torch.tensor([5, 0, 7, 2])
    batch = data.to(torch.device("cpu")).batch(indices, torch.device("cpu"))
    assert batch["source"].dtype == torch.float32 and batch["source"].shape == (4, *data.spec.source_shape)
    assert batch["source"].min() >= -1.0 and batch["source"].max() <= 1.0
    assert torch.equal(batch["source"], data.source[indices].float() / 127.5 - 1.0)
    # row k of the batch's source is derived from row k of its x (the sample's index seeds a random mask)
    batch_x = ((batch["x"] + 1.0) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(batch_x, data.x[indices].numpy())
    assert np.array_equal(derive_inputs(batch_x, pairs, 0, indices.numpy(), "batch"), data.source[indices].numpy())


def test_the_spec_records_pairs_and_round_trips_through_its_schema() -> None:
    data = load_data(DataConfig(source="digits", pairs="downscale2", max_samples=8))
    raw = data.spec.to_dict()
    assert raw["pairs"] == "downscale2" and raw["source_shape"] == (1, 4, 4)
    as_json = json.loads(json.dumps(raw))  # as generator.json holds it
    validate(as_json, SPEC_SCHEMA, Path("generator.json"), "re-export it")
    assert DataSpec.from_dict(as_json) == data.spec
    old = {k: v for k, v in as_json.items() if k not in ("pairs", "source_shape")}  # written before pairs existed
    validate(old, SPEC_SCHEMA, Path("generator.json"), "re-export it")
    assert not DataSpec.from_dict(old).image_conditioned


BAD_PAIRS = ["downscale3", "downscale", "downscale4.0", "noise2", "noise0", "noise-0.1", "mask0", "mask100",
             "blur0", "edges2", "Downscale4", "foo", "", "grey "]


@pytest.mark.parametrize("text", BAD_PAIRS)
def test_bad_pair_specs_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="data.pairs") as info:
        from_overrides({"data.pairs": text})
    message = str(info.value)
    assert "\n" not in message and repr(text) in message and PAIR_FORMS in message


def test_good_pair_specs_parse() -> None:
    assert parse_pairs("noise.5").amount == 0.5 and parse_pairs("mask12.5").amount == 12.5
    assert parse_pairs("downscale8").kind == "downscale" and parse_pairs("blur0.3").kind == "blur"
    assert from_overrides({"data.pairs": "noise1", "data.pairs_seed": 3}).data.pairs_seed == 3
    with pytest.raises(ConfigError, match="pairs_seed"):
        from_overrides({"data.pairs_seed": -1})


def test_pairs_need_images() -> None:
    with pytest.raises(DataError, match="'ring' holds vectors"):
        load_data(DataConfig(source="ring", pairs="edges"))


def _write_constant(path: Path, value: int | tuple[int, int, int], size: int = 24) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "L" if isinstance(value, int) else "RGB"
    Image.new(mode, (size, size), value).save(path)


def test_paired_folders_match_images_by_name(tmp_path: Path) -> None:
    names = ["b", "a", "c"]
    for k, name in enumerate(names):  # inputs grey (e.g. edge maps), targets RGB photos; k ties them together
        _write_constant(tmp_path / "A" / f"{name}.png", 10 + 40 * k)
        _write_constant(tmp_path / "B" / f"{name}.jpg", (100 + 40 * k, 0, 0), size=40)
    data = load_data(DataConfig(source=str(tmp_path / "A"), target=str(tmp_path / "B"), resolution=16))
    assert data.x.shape == (3, 3, 16, 16) and data.source.shape == (3, 1, 16, 16)
    assert data.spec.pairs == "target" and data.spec.source_shape == (1, 16, 16)
    for x, source in zip(data.x, data.source, strict=True):
        k = (int(source.float().mean().round()) - 10) // 40
        assert abs(x[0].float().mean().item() - (100 + 40 * k)) < 3  # jpeg: nearly exact
    batch = data.batch(torch.arange(3), torch.device("cpu"))
    assert batch["source"].shape == (3, 1, 16, 16)


def test_paired_folders_refuse_unmatched_names(tmp_path: Path) -> None:
    for name in ["a", "b", "c", "d", "e", "f", "g"]:
        _write_constant(tmp_path / "A" / f"{name}.png", 0)
    for name in ["a", "b", "z"]:
        _write_constant(tmp_path / "B" / f"{name}.png", 0)
    with pytest.raises(DataError) as info:
        load_data(DataConfig(source=str(tmp_path / "A"), target=str(tmp_path / "B"), resolution=8))
    message = str(info.value)
    assert "\n" not in message
    assert "5 of the 7 names in data.source" in message and "c, d, e, f, g" in message
    assert "1 of the 3 names in data.target" in message and "(z)" in message


def test_targets_that_are_not_paired_folders_are_refused(tmp_path: Path) -> None:
    _write_constant(tmp_path / "A" / "a.png", 0)
    for source, target, said in [(str(tmp_path / "A"), "mnist", "built-in data set"),
                                 ("mnist", str(tmp_path / "A"), "is not a folder"),
                                 (str(tmp_path / "A"), str(tmp_path / "nowhere"), "does not exist")]:
        with pytest.raises(DataError, match=f"{said}.*unpaired domain is for --family cyclegan"):
            load_data(DataConfig(source=source, target=target))
    with pytest.raises(ConfigError, match="data.pairs.*data.target.*not both"):
        from_overrides({"data.pairs": "edges", "data.target": str(tmp_path / "A")})


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network, and an empty scikit-image data cache: a download attempt would fail loudly."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data set tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("SKIMAGE_DATADIR", str(tmp_path / "skimage-cache"))


@needs_skimage
def test_faces_are_the_100_lfw_faces_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _offline(monkeypatch, tmp_path)
    faces = load_data(DataConfig(source="faces"))
    assert faces.x.shape == (100, 1, 25, 25) and faces.x.dtype == torch.uint8 and faces.y is None
    import skimage.data

    assert np.array_equal(faces.x[:, 0].numpy(), np.round(skimage.data.lfw_subset()[:100] * 255).astype(np.uint8))
    train, test = (load_data(DataConfig(source="faces", split=s)) for s in ("train", "test"))
    assert len(train) == 75 and len(test) == 25 and torch.equal(test.x, faces.x[3::4])
    assert not (tmp_path / "skimage-cache").exists()


def _find_crop(photo: np.ndarray, crop: np.ndarray) -> bool:
    """Whether `crop` (3, R, R) is a pixel-exact crop of `photo` (3, H, W)."""
    side = crop.shape[1]
    windows = np.lib.stride_tricks.sliding_window_view(photo, side, axis=2)  # (3, H, W - R + 1, R)
    rows, cols = np.nonzero((windows == crop[:, 0][:, None, None, :]).all(axis=(0, 3)))
    return any(np.array_equal(photo[:, r : r + side, c : c + side], crop) for r, c in zip(rows, cols, strict=True))


def _photo_file(name: str) -> Image.Image:
    """A photograph read by its package's own loader: an independent path to the pixels."""
    if name == "china":
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image("china.jpg"))
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


@needs_skimage
def test_photos_are_fixed_crops_with_photos_held_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _offline(monkeypatch, tmp_path)
    photos = load_data(DataConfig(source="photos"))
    assert photos.x.shape == (len(PHOTOS) * 64, 3, 96, 96) and photos.y is None and photos.spec.shape == (3, 96, 96)
    import skimage.data

    astronaut = skimage.data.astronaut().transpose(2, 0, 1)
    assert _find_crop(astronaut, photos.x[0].numpy())  # crop 0 of the first photo in sorted names
    assert torch.equal(photos.x, load_data(DataConfig(source="photos")).x)
    train, test = (load_data(DataConfig(source="photos", split=s)) for s in ("train", "test"))
    assert (len(train), len(test)) == (5 * 64, 2 * 64)
    assert not {bytes(x.numpy()) for x in test.x} & {bytes(x.numpy()) for x in train.x}
    assert photo_names("test") == ["china", "hubble_deep_field"] and len(photo_names("train")) == 5  # whole photos
    assert sorted(photo_names("train") + photo_names("test")) == photo_names("all") == sorted(PHOTOS)
    for k, name in enumerate(photo_names("test")):  # the test split's crops come from its whole photographs
        assert np.array_equal(read_photo(name), np.asarray(_photo_file(name)).transpose(2, 0, 1))
        assert _find_crop(read_photo(name), test.x[k].numpy())
    small = load_data(DataConfig(source="photos", resolution=32, pairs="downscale4", max_samples=14))
    assert small.x.shape == (14, 3, 32, 32) and small.source.shape == (14, 3, 8, 8)
    assert not (tmp_path / "skimage-cache").exists()


def test_faces_and_photos_without_scikit_image_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skimage" else real(name, *a))
    for source in ("faces", "photos"):
        with pytest.raises(DataError, match=rf"'{source}' needs the Python package 'skimage'.*ganforge\[photos\]"):
            load_data(DataConfig(source=source))
    assert "not its non-faces" in BUILTIN["faces"].description and "held out" in BUILTIN["photos"].description
