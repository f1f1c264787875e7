"""The benchmarks run (in their --quick mode) and print their figures."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import ganforge

from conftest import FASHION_MNIST_MISSING, fashion_mnist_present, tiny

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(name: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), "--quick"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def load_benchmark(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_mode_collapse() -> Any:
    return load_benchmark("mode_collapse")


def test_throughput_benchmark_compares_both_loops() -> None:
    out = run_quick("throughput.py")
    assert "reference" in out and "ganforge (EMA on)" in out and "ratio to reference" in out


@pytest.mark.slow
@pytest.mark.inception
def test_metrics_speed_benchmark_runs() -> None:
    pytest.importorskip("torchmetrics")
    assert "speed ratio ganforge / torchmetrics" in run_quick("metrics_speed.py")


def test_under_load_benchmark_measures_auto_alone_and_beside_a_competitor() -> None:
    out = run_quick("under_load.py")
    row = next(line for line in out.splitlines() if line.startswith("| auto |"))
    alone, beside = (cell.strip() for cell in row.strip("|").split("|")[1:])
    assert float(alone.split()[0]) > 0 and "%" in beside and "/1" in alone  # grid is an MLP run: one thread


def test_mode_collapse_benchmark_prints_rows_beside_the_published_ones() -> None:
    out = run_quick("mode_collapse.py")
    assert "GAN" in out and "PacGAN2" in out and "7.9 / 95.6 / 0.07" in out


def test_mnist_recipes_benchmark_scores_each_recipe_at_the_references_cpu_time() -> None:
    out = run_quick("mnist_recipes.py")
    rows = [line for line in out.splitlines() if line.startswith(("make run", "DCGAN + linear"))]
    assert len(rows) == 2
    assert all(float(row.split()[-1]) > 0 for row in rows)  # an FID, not a placeholder


def test_mode_collapse_staged_run_ends_where_an_uninterrupted_run_ends(capsys: pytest.CaptureFixture[str],
                                                                        tmp_path: Path) -> None:
    module = load_mode_collapse()
    whole, _ = module.one_run("ring", "GAN", 60, 0, 1)
    staged, _ = module.one_run("ring", "GAN", 60, 0, 1, score_every=20, keep=str(tmp_path))
    assert staged == whole  # each stage resumes its checkpoint exactly
    stages = [line for line in capsys.readouterr().out.splitlines() if "stage ring / GAN / seed 0" in line]
    assert [line.split("step ")[1].split(":")[0] for line in stages] == ["20", "40"]
    kept = sorted(path.name for path in (tmp_path / "ring-GAN-seed0" / "checkpoints").iterdir())
    assert kept == ["step-0000020", "step-0000040", "step-0000060"]  # every stage stays, to branch from


def test_mode_collapse_stages_stop_before_an_lr_decay_and_not_inside_it() -> None:
    stage_ends = load_mode_collapse().stage_ends
    assert stage_ends(80000, 10000, None) == [10000 * k for k in range(1, 9)]
    assert stage_ends(80000, 10000, 60000) == [10000 * k for k in range(1, 7)] + [80000]
    assert stage_ends(100, 30, 75) == [30, 60, 100]
    assert stage_ends(100, 0, None) == [100]


def test_mode_collapse_staged_decayed_run_equals_an_uninterrupted_one(monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    module = load_mode_collapse()
    plain = module.recipe_for
    monkeypatch.setattr(module, "recipe_for", lambda data, row, steps, seed: {
        **plain(data, row, steps, seed), "train.lr_decay": "linear", "train.lr_decay_start": 3 * steps // 4})
    whole, _ = module.one_run("ring", "GAN", 80, 0, 1)
    staged, _ = module.one_run("ring", "GAN", 80, 0, 1, score_every=20)
    assert staged == whole  # constant stages up to step 60, then the decay in one stage
    stages = [line for line in capsys.readouterr().out.splitlines() if "stage ring" in line]
    assert [line.split("step ")[1].split(":")[0] for line in stages] == ["20", "40", "60"]
    constant, _ = load_mode_collapse().one_run("ring", "GAN", 80, 0, 1)
    assert constant != whole  # the decay was applied


def test_mode_collapse_decayed_row_anneals_the_last_quarter() -> None:
    module = load_mode_collapse()
    recipe = module.recipe_for("stacked-mnist", "recommended + LR decay (last quarter)", 80000, 0)
    assert (recipe["train.lr_decay"], recipe["train.lr_decay_start"], recipe["train.steps"]) == ("linear", 60000, 80000)


def test_mode_collapse_every_stacked_row_builds_its_nets() -> None:
    from ganforge.data import load_data
    from ganforge.families import FAMILIES
    from ganforge.recipes import resolve

    module = load_mode_collapse()
    spec = load_data(resolve({"data.source": "stacked-mnist", "data.max_samples": 64}).data).spec
    for row in module.STACKED_ROWS:
        config = resolve(module.recipe_for("stacked-mnist", row, 100, 0))
        nets = FAMILIES[config.model.family](config, spec).build_nets()
        discriminators = [net for name, net in nets.items() if name.startswith("discriminator")]
        assert len(discriminators) == config.model.discriminators, row
        for discriminator in discriminators:
            assert discriminator(torch.zeros(2, 3 * config.model.pack, 28, 28)).shape == (2,), row
    shallower = module.recipe_for("stacked-mnist", "recommended, D to 7 px (d_min_px 8)", 100, 0)
    assert shallower["model.d_min_px"] == 8 and shallower["model.family"] == "r3gan"
    assert module.recipe_for("stacked-mnist", "recommended", 100, 0)["model.d_min_px"] == 4


def test_mode_collapse_refuses_stages_for_a_decay_from_the_first_step() -> None:
    with pytest.raises(SystemExit, match="run it without --score-every"):
        load_mode_collapse().one_run("ring", "recommended", 60, 0, 1, score_every=20)


def test_digit_balance_benchmark_prints_a_digit_kl_per_run() -> None:
    out = run_quick("digit_balance.py")
    rows = [line.split() for line in out.splitlines() if line.startswith(("recommended", "D to 7 px"))]
    assert len(rows) == 2
    kl_column = [float(row[2 if row[0] == "recommended" else 5]) for row in rows]
    assert all(0 <= kl <= math.log(10) + 1e-3 for kl in kl_column)  # log 10: every sample one digit


def test_digit_balance_counts_shares_and_kl_by_hand() -> None:
    module = load_benchmark("digit_balance")
    probabilities = torch.zeros(4, 10)
    probabilities[[0, 1, 2, 3], [1, 1, 1, 7]] = torch.tensor([0.95, 0.5, 0.99, 0.8])
    result = module.digit_balance(probabilities)
    assert result["shares"][1] == 0.75 and result["shares"][7] == 0.25
    assert result["digit_kl"] == pytest.approx(0.75 * math.log(7.5) + 0.25 * math.log(2.5))
    assert result["below_0.9"] == 0.5 and result["confidence"] == pytest.approx(0.81)


def test_superres_benchmark_scores_bicubic_srresnet_and_srgan_beside_the_paper() -> None:
    out = run_quick("superres.py")
    crops, whole = out.split("Whole held-out photographs")
    rows = {line.split("|")[1].strip(): line for line in crops.splitlines() if line.startswith("| ")}
    photos = {line.split("|")[1].strip(): line.split("|") for line in whole.splitlines() if line.startswith("| ")}
    assert "china PSNR / SSIM" in photos["model"][2] and "hubble_deep_field" in photos["model"][3]
    for name in ("bicubic", "SRResNet", "SRGAN"):  # the mean of the two photos' PSNR, and the gap to bicubic's
        per_photo = [float(photos[name][column].split("/")[0]) for column in (2, 3)]
        assert float(photos[name][4]) == pytest.approx(sum(per_photo) / 2, abs=0.011)
        assert float(photos[name][6].split()[0]) == pytest.approx(
            float(photos[name][4]) - float(photos["bicubic"][4]), abs=0.021)
    assert {"bicubic", "SRResNet", "SRGAN"} <= set(rows) and "32.05 / 0.9019" in rows["SRResNet"]
    assert all(math.isfinite(float(rows[name].split("|")[3])) for name in ("bicubic", "SRResNet", "SRGAN"))
    assert "comparison image" in out
    assert all(math.isfinite(float(rows[name].split("|")[6])) for name in ("bicubic", "SRResNet", "SRGAN"))  # FID


def test_superres_spectrum_benchmark_prints_the_originals_and_the_run_band_by_band() -> None:
    out = run_quick("superres_spectrum.py")
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    assert rows[0][0].strip() == "residual of" and len(rows[0]) == 10
    assert [row[0].strip() for row in rows[1:]] == ["originals", "quick"]
    assert all(float(cell) >= 0 for row in rows[1:] for cell in row[1:])
    assert "32 px crops" in out


def test_superres_spectrum_benchmark_refuses_a_run_that_is_not_x4_in_one_line(tmp_path: Path) -> None:
    run = tmp_path / "x2"
    ganforge.train({"data.source": "digits", "data.max_samples": 16, "model.family": "srgan",
                    "data.pairs": "downscale2", "train.pretrain_steps": 1, **tiny(train__steps=1)}, out=run)
    result = subprocess.run([sys.executable, str(BENCHMARKS / "superres_spectrum.py"), str(run)],
                            capture_output=True, text=True, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "'downscale2'" in lines[0] and "data.pairs downscale4" in lines[0] and str(run) in lines[0]


def test_residual_spectrum_keeps_parseval_and_puts_a_wave_in_its_band_and_grid_cell() -> None:
    spectrum = load_benchmark("superres_spectrum")
    generator = torch.Generator().manual_seed(0)
    output, upscaled = torch.rand(3, 3, 32, 32, generator=generator), torch.rand(3, 3, 32, 32, generator=generator)
    power = spectrum.residual_power(output, upscaled)
    grey = 255.0 * (output - upscaled).mean(dim=1).double()
    assert float(power.mean()) == pytest.approx(float(grey.pow(2).mean()), rel=1e-9)  # Parseval
    by_numpy = np.mean(np.abs(np.fft.fft2(grey.numpy())) ** 2, axis=0) / (32 * 32)
    assert np.allclose(power.numpy(), by_numpy)
    columns = torch.arange(32, dtype=torch.float64)
    for cycles, band in ((6, 2), (8, 3), (16, 4)):  # 6/32 in [1/8, 1/4), 1/4 in [1/4, 3/8), 1/2 in the last band
        wave = (torch.cos(2 * math.pi * cycles * columns / 32) / 255.0).expand(1, 3, 32, 32).float()
        bands = spectrum.band_powers(spectrum.residual_power(wave, torch.zeros_like(wave)))
        assert [index for index, value in enumerate(bands) if value > 1e-6] == [band]
    grid = spectrum.grid_powers(spectrum.residual_power(wave, torch.zeros_like(wave)))  # the last wave: fx = 1/2
    assert grid[2] > 0 and grid[0] == grid[1] == grid[3] == pytest.approx(0, abs=1e-9)


def test_translation_benchmark_scores_pix2pix_beside_the_l1_only_unet_and_the_input() -> None:
    out = run_quick("translation.py")
    tables = out.split("data.pairs ")[1:]
    assert len(tables) == 2
    for table in tables:
        rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines() if line.startswith("| ")}
        assert {"the input itself", "L1-only U-Net", "pix2pix (L1 100 + adversarial)"} <= set(rows)
        assert all(math.isfinite(float(rows[name][4])) for name in ("the input itself", "L1-only U-Net"))  # PSNR
        assert rows["target (real held-out digits)"][8].strip().endswith("%")


def test_conditional_recipe_names_can_be_picked_from_a_comma_list() -> None:
    import sys

    sys.path.insert(0, str(BENCHMARKS))  # conditional.py imports mnist_recipes from its own folder
    try:
        module = load_benchmark("conditional")
    finally:
        sys.path.remove(str(BENCHMARKS))
    assert all("," not in name for name in module.RECIPES)  # --recipes splits on commas


@pytest.mark.slow  # on a fresh cache it first trains the Fashion-MNIST classifier on 60,000 images (~170 CPU s)
@pytest.mark.skipif(not fashion_mnist_present(), reason=FASHION_MNIST_MISSING)
def test_fashion_mnist_benchmark_scores_each_recipe_at_each_budget_beside_the_study() -> None:
    out = run_quick("fashion_mnist.py")
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    ours = [row for row in rows if not row[0].startswith(" Lucic")]
    assert "note: recipe 'dcgan' trains the same settings as 'recommended'" in out  # trained once
    assert [row[0].split()[0] for row in ours] == ["recommended", "recommended", "WGAN-GP", "WGAN-GP"]
    for row in ours:
        assert int(row[4]) >= 1 and float(row[3]) > 0  # steps and CPU s recorded per row
        assert math.isfinite(float(row[5])) and row[6].strip() == "skipped"  # classifier FID; no Inception in quick
    assert [int(row[4]) for row in ours[:2]] == sorted(int(row[4]) for row in ours[:2])  # later budget, more steps
    study = {row[0].split(": ")[1].strip(): row[6].strip() for row in rows if row[0].startswith(" Lucic")}
    assert study["WGAN"] == "21.5 ± 1.6" and study["NS GAN"] == "26.5 ± 1.6" and len(study) == 8


def test_fashion_mnist_benchmark_budgets_its_stages_by_the_probes() -> None:
    module = load_benchmark("fashion_mnist")
    assert module.step_cost((10.0, 30.0), (40, 120)) == 0.25  # setup (5 s) cancels out
    assert module.step_cost((12.0, 11.0), (2, 6)) == 11.0 / 6  # probes out of order: the longer one's mean
    assert module.stage_target(0, 0.0, 1800.0, 0.25) == 7200
    assert module.stage_target(7200, 1850.0, 3600.0, 0.25) == 14200  # the overshoot comes off the next stage
    assert module.stage_target(10, 5.0, 2.0, 0.25) == 11  # past the budget already: one step more
    assert all("," not in name for name in module.RECIPES)  # --recipes splits on commas
    assert module.RECIPES["recommended"]["model.family"] == "dcgan"
    assert module.RECIPES["dcgan"]["data.source"] == "fashion-mnist"


def test_fashion_mnist_benchmark_trains_a_recipe_that_repeats_another_once(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_benchmark("fashion_mnist")
    assert module.distinct_recipes(["recommended", "dcgan", "wgan-gp"]) == (["recommended", "wgan-gp"],
                                                                            {"dcgan": "recommended"})
    assert module.distinct_recipes(["dcgan"]) == (["dcgan"], {})  # alone, a repeat is still run
    # a setting that changes the weights makes a recipe distinct; cadence and evaluation keys do not
    monkeypatch.setitem(module.RECIPES, "dcgan", {**module.RECIPES["dcgan"], "train.lr_d": 1e-4})
    assert module.distinct_recipes(["recommended", "dcgan"]) == (["recommended", "dcgan"], {})
    monkeypatch.setitem(module.RECIPES, "dcgan", {**module.RECIPES["recommended"], "train.eval_every": 500,
                                                  "train.sample_every": 7, "train.steps": 5})
    assert module.distinct_recipes(["recommended", "dcgan"]) == (["recommended"], {"dcgan": "recommended"})


def test_fashion_mnist_benchmark_keeps_each_stops_generator_where_eval_can_score_it(tmp_path: Path) -> None:
    module = load_benchmark("fashion_mnist")
    run = ganforge.train({"data.source": "digits", "data.max_samples": 64, **tiny(train__steps=2)},
                         out=tmp_path / "run")
    snapshot = module.export_snapshot(tmp_path / "run", tmp_path / "run-at-1s")
    kept = ganforge.load(snapshot)
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(module.SNAPSHOT_FILES)
    assert kept.step == run.step == 2 and torch.equal(kept.sample(4, seed=3), run.sample(4, seed=3))
    ganforge.resume(tmp_path / "run", train__steps=3)  # training on does not touch the kept generator
    assert ganforge.load(snapshot).step == 2 and ganforge.load(tmp_path / "run").step == 3


def test_step_cost_benchmark_turns_the_ratio_into_steps_in_make_runs_time() -> None:
    out = run_quick("step_cost.py")
    row = next(line for line in out.splitlines() if line.startswith("| cgan"))
    reference, recipe, ratio, steps = (cell.strip() for cell in row.strip("|").split("|")[1:])
    shown = float(ratio.split()[0])  # rounded to 3 decimals
    assert shown == pytest.approx(float(recipe) / float(reference), abs=2e-3)
    assert abs(int(steps) - 5000 / shown) <= 3


def test_denormal_numbers_benchmark_times_each_gradient_kind_with_and_without_flushing() -> None:
    out = run_quick("denormal_numbers.py")
    assert "flush off" in out and "flush on" in out and "denormal (loss x 1e-39)" in out
    assert "denormal gradients without flushing:" in out


def test_diagnostics_replay_prints_the_warnings_raised_now_beside_those_recorded() -> None:
    out = run_quick("diagnostics_replay.py")
    rows = [line.split("|") for line in out.splitlines() if line.startswith("| ring")]
    assert len(rows) == 1 and rows[0][2].strip() == "vanilla" and rows[0][3].strip() and rows[0][4].strip()
