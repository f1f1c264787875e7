"""PSNR and SSIM of image-conditioned outputs (super-resolution, denoising, pix2pix) against their targets.

`ssim` is Wang et al. 2004 (IEEE TIP 13(4)): an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03 and
population (co)variances; its value is the mean of the SSIM map over the positions where the window lies wholly
inside the image. That equals `skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=R)` (which pads, filters and crops the padded strip off again) and the
"valid" filtering of the MATLAB reference and of BasicSR. `window=7` (any odd size >= 3) is a uniform window
with sample (co)variances instead: skimage's defaults, `structural_similarity(a, b, data_range=R)`.

Inputs are (N, C, H, W) tensors or arrays, uint8 or floats in [0, data_range]; the statistics are computed in
float64 on the inputs' device (CPU or CUDA), all images of a batch at once.

`y_channel=True` scores the Y channel of ITU-R BT.601 YCbCr on the [0, 255] scale, as super-resolution papers
do (MATLAB's rgb2ycbcr; BasicSR's `test_y_channel`), and then uses 255 as the data range whatever `data_range`
the inputs have: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], so Y lies in [16, 235]. Y is
not rounded to integers. Grey (C = 1) images have no chroma to drop: their own values, scaled to [0, 255],
are used. `border` crops that many pixels from every edge first; Ledig et al. 2017 crop the scale factor
(4 px for x4).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ganforge.errors import ConfigError

ArrayLike = np.ndarray | Tensor

K1, K2 = 0.01, 0.03
GAUSSIAN_SIZE, GAUSSIAN_SIGMA = 11, 1.5
Y_RANGE = 255.0
_RANGE_TOLERANCE = 1e-3  # of data_range: rounding in a generator's last layer, not a wrong scale


def rgb_to_y(images: Tensor) -> Tensor:
    """Y of BT.601 YCbCr in [16, 235] from (N, 3, H, W) RGB in [0, 1]; (N, 1, H, W) grey comes back times 255.

    Returns (N, 1, H, W) in the input's floating dtype; the input is not range-checked here (psnr/ssim do that).
    """
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise ConfigError("rgb_to_y needs a floating-point tensor with values in [0, 1], "
                          f"got {type(images).__name__} {getattr(images, 'dtype', '')}".rstrip())
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"rgb_to_y needs (N, 3, H, W) RGB or (N, 1, H, W) grey images, got shape "
                          f"{tuple(images.shape)}")
    if images.shape[1] == 1:
        return images * Y_RANGE
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def _prepare(output: ArrayLike, target: ArrayLike, data_range: float | None, y_channel: bool,
             border: int) -> tuple[Tensor, Tensor, float]:
    """Validated, cropped float64 copies of both batches (as Y if asked) and the data range to score them with."""
    x, y = torch.as_tensor(output).detach(), torch.as_tensor(target).detach()
    if x.shape != y.shape:
        raise ConfigError(f"output and target must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ConfigError(f"output and target must be (N, C, H, W) batches with N >= 1, got shape {tuple(x.shape)}")
    if y_channel and x.shape[1] not in (1, 3):
        raise ConfigError(f"y_channel=True needs RGB (C = 3) or grey (C = 1) images, got C = {x.shape[1]}")
    if isinstance(border, bool) or not isinstance(border, numbers.Integral) or border < 0:
        raise ConfigError(f"border must be a whole number of pixels >= 0, got {border!r}")
    if data_range is None:
        data_range = 255.0 if x.dtype == torch.uint8 else 1.0
    if isinstance(data_range, bool) or not isinstance(data_range, numbers.Real) or not 0 < data_range < math.inf:
        raise ConfigError(f"data_range must be a positive number (1.0 for images in [0, 1], 255 for uint8), "
                          f"got {data_range!r}")
    height, width = x.shape[2] - 2 * border, x.shape[3] - 2 * border
    if height < 1 or width < 1:
        raise ConfigError(f"border={border} leaves no pixels of {x.shape[2]}x{x.shape[3]} images; "
                          "use a smaller border")
    x = x.to(torch.float64)
    y = y.to(device=x.device, dtype=torch.float64)
    for name, t in (("output", x), ("target", y)):
        if not bool(torch.isfinite(t).all()):
            raise ConfigError(f"{name} contains NaN or inf values; check the generator's outputs")
        low, high = float(t.min()), float(t.max())
        slack = _RANGE_TOLERANCE * data_range
        if low < -slack or high > data_range + slack:
            raise ConfigError(f"{name} has values in [{low:.4g}, {high:.4g}], outside [0, {data_range:g}]; map "
                              "[-1, 1] outputs with (x + 1) / 2, or pass data_range=255 for 0-255 images")
    border = int(border)
    x = x[:, :, border:border + height, border:border + width]
    y = y[:, :, border:border + height, border:border + width]
    if y_channel:
        return rgb_to_y(x / data_range), rgb_to_y(y / data_range), Y_RANGE
    return x, y, float(data_range)


def psnr(output: ArrayLike, target: ArrayLike, data_range: float | None = None, y_channel: bool = False,
         border: int = 0) -> Tensor:
    """Peak signal-to-noise ratio in dB of each image pair: 10 log10(data_range^2 / MSE), shape (N,), float64.

    The MSE of an image is over all its channels and pixels (like skimage's peak_signal_noise_ratio). Identical
    images give +inf. data_range defaults to 255 for uint8 inputs and 1.0 otherwise.
    """
    x, y, peak = _prepare(output, target, data_range, y_channel, border)
    mse = (x - y).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(peak**2 / mse)  # mse = 0 gives +inf: float64 division by zero, no warning in torch


def mean_psnr(output: ArrayLike, target: ArrayLike, data_range: float | None = None, y_channel: bool = False,
              border: int = 0) -> float:
    """Mean of the per-image PSNRs (the super-resolution papers' average), in dB.

    If any pair is identical the mean is inf: it is reported, not capped, because a cap (say 100 dB) would
    shift the average by an amount that depends on the cap. Clamp `psnr(...)` yourself if you want one.
    """
    return float(psnr(output, target, data_range, y_channel, border).mean())


def _window(window: int | str) -> tuple[Tensor, bool]:
    """The 1-D factor of the separable window (it sums to 1) and whether to use sample (co)variances."""
    if window == "gaussian":
        radius = GAUSSIAN_SIZE // 2
        taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
        kernel = torch.exp(-0.5 * (taps / GAUSSIAN_SIGMA) ** 2)
        return kernel / kernel.sum(), False
    if isinstance(window, bool) or not isinstance(window, int) or window < 3 or window % 2 == 0:
        raise ConfigError(f"window must be 'gaussian' (11x11, sigma 1.5) or an odd size >= 3 for a uniform "
                          f"window, got {window!r}")
    return torch.full((window,), 1.0 / window, dtype=torch.float64), True


def ssim_map(output: ArrayLike, target: ArrayLike, data_range: float | None = None, y_channel: bool = False,
             border: int = 0, window: int | str = "gaussian") -> Tensor:
    """The SSIM map, (N, C, H - k + 1, W - k + 1) after the border crop for a k x k window, float64."""
    kernel, sample_covariance = _window(window)
    x, y, peak = _prepare(output, target, data_range, y_channel, border)
    n, c, height, width = x.shape
    size = kernel.numel()
    if height < size or width < size:
        described = "11x11 Gaussian window" if window == "gaussian" else f"{size}x{size} window"
        raise ConfigError(f"SSIM's {described} does not fit in {height}x{width} images (after border={border}); "
                          "use larger images, a smaller border or a smaller window (e.g. window=7)")
    kernel = kernel.to(x.device)
    # one pass of the separable filter over the five maps whose local means SSIM needs
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1).reshape(n * 5 * c, 1, height, width)
    filtered = F.conv2d(F.conv2d(stacked, kernel.view(1, 1, size, 1)), kernel.view(1, 1, 1, size))
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = filtered.reshape(n, 5, c, height - size + 1, width - size + 1).unbind(1)
    norm = size**2 / (size**2 - 1) if sample_covariance else 1.0
    var_x, var_y = norm * (mu_xx - mu_x * mu_x), norm * (mu_yy - mu_y * mu_y)
    cov_xy = norm * (mu_xy - mu_x * mu_y)
    c1, c2 = (K1 * peak) ** 2, (K2 * peak) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim(output: ArrayLike, target: ArrayLike, data_range: float | None = None, y_channel: bool = False,
         border: int = 0, window: int | str = "gaussian") -> Tensor:
    """Structural similarity (Wang et al. 2004) of each image pair, shape (N,), float64; 1 for identical images.

    Colour images without y_channel score the mean over channels (skimage's channel_axis). data_range defaults
    to 255 for uint8 inputs and 1.0 otherwise. See the module docstring for the window choices.
    """
    return ssim_map(output, target, data_range, y_channel, border, window).mean(dim=(1, 2, 3))


def mean_ssim(output: ArrayLike, target: ArrayLike, data_range: float | None = None, y_channel: bool = False,
              border: int = 0, window: int | str = "gaussian") -> float:
    """Mean of the per-image SSIMs."""
    return float(ssim(output, target, data_range, y_channel, border, window).mean())
