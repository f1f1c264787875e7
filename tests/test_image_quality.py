"""PSNR and SSIM against scikit-image (an independent implementation) and a direct numpy BT.601 Y channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import ConfigError
from ganforge.metrics import mean_psnr, mean_ssim, psnr, rgb_to_y, ssim

skimage = pytest.importorskip("skimage")
from skimage import data as skdata  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

SSIM_TOLERANCE = 1e-4  # measured: below 1e-15 everywhere here
PSNR_RELATIVE_TOLERANCE = 1e-6  # measured: below 1e-15


def crop(images: np.ndarray, border: int) -> np.ndarray:
    return images[..., border:images.shape[-2] - border, border:images.shape[-1] - border] if border else images


def skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float, window: int | str = "gaussian") -> np.ndarray:
    """Per-image SSIM of (N, C, H, W) arrays; colour images through channel_axis, grey ones as 2-D arrays."""
    if window == "gaussian":
        options = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}
    else:
        options = {"win_size": window}  # skimage's defaults: uniform window, sample covariance
    scores = []
    for x, y in zip(a, b, strict=True):
        if x.shape[0] == 1:
            scores.append(structural_similarity(x[0], y[0], data_range=data_range, **options))
        else:
            scores.append(structural_similarity(x, y, data_range=data_range, channel_axis=0, **options))
    return np.array(scores)


def skimage_psnr(a: np.ndarray, b: np.ndarray, data_range: float) -> np.ndarray:
    return np.array([peak_signal_noise_ratio(y, x, data_range=data_range) for x, y in zip(a, b, strict=True)])


def numpy_y(images: np.ndarray) -> np.ndarray:
    """BT.601 luma on the [16, 235] scale (MATLAB rgb2ycbcr) of (N, 3, H, W) RGB in [0, 1]."""
    return 16.0 + 65.481 * images[:, 0:1] + 128.553 * images[:, 1:2] + 24.966 * images[:, 2:3]


def noisy(images: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(images + sigma * rng.standard_normal(images.shape), 0.0, 1.0)


def blurred(images: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur with edge padding, in numpy."""
    padded = np.pad(images, [(0, 0), (0, 0), (1, 1), (1, 1)], mode="edge")
    taps = np.array([0.25, 0.5, 0.25])
    rows = sum(t * padded[:, :, i:i + images.shape[2], :] for i, t in enumerate(taps))
    return sum(t * rows[:, :, :, j:j + images.shape[3]] for j, t in enumerate(taps))


def super_resolved(images: np.ndarray, scale: int = 4) -> np.ndarray:
    """A x4 'super-resolution' of the images: area downscale then bicubic upscale, clipped to [0, 1]."""
    t = torch.from_numpy(images)
    small = F.avg_pool2d(t, scale)
    return F.interpolate(small, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1).numpy()


def real_targets(channels: int) -> np.ndarray:
    """Four 48x48 crops of skimage's camera (grey) or astronaut (colour) photographs, floats in [0, 1]."""
    if channels == 1:
        photo = skdata.camera()[None].astype(np.float64) / 255
    else:
        photo = skdata.astronaut().transpose(2, 0, 1).astype(np.float64) / 255
    corners = [(60, 200), (200, 180), (300, 300), (400, 64)]
    return np.stack([photo[:, r:r + 48, c:c + 48] for r, c in corners])


