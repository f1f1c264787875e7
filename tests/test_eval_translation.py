"""`ganforge eval` on an image-to-image run: held-out pairs, PSNR/SSIM checked against scikit-image, the baseline
(the noisy input, the bicubic upscale) scored the same way, label preservation on the right images, refusals, and
the report page."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import ganforge
from ganforge import evaluate_pairs
from ganforge.apps.report import write_report
from ganforge.cli import main
from ganforge.data import load_data
from ganforge.evaluate_pairs import label_accuracies
from ganforge.metrics.classifier import DOMAIN_RECIPES, held_out_accuracy, load_classifier
from ganforge.metrics.features import FeatureExtractor, as_uint8
from ganforge.metrics.fid import fid_from_features

from conftest import tiny

DIGITS = {"data.source": "digits", "data.max_samples": 80, "model.family": "pix2pix", "data.pairs": "noise0.3",
          "data.split": "train"}  # trained on the training split: data.split test stays unseen


@pytest.fixture(scope="module")
def denoiser(tmp_path_factory: pytest.TempPathFactory) -> ganforge.Run:
    return ganforge.train({**DIGITS, **tiny(train__steps=6)}, out=tmp_path_factory.mktemp("eval") / "run")


def record_of(run: ganforge.Run) -> dict:
    return json.loads((run.dir.evals / f"step-{run.step:07d}.json").read_text(encoding="utf-8"))


def held_out(run: ganforge.Run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The held-out (input, target, label) triples, loaded here independently of ganforge.evaluate_pairs."""
    data = load_data(replace(run.config.data, split="test", max_samples=None))
    assert data.source is not None and data.y is not None
    return data.source, data.x, data.y


def skimage_psnr(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    return float(np.mean([peak_signal_noise_ratio(t.numpy(), o.numpy(), data_range=255)
                          for o, t in zip(outputs, targets, strict=True)]))


def test_eval_scores_g_and_the_noisy_input_on_the_held_out_digits(denoiser: ganforge.Run,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(denoiser.dir.root), "--threads", "1"]) == 0
    out = capsys.readouterr()
    assert "psnr" in out.out and "300 held-out pairs (noise0.3)" in out.out
    assert "ssim skipped" in out.err  # 8x8 digits: the 11x11 window does not fit
    record = record_of(denoiser)
    protocol, results = record["protocol"], record["results"]
    assert protocol["held_out"] is True and protocol["split"] == "test" and protocol["n_pairs"] == 300
    assert (protocol["y_channel"], protocol["border"], protocol["data_range"]) == (False, 0, 1.0)
    assert protocol["metrics"] == ["psnr", "labels"]
    inputs, targets, labels = held_out(denoiser)
    outputs = as_uint8(denoiser.translate(inputs.float() / 255))
    assert results["G/psnr"] == pytest.approx(skimage_psnr(outputs, targets), abs=1e-9)
    assert results["input/psnr"] == pytest.approx(skimage_psnr(inputs, targets), abs=1e-9)
    # label preservation: the digits classifier on each set of images, against the source digit's label
    net, _ = load_classifier(DOMAIN_RECIPES["digits"])
    for method, images in (("G", outputs), ("input", inputs), ("target", targets)):
        assert results[f"{method}/label_accuracy"] == pytest.approx(
            held_out_accuracy(net, images.float() / 255, labels), abs=1e-12)
    # the ceiling is the classifier's own held-out accuracy: data.split test is the digits it held out
    assert results["target/label_accuracy"] == protocol["label_accuracy"]["held_out_accuracy"] > 0.95
    assert results["input/label_accuracy"] < results["target/label_accuracy"]


def test_label_preservation_scores_the_labels_it_is_given(denoiser: ganforge.Run) -> None:
    _, targets, labels = held_out(denoiser)
    right, _ = label_accuracies("digits", {"target": targets}, labels, "cpu", False)
    swapped, _ = label_accuracies("digits", {"target": targets}, (labels + 1) % 10, "cpu", False)
    assert right["target"] > 0.95 and swapped["target"] < 0.05


