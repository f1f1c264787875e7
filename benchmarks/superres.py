"""Super-resolution x4 on the held-out `photos`: bicubic, SRResNet and SRGAN, by PSNR / SSIM (Ledig et al.'s protocol).

Data: the built-in `photos` (docs/data.md), 96 px crops, inputs by `data.pairs downscale4` (Pillow's antialiased
bicubic downscale to 24 px). The five training photographs' 320 crops train; the 128 crops of the two held-out
photographs (china, hubble_deep_field) score. Scores: PSNR and SSIM on the Y channel of YCbCr with a 4 px border
cropped (Ledig et al. 2017's protocol; `ganforge.metrics.psnr/ssim`, y_channel=True, border=4), outputs rounded to
8-bit levels first, as saved images are. Realism: FID and KID of each model's outputs against the original crops
in the standard Inception's features (the perception side of the perception-distortion trade-off).

Models: bicubic is Pillow's bicubic upscale of the 24 px input. SRResNet is an srgan run of --steps steps with
train.pretrain_steps = --steps (pixel MSE alone). SRGAN is that same run, copied and resumed for --gan-steps more
steps: from step --steps on D trains and G's loss adds --adversarial-weight (1e-3) x the adversarial term, Ledig et
al.'s BCE or, with --adversarial-loss relativistic, ESRGAN's (as Ledig et al. initialise SRGAN from SRResNet).
Both share everything else (G of --blocks residual blocks, batch 16, Adam 1e-4). CPU s is the training's process
CPU time, SRGAN's including that of the SRResNet it starts from.

For scale, Ledig et al. 2017 Table 2, Set5 x4: bicubic 28.43 dB / 0.8211, SRResNet 32.05 / 0.9019, SRGAN 29.40 /
0.8472 (their SRGAN's content loss is VGG54 features; ours is pixel MSE, their "SRGAN-MSE"): compare gaps, not dB.

    python benchmarks/superres.py --steps 2000 --gan-steps 1000 --out runs/superres   # a CPU-sized run
    python benchmarks/superres.py --quick                                              # a smoke test
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import ganforge
from ganforge import evaluate_pairs
from ganforge.config import from_overrides
from ganforge.data import load_data, photo_names
from ganforge.grid import image_grid, save_png
from ganforge.metrics import psnr, ssim
from ganforge.metrics.features import get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.kid import kid_from_features

PUBLISHED = {"bicubic": (28.43, 0.8211), "SRResNet": (32.05, 0.9019), "SRGAN": (29.40, 0.8472)}
BORDER = 4


def bicubic_upscale(low: torch.Tensor, scale: int) -> torch.Tensor:
    """Pillow's bicubic upscale of each (C, h, w) image in [0, 1] (8-bit levels), back in [0, 1]."""
    out = []
    for image in low:
        pixels = (image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        pil = Image.fromarray(pixels[..., 0], "L") if pixels.shape[-1] == 1 else Image.fromarray(pixels, "RGB")
        big = np.array(pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.BICUBIC))
        big = big[..., None] if big.ndim == 2 else big
        out.append(torch.from_numpy(big).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def whole_photo_scores(runs: dict[str, ganforge.Run]) -> dict[str, dict[str, tuple[float, float]]]:
    """PSNR / SSIM (Y, 4 px border) of bicubic and each run on every held-out photograph, whole: {model: {photo:
    (dB, SSIM)}}, as `ganforge eval` scores them ('psnr_whole'; evaluate_pairs.whole_photo_scores)."""
    quality = {"y_channel": True, "border": BORDER, "data_range": 1.0}
    out: dict[str, dict[str, tuple[float, float]]] = {"bicubic": {}, **{model: {} for model in runs}}
    for model, run in runs.items():
        scored = evaluate_pairs.whole_photo_scores(run, "test", "downscale4", "bicubic", ["psnr", "ssim"], "cpu",
                                                   quality)
        for method, row in (("bicubic", "bicubic"), ("G", model)):
            out[row] = {name: (scored[f"{method}/psnr_whole/{name}"], scored[f"{method}/ssim_whole/{name}"])
                        for name in photo_names("test")}
    return out


def scores(output: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM on Y with a 4 px border, outputs at 8-bit levels."""
    output = (output.clamp(0, 1) * 255).round() / 255
    return (float(psnr(output, target, y_channel=True, border=BORDER).mean()),
            float(ssim(output, target, y_channel=True, border=BORDER).mean()))


def realism(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> dict[str, tuple[float, float]]:
    """FID and KID x 1000 of each model's outputs against the original crops, standard Inception features."""
    extractor = get_extractor("inception")
    real = extractor.extract(target).features
    found = {}
    for name, out in outputs.items():
        fake = extractor.extract(out.clamp(0, 1)).features
        found[name] = (fid_from_features(real, fake), 1000 * kid_from_features(real, fake, subsets=100)[0])
    return found


def train(config: dict[str, Any], folder: Path) -> float:
    start = time.process_time()
    ganforge.train(config, out=folder, overwrite=True)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="SRResNet steps (pixel MSE alone)")
    parser.add_argument("--gan-steps", type=int, default=1000, help="SRGAN steps after them (D joins)")
    parser.add_argument("--resolution", type=int, default=96, help="target crop side in px (inputs a quarter)")
    parser.add_argument("--blocks", type=int, default=8, help="G's residual blocks (the paper: 16)")
    parser.add_argument("--g-width", type=int, default=64, help="G's channels")
    parser.add_argument("--d-width", type=int, default=64, help="D's first channels")
    parser.add_argument("--g-norm", default="auto", choices=("auto", "none", "batch"),
                        help="model.g_norm: none (EDSR, the family's default) or batch (the paper's G)")
    parser.add_argument("--d-norm", default="batch", choices=("batch", "none", "spectral"),
                        help="model.d_norm: D's BatchNorm (the paper's), none, or spectral normalisation")
    parser.add_argument("--adversarial-loss", default="bce", choices=("bce", "relativistic"),
                        help="train.adversarial_loss of the SRGAN stage: bce (Ledig et al.) or relativistic "
                             "(ESRGAN: each output against its own target)")
    parser.add_argument("--adversarial-weight", type=float, default=1e-3,
                        help="train.adversarial_weight of the SRGAN stage (Ledig et al.: 1e-3)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", default="auto", help="train.threads: auto or N")
    parser.add_argument("--out", default=None, help="folder for the two runs and the comparison image "
                        "(default: a temporary folder, removed)")
    parser.add_argument("--no-fid", action="store_true", help="skip FID / KID (the Inception network's ~70 ms an "
                        "image on a CPU)")
    parser.add_argument("--quick", action="store_true", help="a few steps on small crops: a smoke test")
    args = parser.parse_args()
    extra: dict[str, Any] = {}
    if args.quick:
        args.steps, args.gan_steps, args.resolution, args.blocks = 2, 2, 32, 1
        args.g_width, args.d_width, args.batch_size = 8, 8, 4
        extra = {"data.max_samples": 16}
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="superres-"))
    try:
        run(args, root, extra)
    finally:
        if args.out is None:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path, extra: dict[str, Any]) -> None:
    every = max(1, (args.steps + args.gan_steps) // 10)
    config = {"model.family": "srgan", "data.source": "photos", "data.split": "train", "data.pairs": "downscale4",
              "data.resolution": args.resolution, "model.g_blocks": args.blocks, "model.g_width": args.g_width,
              "model.d_width": args.d_width, "model.g_norm": args.g_norm, "model.d_norm": args.d_norm,
              "train.batch_size": args.batch_size,
              "train.seed": args.seed,
              "train.steps": args.steps, "train.pretrain_steps": args.steps, "train.threads": args.threads,
              "train.progress": False, "train.log_every": every, "train.sample_every": every,
              "train.checkpoint_every": every, **extra}
    seconds = {"SRResNet": train(config, root / "srresnet")}
    shutil.copytree(root / "srresnet", root / "srgan")  # SRGAN starts from this SRResNet, as in the paper
    start = time.process_time()
    ganforge.resume(root / "srgan", train__steps=args.steps + args.gan_steps,
                    train__adversarial_loss=args.adversarial_loss, train__adversarial_weight=args.adversarial_weight)
    seconds["SRGAN"] = seconds["SRResNet"] + time.process_time() - start

    held_out = load_data(from_overrides({"data.source": "photos", "data.split": "test", "data.pairs": "downscale4",
                                         "data.resolution": args.resolution, **extra}).data)
    batch = held_out.batch(torch.arange(len(held_out)), torch.device("cpu"))
    low, high = held_out.spec.decode(batch["source"]), held_out.spec.decode(batch["x"])
    outputs = {"bicubic": bicubic_upscale(low, 4),
               "SRResNet": ganforge.load(root / "srresnet").upscale(low),
               "SRGAN": ganforge.load(root / "srgan").upscale(low)}
    results = {name: scores(out, high) for name, out in outputs.items()}
    nan = (float("nan"), float("nan"))
    real_look = {name: nan for name in outputs} if args.no_fid else realism(outputs, high)

    print(f"SR x4 on {len(held_out)} held-out {args.resolution} px crops of photos (china, hubble_deep_field); "
          f"PSNR / SSIM on Y, {BORDER} px border; G {args.blocks} blocks x {args.g_width} (g_norm {args.g_norm}), "
          f"D width {args.d_width} (d_norm {args.d_norm}), SRGAN stage {args.adversarial_loss} at weight "
          f"{args.adversarial_weight:g}, "
          f"batch {args.batch_size}, seed {args.seed}")
    print(f"FID and KID x 1000: standard Inception features of the {len(held_out)} outputs against the "
          f"{len(held_out)} original crops (few samples: FID carries a large bias; compare rows, not papers)")
    print("| model | steps | PSNR (dB) | SSIM | vs bicubic | FID | KID x 1000 | CPU s | Ledig et al. Set5 x4 |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = results["bicubic"][0]
    steps = {"bicubic": "-", "SRResNet": str(args.steps), "SRGAN": f"{args.steps} + {args.gan_steps}"}
    for name, (db, similarity) in results.items():
        cpu = f"{seconds[name]:.0f}" if name in seconds else "-"
        paper_db, paper_ssim = PUBLISHED[name]
        fid, kid = real_look[name]
        print(f"| {name} | {steps[name]} | {db:.2f} | {similarity:.4f} | {db - base:+.2f} dB | {fid:.1f} | {kid:.1f} "
              f"| {cpu} | "
              f"{paper_db:.2f} / {paper_ssim:.4f} ({paper_db - PUBLISHED['bicubic'][0]:+.2f} dB) |")

    whole = whole_photo_scores({name: ganforge.load(root / name.lower()) for name in ("SRResNet", "SRGAN")})
    names = list(next(iter(whole.values())))
    print(f"Whole held-out photographs ({', '.join(names)}; each cut to a multiple of 4 px, downscaled x4 as "
          "data.pairs downscale4 does, upscaled whole; PSNR / SSIM on Y, 4 px border, then the mean of the photos):")
    columns = " | ".join(f"{name} PSNR / SSIM" for name in names)
    print(f"| model | {columns} | mean PSNR | mean SSIM | vs bicubic |")
    print("|---|" + "---|" * (len(names) + 3))
    base_whole = float(np.mean([db for db, _ in whole["bicubic"].values()]))
    for model, by_photo in whole.items():
        mean_db = float(np.mean([db for db, _ in by_photo.values()]))
        mean_ssim = float(np.mean([value for _, value in by_photo.values()]))
        cells = " | ".join(f"{db:.2f} / {value:.4f}" for db, value in by_photo.values())
        print(f"| {model} | {cells} | {mean_db:.2f} | {mean_ssim:.4f} | {mean_db - base_whole:+.2f} dB |")

    picks = torch.linspace(0, len(held_out) - 1, 6).round().long()  # bicubic | SRResNet | SRGAN | original
    quads = torch.stack([outputs["bicubic"][picks], outputs["SRResNet"][picks], outputs["SRGAN"][picks],
                         high[picks]], dim=1).flatten(0, 1)
    picture = image_grid(quads.clamp(0, 1), columns=4, caption="bicubic | SRResNet | SRGAN | original")
    save_png(picture, root / "comparison.png")
    print(f"comparison image: {root / 'comparison.png'}")


if __name__ == "__main__":
    main()