def pairs(kind: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(output, target) batches: random images with noise, or real crops noised, blurred and super-resolved."""
    if kind == "random":
        target = np.random.default_rng(channels).random((3, channels, 33, 40))
        return noisy(target, 0.1, seed=1), target
    target = real_targets(channels)
    outputs = [noisy(target[:1], 0.05, seed=2)[0], blurred(target[1:2])[0], super_resolved(target[2:3])[0],
               noisy(blurred(target[3:4]), 0.02, seed=3)[0]]
    return np.stack(outputs), target


@pytest.mark.parametrize("border", [0, 4])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "real"])
def test_ssim_matches_skimage_with_the_gaussian_window(kind: str, channels: int, border: int) -> None:
    output, target = pairs(kind, channels)
    ours = ssim(torch.from_numpy(output), torch.from_numpy(target), data_range=1.0, border=border).numpy()
    expected = skimage_ssim(crop(output, border), crop(target, border), data_range=1.0)
    assert ours.shape == (len(target),)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=SSIM_TOLERANCE)


@pytest.mark.parametrize("window", [3, 7])
@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_with_a_uniform_window_matches_skimage_defaults(channels: int, window: int) -> None:
    output, target = pairs("real", channels)
    ours = ssim(output, target, data_range=1.0, window=window).numpy()
    np.testing.assert_allclose(ours, skimage_ssim(output, target, 1.0, window), rtol=0, atol=SSIM_TOLERANCE)


@pytest.mark.parametrize("border", [0, 4])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "real"])
def test_psnr_matches_skimage(kind: str, channels: int, border: int) -> None:
    output, target = pairs(kind, channels)
    ours = psnr(torch.from_numpy(output), torch.from_numpy(target), data_range=1.0, border=border).numpy()
    expected = skimage_psnr(crop(output, border), crop(target, border), data_range=1.0)
    assert ours.shape == (len(target),)
    np.testing.assert_allclose(ours, expected, rtol=PSNR_RELATIVE_TOLERANCE)
    assert mean_psnr(output, target, border=border) == pytest.approx(expected.mean(), rel=PSNR_RELATIVE_TOLERANCE)


def test_uint8_inputs_default_to_a_range_of_255_like_skimage() -> None:
    output, target = pairs("real", 3)
    output8, target8 = (np.round(a * 255).astype(np.uint8) for a in (output, target))
    np.testing.assert_allclose(psnr(output8, target8).numpy(), skimage_psnr(output8, target8, 255),
                               rtol=PSNR_RELATIVE_TOLERANCE)
    np.testing.assert_allclose(ssim(torch.from_numpy(output8), torch.from_numpy(target8)).numpy(),
                               skimage_ssim(output8, target8, 255), rtol=0, atol=SSIM_TOLERANCE)


def test_scores_do_not_depend_on_the_scale_of_the_data_range() -> None:
    output, target = pairs("real", 3)
    for metric in (psnr, ssim):
        np.testing.assert_allclose(metric(output * 255, target * 255, data_range=255).numpy(),
                                   metric(output, target).numpy(), rtol=1e-12)


def test_float32_inputs_score_as_their_float64_values() -> None:
    output, target = (a.astype(np.float32) for a in pairs("real", 3))
    for metric in (psnr, ssim):
        np.testing.assert_allclose(metric(output, target).numpy(),
                                   metric(output.astype(np.float64), target.astype(np.float64)).numpy(), rtol=1e-12)


def test_rgb_to_y_is_bt601_on_the_16_to_235_scale() -> None:
    _, target = pairs("real", 3)
    np.testing.assert_allclose(rgb_to_y(torch.from_numpy(target)).numpy(), numpy_y(target), rtol=1e-12)
    black_white = torch.tensor([0.0, 1.0], dtype=torch.float64).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    assert rgb_to_y(black_white)[:, 0, 0, 0].tolist() == pytest.approx([16.0, 235.0], abs=1e-9)
    grey = torch.rand(2, 1, 5, 5, dtype=torch.float64)
    assert torch.equal(rgb_to_y(grey), grey * 255)


@pytest.mark.parametrize("border", [0, 4])
@pytest.mark.parametrize("data_range", [1.0, 255.0])
def test_y_channel_scores_match_a_direct_numpy_computation(data_range: float, border: int) -> None:
    output, target = pairs("real", 3)
    y_output, y_target = crop(numpy_y(output), border), crop(numpy_y(target), border)
    mse = ((y_output - y_target) ** 2).mean(axis=(1, 2, 3))
    expected_psnr = 10 * np.log10(255.0**2 / mse)
    scaled = (output * data_range, target * data_range)
    ours = psnr(*scaled, data_range=data_range, y_channel=True, border=border).numpy()
    np.testing.assert_allclose(ours, expected_psnr, rtol=PSNR_RELATIVE_TOLERANCE)
    ours_ssim = ssim(*scaled, data_range=data_range, y_channel=True, border=border).numpy()
    np.testing.assert_allclose(ours_ssim, skimage_ssim(y_output, y_target, 255.0), rtol=0, atol=SSIM_TOLERANCE)


def test_y_channel_of_grey_images_is_the_grey_values_on_the_255_scale() -> None:
    output, target = pairs("real", 1)
    np.testing.assert_allclose(psnr(output, target, y_channel=True).numpy(), psnr(output, target).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(ssim(output, target, y_channel=True).numpy(),
                               skimage_ssim(output * 255, target * 255, 255.0), rtol=0, atol=SSIM_TOLERANCE)


@pytest.mark.parametrize("channels", [1, 3])
def test_identical_images_give_infinite_psnr_and_ssim_one(channels: int) -> None:
    _, target = pairs("real", channels)
    assert torch.isinf(psnr(target, target)).all() and (psnr(target, target) > 0).all()
    assert mean_psnr(target, target) == float("inf")
    assert mean_psnr(np.concatenate([target, noisy(target, 0.1, 0)]), np.concatenate([target, target])) == float(
        "inf")  # one identical pair makes the mean inf; it is not capped
    np.testing.assert_allclose(ssim(target, target).numpy(), 1.0, rtol=0, atol=1e-12)
    assert mean_ssim(target, target) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kind", ["random", "real"])
def test_an_image_against_its_negative_scores_well_below_half(kind: str) -> None:
    _, target = pairs(kind, 3)
    assert (ssim(1 - target, target) < 0.3).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_more_noise_scores_lower(channels: int) -> None:
    target = real_targets(channels)
    noise = np.random.default_rng(7).standard_normal(target.shape)
    sigmas = [0.01, 0.03, 0.1, 0.3]
    outputs = [np.clip(target + s * noise, 0, 1) for s in sigmas]
    psnrs = np.stack([psnr(o, target).numpy() for o in outputs])
    ssims = np.stack([ssim(o, target).numpy() for o in outputs])
    assert (np.diff(psnrs, axis=0) < 0).all()
    assert (np.diff(ssims, axis=0) < 0).all()


def test_a_different_device_for_the_target_is_followed_and_cuda_agrees() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    output, target = (torch.from_numpy(a) for a in pairs("real", 3))
    for metric in (psnr, ssim):
        on_gpu = metric(output.cuda(), target.cuda(), y_channel=True, border=4)
        assert on_gpu.device.type == "cuda"
        np.testing.assert_allclose(on_gpu.cpu().numpy(), metric(output, target, y_channel=True, border=4).numpy(),
                                   rtol=1e-10)


IMAGE = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def with_value(value: float) -> torch.Tensor:
    bad = IMAGE.clone()
    bad[1, 2, 3, 4] = value
    return bad


BAD_INPUTS = {
    "shapes differ": (IMAGE, IMAGE[:, :, :15], {}, r"same shape, got \(2, 3, 16, 16\) and \(2, 3, 15, 16\)"),
    "not a batch": (IMAGE[0], IMAGE[0], {}, r"\(N, C, H, W\)"),
    "empty batch": (IMAGE[:0], IMAGE[:0], {}, r"N >= 1"),
    "nan": (with_value(float("nan")), IMAGE, {}, "output contains NaN or inf"),
    "inf": (IMAGE, with_value(float("inf")), {}, "target contains NaN or inf"),
    "values in [-1, 1]": (IMAGE * 2 - 1, IMAGE, {}, r"outside \[0, 1\]"),
    "0-255 floats with the default range": (IMAGE, IMAGE * 255, {}, "data_range=255"),
    "window larger than the cropped image": (IMAGE, IMAGE, {"border": 3}, "does not fit in 10x10"),
    "border leaves nothing": (IMAGE, IMAGE, {"border": 8}, "border=8 leaves no pixels"),
    "negative border": (IMAGE, IMAGE, {"border": -1}, "border must be"),
    "even window": (IMAGE, IMAGE, {"window": 8}, "odd size"),
    "unknown window": (IMAGE, IMAGE, {"window": "box"}, "window must be"),
    "zero data range": (IMAGE, IMAGE, {"data_range": 0}, "data_range must be a positive"),
    "y channel of four channels": (torch.cat([IMAGE, IMAGE[:, :1]], 1),) * 2 + ({"y_channel": True}, "C = 4"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_are_refused_in_one_line(case: str) -> None:
    output, target, options, message = BAD_INPUTS[case]
    metrics = [ssim] if "window" in case else [psnr, ssim]
    for metric in metrics:
        with pytest.raises(ConfigError, match=message) as caught:
            metric(output, target, **options)
        assert "\n" not in str(caught.value)


def test_values_just_outside_the_range_by_rounding_are_accepted() -> None:
    slightly = IMAGE.clone()
    slightly[0, 0, 0, 0], slightly[0, 0, 0, 1] = -1e-6, 1 + 1e-6
    assert torch.isfinite(psnr(slightly, IMAGE.flip(0))).all() and torch.isfinite(ssim(slightly, IMAGE)).all()


def test_rgb_to_y_refuses_other_shapes_and_integers() -> None:
    with pytest.raises(ConfigError, match=r"got shape \(2, 4, 16, 16\)"):
        rgb_to_y(torch.zeros(2, 4, 16, 16))
    with pytest.raises(ConfigError, match="floating-point"):
        rgb_to_y(torch.zeros(2, 3, 16, 16, dtype=torch.uint8))
