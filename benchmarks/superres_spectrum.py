"""Where super-resolved detail goes: the power spectrum of each run's residual over bicubic on the held-out photos.

FID says whether outputs look like the originals; this says, band by band, how much of the detail that bicubic
misses a model restores and where it draws detail the originals do not have. For each held-out crop of `photos`
(china, hubble_deep_field; the runs' own `data.resolution`), the residual r = output - bicubic(input) (grey: the mean
of R, G and B; in 8-bit levels; bicubic as G's own skip, torch's, not Pillow's) is Fourier transformed; the table
prints the mean power |FFT(r)|^2 / pixels (so the mean over all frequencies is the mean of r^2, Parseval) in square
bands of frequency max(|fy|, |fx|), in cycles per pixel, and at the x4 grid's frequencies, where sub-pixel steps
leave periodic patterns. The first row is the originals' residual: the detail there is to restore.

    python benchmarks/superres_spectrum.py RUN [RUN ...]       # srgan (or any x4 upscale) run folders
    python benchmarks/superres_spectrum.py --quick             # a 2-step run on 32 px crops: a smoke test
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import ganforge
from ganforge.config import from_overrides
from ganforge.data import load_data
from ganforge.errors import ConfigError, GanforgeError

SCALE = 4
# Upper ends are exclusive; the last band's 0.51 keeps the Nyquist row and column (0.5 cycles per pixel) in it.
BANDS = ((0.0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, 3 / 8), (3 / 8, 0.51))
GRID = {"(0, 1/4)": (0.0, 0.25), "(1/4, 1/4)": (0.25, 0.25), "(0, 1/2)": (0.0, 0.5), "(1/2, 1/2)": (0.5, 0.5)}


def residual_power(output: torch.Tensor, upscaled: torch.Tensor) -> torch.Tensor:
    """Mean over images of |FFT(grey(output - upscaled))|^2 / pixels, in 8-bit levels^2: a (H, W) map in FFT order."""
    residual = 255.0 * (output - upscaled).mean(dim=1)
    height, width = residual.shape[-2:]
    return torch.fft.fft2(residual.double()).abs().pow(2).mean(dim=0) / (height * width)


def band_powers(power: torch.Tensor) -> list[float]:
    """The mean of a power map over each of BANDS (max(|fy|, |fx|) in cycles per pixel)."""
    height, width = power.shape
    radius = torch.maximum(torch.fft.fftfreq(height).abs().view(-1, 1), torch.fft.fftfreq(width).abs().view(1, -1))
    return [float(power[(radius >= low) & (radius < high)].mean()) for low, high in BANDS]


def grid_powers(power: torch.Tensor) -> list[float]:
    """The power at each of GRID's frequencies (fy, fx), the mean of it and its transpose (fx, fy)."""
    height, width = power.shape
    out = []
    for fy, fx in GRID.values():
        a = power[round(fy * height) % height, round(fx * width) % width]
        b = power[round(fx * height) % height, round(fy * width) % width]
        out.append(float((a + b) / 2))
    return out


def held_out(resolution: int, extra: dict[str, object]) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out crops' inputs and originals, in [0, 1]."""
    data = load_data(from_overrides({"data.source": "photos", "data.split": "test", "data.pairs": f"downscale{SCALE}",
                                     "data.resolution": resolution, **extra}).data)
    batch = data.batch(torch.arange(len(data)), torch.device("cpu"))
    return data.spec.decode(batch["source"]), data.spec.decode(batch["x"])


def table(runs: list[Path], extra: dict[str, object] | None = None) -> str:
    """The markdown table for the originals and each run, on the held-out crops at the first run's resolution."""
    loaded = {run: ganforge.load(run) for run in runs}
    for run, model in loaded.items():
        pairs = model.config.data.pairs
        if pairs != f"downscale{SCALE}":
            raise ConfigError(f"run '{run}' was trained on data.pairs '{pairs}'; this benchmark compares x{SCALE} "
                              f"super-resolution runs (data.pairs downscale{SCALE})")
    resolution = loaded[runs[0]].config.data.resolution
    low, high = held_out(resolution, extra or {})
    upscaled = F.interpolate(low, scale_factor=SCALE, mode="bicubic", align_corners=False).clamp(0, 1)
    rows = {"originals": high}
    for run, model in loaded.items():
        with torch.no_grad():
            rows[run.name if run.name not in rows else str(run)] = model.upscale(low)
    bands = " | ".join(f"{low:.3g}-{min(high, 0.5):.3g}" for low, high in BANDS)
    lines = [f"Residual over bicubic on {len(low)} held-out {resolution} px crops of photos: mean power (8-bit "
             "levels^2) per band of max(|fy|, |fx|) (cycles per pixel), and at the x4 grid's frequencies",
             f"| residual of | {bands} | " + " | ".join(GRID) + " |",
             "|---|" + "---|" * (len(BANDS) + len(GRID))]
    for name, image in rows.items():
        power = residual_power(image, upscaled)
        cells = [*band_powers(power), *grid_powers(power)]
        lines.append(f"| {name} | " + " | ".join(f"{value:.3g}" for value in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="x4 super-resolution run folders")
    parser.add_argument("--quick", action="store_true", help="train a 2-step srgan run on 32 px crops, then print")
    args = parser.parse_args()
    if args.quick:
        root = Path(tempfile.mkdtemp(prefix="spectrum-"))
        try:
            extra: dict[str, object] = {"data.max_samples": 16}
            ganforge.train({"model.family": "srgan", "data.source": "photos", "data.split": "train",
                            "data.pairs": "downscale4", "data.resolution": 32, "model.g_blocks": 1,
                            "model.g_width": 8, "model.d_width": 8, "train.batch_size": 4, "train.steps": 2,
                            "train.pretrain_steps": 1, "train.progress": False}, out=root / "quick")
            print(table([root / "quick"], extra))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    if not args.runs:
        parser.error("name at least one run folder (or --quick)")
    missing = [str(run) for run in args.runs if not (run / "config.toml").is_file()]
    if missing:
        parser.exit(2, f"superres_spectrum.py: error: not a run folder (no config.toml): {', '.join(missing)}\n")
    try:
        print(table(args.runs))
    except GanforgeError as error:  # e.g. a run that does not upscale: its one-line reason
        parser.exit(2, f"superres_spectrum.py: error: {error}\n")


if __name__ == "__main__":
    main()