class PixelFeatures(FeatureExtractor):
    """A stand-in feature space (2x2 means of the image): FID's wiring checked without training a classifier."""

    name = "pixels"

    def _batch(self, images: torch.Tensor) -> tuple[torch.Tensor, None]:
        return F.adaptive_avg_pool2d(images.float() / 255, 2).flatten(1), None

    def protocol(self) -> dict[str, str]:
        return {"extractor": self.name}


def test_n_caps_the_pairs_and_fid_compares_outputs_with_targets(denoiser: ganforge.Run,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(evaluate_pairs, "get_extractor", lambda name, **_: asked.append(name) or PixelFeatures())
    assert main(["eval", str(denoiser.dir.root), "--threads", "1", "--n", "40", "--metrics", "psnr,fid,kid"]) == 0
    assert asked == ["mnist"]  # digit data: evaluate.py's MNIST features
    record = record_of(denoiser)
    assert record["protocol"]["n_pairs"] == 40 and "a fixed random 40 (seed 0) of its 300" in record["protocol"]["data"]
    assert set(record["results"]) == {f"{m}/{k}" for m in ("G", "input")
                                      for k in ("psnr", "mnist_fid", "mnist_kid", "mnist_kid_std")}
    inputs, targets, _ = held_out(denoiser)
    rows = torch.randperm(300, generator=torch.Generator().manual_seed(0))[:40].sort().values
    outputs = as_uint8(denoiser.translate(inputs[rows].float() / 255))
    features = PixelFeatures()
    real = features.extract(targets[rows]).features
    assert record["results"]["G/psnr"] == pytest.approx(skimage_psnr(outputs, targets[rows]), abs=1e-9)
    for method, images in (("G", outputs), ("input", inputs[rows])):
        assert record["results"][f"{method}/mnist_fid"] == pytest.approx(
            fid_from_features(real, features.extract(images).features), rel=1e-9)


@pytest.mark.parametrize(("args", "says"), [
    (["--metrics", "is"], "does not apply to an image-to-image run"),
    (["--metrics", "psnr,modes"], "does not apply to an image-to-image run"),
    (["--metrics", "pr"], "does not apply to an image-to-image run"),
    (["--metrics", "bogus"], "unknown metric"),
    (["--metrics", "ssim"], "does not fit in 8x8 images"),
    (["--features", "vgg"], "unknown feature extractor"),
    (["--n", "0"], "--n must be at least 1"),
])
def test_what_does_not_apply_is_refused_in_one_line(tmp_path: Path, args: list[str], says: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = ganforge.train({**DIGITS, **tiny(train__steps=2)}, out=tmp_path / "run")
    assert main(["eval", str(run.dir.root), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1 and err.startswith("error:")
    assert not run.dir.evals.exists()  # nothing written


def test_an_rgb_run_without_a_split_is_scored_on_y_and_says_not_held_out(image_array: Path,
                                                                        tmp_path: Path) -> None:
    run = ganforge.train({"data.source": str(image_array), "model.family": "pix2pix", "data.pairs": "noise0.3",
                          **tiny(train__steps=2)}, out=tmp_path / "run")
    assert main(["eval", str(run.dir.root), "--metrics", "labels"]) == 2  # unlabelled: no label preservation
    assert main(["eval", str(run.dir.root), "--threads", "1"]) == 0
    record = record_of(run)
    protocol, results = record["protocol"], record["results"]
    assert protocol["held_out"] is False and "not held out" in protocol["data"]
    assert protocol["y_channel"] is True and protocol["border"] == 0 and protocol["metrics"] == ["psnr", "ssim"]
    data = load_data(run.config.data)
    assert data.source is not None
    outputs = as_uint8(run.translate(data.source.float() / 255))

    for method, images in (("G", outputs), ("input", data.source)):
        pairs = list(zip(y_of(images), y_of(data.x), strict=True))
        assert results[f"{method}/psnr"] == pytest.approx(
            np.mean([peak_signal_noise_ratio(t, o, data_range=255) for o, t in pairs]), abs=1e-9)
        assert results[f"{method}/ssim"] == pytest.approx(np.mean([structural_similarity(
            t, o, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for o, t in pairs]),
            abs=1e-9)


def test_super_resolution_pairs_are_scored_beside_bicubic_with_a_border(tmp_path: Path) -> None:
    run = ganforge.train({**DIGITS, "data.pairs": "downscale2", "data.resolution": 16, **tiny(train__steps=2)},
                         out=tmp_path / "run")
    assert main(["eval", str(run.dir.root), "--threads", "1", "--metrics", "psnr"]) == 0
    record = record_of(run)
    assert record["protocol"]["border"] == 2 and record["protocol"]["scale"] == 2
    assert "bicubic" in record["protocol"]["images"]["bicubic"]
    inputs, targets, _ = held_out(run)
    assert inputs.shape[-1] == 8 and targets.shape[-1] == 16
    upscaled = torch.stack([torch.from_numpy(np.array(Image.fromarray(image[0].numpy()).resize(
        (16, 16), Image.Resampling.BICUBIC)))[None] for image in inputs])
    crop = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert record["results"]["bicubic/psnr"] == pytest.approx(skimage_psnr(upscaled[crop], targets[crop]), abs=1e-9)
    outputs = as_uint8(run.translate(inputs.float() / 255))
    assert record["results"]["G/psnr"] == pytest.approx(skimage_psnr(outputs[crop], targets[crop]), abs=1e-9)


def y_of(images: torch.Tensor) -> list[np.ndarray]:  # scikit-image's BT.601 Y, in [16, 235]
    return [rgb2ycbcr(image.permute(1, 2, 0).numpy())[..., 0] for image in images]


@pytest.mark.skipif(importlib.util.find_spec("skimage") is None, reason="scikit-image is not installed")
def test_super_resolution_on_photos_is_also_scored_on_the_whole_held_out_photographs(tmp_path: Path) -> None:
    run = ganforge.train({"data.source": "photos", "data.split": "train", "data.resolution": 16,
                          "data.max_samples": 10, "model.family": "srgan", "model.g_width": 4, "model.g_blocks": 1,
                          "model.d_width": 4, **tiny(train__steps=1)}, out=tmp_path / "run")
    assert main(["eval", str(run.dir.root), "--threads", "1", "--metrics", "psnr"]) == 0
    record = record_of(run)
    results = record["results"]
    assert "china, hubble_deep_field" in record["protocol"]["whole_photographs"]
    import skimage.data
    from sklearn.datasets import load_sample_image

    for name, photo in (("china", load_sample_image("china.jpg")), ("hubble_deep_field",
                                                                  skimage.data.hubble_deep_field())):
        height, width = (side - side % 4 for side in photo.shape[:2])
        truth = photo[:height, :width]  # the photo cut to a multiple of 4, downscaled and upscaled by Pillow here
        low = Image.fromarray(truth).resize((width // 4, height // 4), Image.Resampling.BICUBIC)
        bicubic = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC))
        crop = (slice(4, -4), slice(4, -4))
        expected = peak_signal_noise_ratio(rgb2ycbcr(truth)[..., 0][crop], rgb2ycbcr(bicubic)[..., 0][crop],
                                           data_range=255)
        assert results[f"bicubic/psnr_whole/{name}"] == pytest.approx(expected, abs=1e-9)
        source = torch.from_numpy(np.asarray(low).copy()).permute(2, 0, 1)[None]
        output = as_uint8(run.upscale(source.float() / 255, tile=0))[0].permute(1, 2, 0).numpy()
        assert results[f"G/psnr_whole/{name}"] == pytest.approx(peak_signal_noise_ratio(
            rgb2ycbcr(truth)[..., 0][crop], rgb2ycbcr(output)[..., 0][crop], data_range=255), abs=1e-6)
    for method in ("G", "bicubic"):
        assert results[f"{method}/psnr_whole"] == pytest.approx(np.mean(
            [results[f"{method}/psnr_whole/{name}"] for name in ("china", "hubble_deep_field")]), abs=1e-12)


def test_the_report_shows_the_pairs_record(denoiser: ganforge.Run) -> None:
    assert main(["eval", str(denoiser.dir.root), "--threads", "1", "--metrics", "psnr"]) == 0
    page = write_report([denoiser.dir.root]).read_text(encoding="utf-8")
    assert "G/psnr" in page and "input/psnr" in page and "held_out" in page and "y_channel" in page
