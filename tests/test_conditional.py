"""The conditioning seam: labels and vectors from the data, conditional nets for every family, sampling by class,
several discriminators, and the refusals that go with them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import ShardedSampler, load_data
from ganforge.data.splits import HELD_OUT_PER_CLASS, split_indices, stratified_split
from ganforge.errors import ConfigError, DataError
from ganforge.families import FAMILIES

from conftest import TINY, tiny

CONDITIONS = ("concat", "projection", "auxiliary")
# sgan has its own classifier D; lapgan is unconditional here; image-to-image families are told an image instead
FAMILY_NAMES = [name for name, family in FAMILIES.items()
                if name not in ("sgan", "lapgan") and not family.image_conditioned]


def one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def final_tensors(run: Path) -> dict[str, torch.Tensor]:
    newest = sorted((run / "checkpoints").iterdir())[-1]
    return load_file(str(newest / "model.safetensors"))


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_family_trains_with_every_condition(family: str, condition: str, tmp_path: Path) -> None:
    source = "digits" if family in ("dcgan", "cgan", "acgan", "r3gan") else "ring"
    run = ganforge.train(tiny(model__family=family, data__source=source, model__condition=condition,
                              data__max_samples=80 if source == "digits" else None), out=tmp_path / "r")
    images = run.sample(6, labels=[3, 3, 3, 1, 1, 1], seed=0)
    assert images.shape[0] == 6 and torch.isfinite(images).all()
    assert run.condition == {"kind": "label", "num_classes": 10 if source == "digits" else 8}


@pytest.mark.parametrize("g_condition", ["concat", "batchnorm"])
def test_a_conv_generator_takes_the_label_by_concat_or_conditional_batchnorm(g_condition: str, tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family="cgan", data__source="digits", model__g_condition=g_condition,
                              data__max_samples=80), out=tmp_path / "r")
    generator = run._load()
    names = [type(m).__name__ for m in generator.modules()]
    assert ("ConditionalBatchNorm2d" in names) == (g_condition == "batchnorm")
    same_noise = [run.sample(2, labels=[k, k], seed=0) for k in (0, 5)]
    assert not torch.equal(same_noise[0], same_noise[1])  # the label changes the sample


@pytest.mark.parametrize("condition", ["concat", "projection"])
@pytest.mark.parametrize("width", [1, 7])
def test_a_float_condition_of_any_width_trains_and_samples(condition: str, width: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), c=rng.normal(size=(40, width)))
    run = ganforge.train(tiny(model__family="dcgan", data__source=str(path), model__condition=condition),
                         out=tmp_path / "r")
    assert run.condition == {"kind": "vector", "dim": width}
    vectors = torch.from_numpy(rng.normal(size=(5, width))).float()
    assert run.sample(5, conditions=vectors).shape == (5, 1, 8, 8)
    with pytest.raises(ConfigError, match=f"pass conditions= with one vector per sample, shaped \\(5, {width}\\)"):
        run.sample(5)


def test_labels_become_vectors_on_request(tmp_path: Path) -> None:
    digits = load_data(DataConfig(source="digits", labels="onehot"))
    assert digits.y is None and digits.c is not None and digits.c.shape == (1797, 10)
    assert digits.spec.condition_dim == 10 and torch.equal(digits.c.sum(1), torch.ones(1797))
    stacked = load_data(DataConfig(source="stacked-mnist", labels="digits", max_samples=50))
    assert stacked.c is not None and stacked.c.shape == (50, 30)
    assert torch.equal(stacked.c.sum(1), torch.full((50,), 3.0))


def test_named_families_pick_their_condition_and_the_default_grid_has_a_row_per_class(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r"
    args = [arg for key, value in TINY.items() for arg in (f"--{key}", str(value).lower())]
    assert main(["train", "--family", "acgan", "--data", "digits", "--data.max_samples", "80", "--out", str(out),
                 *args]) == 0
    config = ganforge.load(out).config
    assert config.model.condition == "auxiliary"
    assert main(["sample", str(out), "--out", str(tmp_path / "grid.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "grid.png") as grid:  # 10 rows (classes) of 8, 8 px each with 2 px padding
        assert grid.size == (8 * 10 + 2, 10 * 10 + 2)
    assert main(["sample", str(out), "--class", "seven", "--n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    assert "of class seven" in capsys.readouterr().out
    assert main(["sample", str(out), "--class", "7", "--n", "4", "--out", str(tmp_path / "t.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "s.npy"), np.load(tmp_path / "t.npy"))


def test_sampling_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conditional, plain = tmp_path / "c", tmp_path / "p"
    ganforge.train(tiny(model__family="cgan", data__source="digits", data__max_samples=80), out=conditional)
    ganforge.train(tiny(model__family="dcgan", data__source="digits", data__max_samples=80), out=plain)
    capsys.readouterr()
    cases = [
        (["sample", str(conditional), "--class", "12"], "class 12 is out of range", "0 to 9"),
        (["sample", str(conditional), "--class", "eleven"], "unknown class 'eleven'", "zero, one, two"),
        (["sample", str(plain), "--class", "3"], "is unconditional"),
    ]
    for args, *fragments in cases:
        code = main(args)
        one_line_error(code, capsys.readouterr().err, *fragments)


def test_conditional_models_on_unlabelled_data_are_refused_before_anything_is_written(
        tmp_path: Path, image_array: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--family", "cgan"], ["--family", "dcgan", "--model.condition", "projection"]):
        code = main(["train", *args, "--data", str(image_array), "--out", str(tmp_path / "r")])
        one_line_error(code, capsys.readouterr().err, "needs labels or condition vectors")
        assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("labels", "fragment"), [
    (np.arange(39), "labels have shape (39,); expected one integer per sample (40)"),
    (np.linspace(0, 1, 40), "labels must be integers >= 0"),
    (-np.ones(40, dtype=int), "labels must be integers >= 0"),
])
def test_npz_labels_that_do_not_fit_are_refused(labels: np.ndarray, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((40, 8, 8), dtype=np.uint8), y=labels)
    with pytest.raises(DataError, match=fragment.replace("(", "\\(").replace(")", "\\)")):
        load_data(DataConfig(source=str(path)))


def test_a_semi_supervised_run_never_trains_on_the_held_out_digits() -> None:
    """data.labelled on mnist/digits trains on the train split (auto), whatever the seed; the held-out digits are
    the same at any data.max_samples."""
    for source in ("mnist", "digits"):
        test = load_data(DataConfig(source=source, split="test"))
        labelled = load_data(DataConfig(source=source, labelled=5, labelled_seed=0))
        assert len(labelled) + len(test) == len(load_data(DataConfig(source=source)))
        seen = {bytes(image.numpy()) for image in labelled.x}
        assert not any(bytes(image.numpy()) in seen for image in test.x)
    small = load_data(DataConfig(source="mnist", split="train", max_samples=2000))
    held_out = {bytes(image.numpy()) for image in load_data(DataConfig(source="mnist", split="test")).x}
    assert not any(bytes(image.numpy()) in held_out for image in small.x)


def test_labelled_keeps_n_labels_per_class_chosen_by_the_seed() -> None:
    full = load_data(DataConfig(source="digits", split="train"))  # data.labelled's auto split: train
    partial = load_data(DataConfig(source="digits", labelled=5, labelled_seed=1))
    assert partial.y is not None and full.y is not None
    kept = partial.y >= 0
    assert int(kept.sum()) == 50 and torch.equal(partial.y[kept], full.y[kept])
    assert torch.equal(torch.bincount(partial.y[kept]), torch.full((10,), 5))
    again = load_data(DataConfig(source="digits", labelled=5, labelled_seed=1)).y
    other = load_data(DataConfig(source="digits", labelled=5, labelled_seed=2)).y
    assert torch.equal(partial.y, again) and not torch.equal(partial.y, other)
    with pytest.raises(DataError, match="more labels per class than the smallest class has"):
        load_data(DataConfig(source="digits", labelled=1000))
    with pytest.raises(DataError, match="has no labels"):
        load_data(DataConfig(source="ring", labels="none", labelled=3))


def test_the_test_split_is_the_classifiers_held_out_digits() -> None:
    everything = load_data(DataConfig(source="mnist"))
    test = load_data(DataConfig(source="mnist", split="test"))
    train = load_data(DataConfig(source="mnist", split="train"))
    assert len(test) == 10 * HELD_OUT_PER_CLASS["mnist"] and len(train) + len(test) == len(everything)
    held = stratified_split(everything.y, HELD_OUT_PER_CLASS["mnist"], 0)[1]
    assert torch.equal(test.x, everything.x[held])
    assert torch.equal(split_indices("mnist", everything.y, "test"), held)
    with pytest.raises(DataError, match="has none: use --data.split all"):
        load_data(DataConfig(source="ring", split="test"))


def test_several_discriminators_each_get_an_optimiser_and_a_slice(tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family="vanilla", data__source="ring", model__discriminators=3),
                         out=tmp_path / "r")
    tensors = final_tensors(run.dir.root)
    for k in range(3):
        assert any(name.startswith(f"nets.discriminator_{k}.") for name in tensors)
        assert any(name.startswith(f"optim.discriminator_{k}.") for name in tensors)
    records = [json.loads(line) for line in run.dir.metrics.read_text().splitlines()]
    assert {"D0/loss", "D1/loss", "D2/loss", "G/loss"} <= set(records[0])


def test_gman_softmax_weights_lean_on_the_discriminator_g_loses_to() -> None:
    from ganforge.config import from_overrides
    from ganforge.data.spec import DataSpec
    from ganforge.families import get_family

    def combined(mode: str, lam: float) -> float:
        config = from_overrides({"data.source": "ring", "model.family": "vanilla", "model.arch": "mlp",
                                 "model.d_norm": "none", "model.g_loss": "non-saturating", "model.condition": "none",
                                 "model.discriminators": 3, "model.d_combine": mode, "model.d_softmax_lambda": lam})
        family = get_family("vanilla")(config, DataSpec(name="ring", kind="vector", shape=(2,)))
        return float(family.combine([torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)]))

    assert combined("mean", 1.0) == pytest.approx(7 / 3)
    weights = torch.softmax(torch.tensor([1.0, 2.0, 4.0]), 0)
    assert combined("softmax", 1.0) == pytest.approx(float((weights * torch.tensor([1.0, 2.0, 4.0])).sum()))
    assert combined("softmax", 0.0) == pytest.approx(7 / 3)
    assert combined("softmax", 50.0) == pytest.approx(4.0, rel=1e-3)


def test_shards_partition_the_data_and_resume_exactly() -> None:
    sampler = ShardedSampler(100, 10, seed=0, shards=2)
    first = [sampler.next_indices() for _ in range(7)]
    shard_0 = torch.cat([f[:10] for f in first[:5]]).unique()
    shard_1 = torch.cat([f[10:] for f in first[:5]]).unique()
    assert len(shard_0) == len(shard_1) == 50 and not set(shard_0.tolist()) & set(shard_1.tolist())
    state = sampler.state_dict()
    more = [sampler.next_indices() for _ in range(4)]
    again = ShardedSampler(100, 10, seed=0, shards=2)
    again.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(more, [again.next_indices() for _ in range(4)], strict=True))


@pytest.mark.parametrize(("family", "source", "extra"), [
    ("cgan", "digits", {}), ("acgan", "digits", {}), ("r3gan", "digits", {"model.condition": "projection"}),
    ("vanilla", "ring", {"model.discriminators": 2}),
    ("vanilla", "ring", {"model.discriminators": 2, "model.d_data": "shards", "model.d_combine": "softmax"}),
    ("sgan", "digits", {"data.labelled": 5}),
])
def test_resume_is_bit_exact_for_conditional_and_multi_discriminator_runs(family: str, source: str, extra: dict,
                                                                           tmp_path: Path) -> None:
    config = tiny(model__family=family, data__source=source, train__steps=12, train__checkpoint_every=100,
                  train__sample_every=100, data__max_samples=160 if source == "digits" else None, **extra)
    ganforge.train(config, out=tmp_path / "straight")
    ganforge.train({**config, "train.steps": 6}, out=tmp_path / "split")
    ganforge.resume(tmp_path / "split", train__steps=12)
    straight, split = final_tensors(tmp_path / "straight"), final_tensors(tmp_path / "split")
    assert [k for k in straight if not torch.equal(straight[k], split[k])] == []


def test_conditional_bad_combinations_are_refused(tmp_path: Path) -> None:
    cases = [
        ({"model.family": "cgan", "data.source": "digits", "model.pack": 2}, "model.pack 2"),
        ({"model.family": "vanilla", "data.source": "ring", "model.condition": "concat",
          "model.g_condition": "batchnorm"}, "needs a conv G"),
        ({"model.family": "dcgan", "data.source": "digits", "data.labels": "onehot", "model.condition": "auxiliary"},
         "needs class labels"),
        ({"model.family": "vanilla", "data.source": "ring", "model.discriminators": 0}, "expected a number above 0"),
        ({"model.family": "cgan", "data.source": "digits", "data.labelled": 5}, "sgan family"),
        ({"model.family": "dcgan", "data.source": "digits", "model.g_loss": "feature-matching"},
         "not a generator loss of family 'dcgan'"),
        ({"model.family": "sgan", "data.source": "digits", "data.labelled": 5, "model.d_norm": "batch"},
         "BatchNorm's running statistics mix real and generated batches"),
    ]
    for overrides, fragment in cases:
        with pytest.raises((ConfigError, DataError), match=fragment):
            ganforge.train(tiny(**{k.replace(".", "__"): v for k, v in overrides.items()}), out=tmp_path / "r")


MDGAN_SCRIPT = """
import sys, torch, torch.distributed as dist
from ganforge.data import load_data
from ganforge.recipes import resolve
from ganforge.train.rundir import RunDir
from ganforge.train.trainer import Trainer
config = resolve({"data.source": "ring", "model.family": "vanilla", "train.steps": 6, "train.batch_size": 16,
                  "train.progress": False, "model.mlp_hidden": 16, "model.latent_dim": 4, "train.threads": 1,
                  "model.discriminators": 2, "model.d_data": "shards", "train.checkpoint_every": 6})
trainer = Trainer(config, RunDir(sys.argv[1]), load_data(config.data))
if trainer.backend.is_main:
    RunDir(sys.argv[1]).prepare_new(config, overwrite=False)
trainer.backend.barrier()
before = {k: torch.cat([p.detach().flatten().clone() for p in net.parameters()]) for k, net in trainer.nets.items()}
trainer.fit()
after = {k: torch.cat([p.detach().flatten() for p in net.parameters()]) for k, net in trainer.nets.items()}
gathered = {k: [torch.zeros_like(v) for _ in range(2)] for k, v in after.items()}
for k, v in after.items():
    dist.all_gather(gathered[k], v)
if trainer.backend.is_main:
    print("PHASES", [p.module for p in trainer.phases])
    print("G_EQUAL", bool(torch.equal(*gathered["generator"])))
    print("D_SHARED", all(torch.equal(*gathered[k]) for k in ("discriminator_0", "discriminator_1")))
    print("D_DIFFER", not torch.equal(after["discriminator_0"], after["discriminator_1"]))
    print("D_TRAINED", all(not torch.equal(before[k], after[k]) for k in ("discriminator_0", "discriminator_1")))
trainer.close()
"""


def test_mdgan_under_torchrun_trains_one_discriminator_per_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "mdgan.py"
    script.write_text(MDGAN_SCRIPT)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29523", str(script), str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=240)
    out = result.stdout
    assert "PHASES ['discriminator_0', 'generator']" in out, out + result.stderr[-3000:]
    for flag in ("G_EQUAL True", "D_SHARED True", "D_DIFFER True", "D_TRAINED True"):
        assert flag in out, out
    assert (tmp_path / "run" / "checkpoints" / "step-0000006").is_dir()


def test_a_conditional_recipe_puts_each_class_on_its_own_mode_of_the_ring(tmp_path: Path) -> None:
    """The learning test: label = mode of PacGAN's ring; >= 90% of class k's samples lie nearest mode k."""
    from ganforge.data.toy import ring_centres
    from ganforge.recipes import RECOMMENDED

    config = {**RECOMMENDED["vector"], "data.source": "ring", "model.condition": "concat", "train.steps": 2000,
              "train.progress": False, "train.checkpoint_every": 2000, "train.sample_every": 2000,
              "train.threads": 1}
    run = ganforge.train(config, out=tmp_path / "r")
    centres = torch.from_numpy(ring_centres()).float()
    for k in range(8):
        points = run.sample(500, labels=k, seed=k)
        nearest = torch.cdist(points, centres).argmin(1)
        assert float((nearest == k).float().mean()) >= 0.9, f"class {k}"


@pytest.mark.parametrize("on_fakes", [False, True])
def test_acgan_trains_its_class_head_on_fakes_only_when_asked(on_fakes: bool, tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family="acgan", data__source="digits", data__max_samples=40,
                              train__class_loss_on_fakes=on_fakes), out=tmp_path / "r")
    keys = {key for record in run.metrics() for key in record}
    assert "D/class_real" in keys and ("D/class_fake" in keys) == on_fakes


@pytest.mark.parametrize(("kernel", "stride", "padding", "spectral"), [(4, 2, 1, False), (4, 2, 1, True),
                                                                        (1, 1, 0, False), (3, 1, 1, False)])
@pytest.mark.parametrize("labels", [True, False])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_a_concat_condition_through_a_conv_equals_the_conv_over_tiled_maps(kernel: int, stride: int, padding: int,
                                                                          spectral: bool, labels: bool,
                                                                          layout: torch.memory_format) -> None:
    from torch.nn.utils.parametrizations import spectral_norm

    from ganforge.nets.conditioning import DiscriminatorCondition

    torch.manual_seed(0)
    condition = DiscriminatorCondition("concat", 10 if labels else 0, 0 if labels else 5, 8, 8)
    conv = torch.nn.Conv2d(6 + condition.input_width, 8, kernel, stride, padding)
    conv = spectral_norm(conv) if spectral else conv
    conv.eval()  # spectral norm: no power iteration, so both paths see the same weight
    x = torch.randn(4, 6, 9, 9).contiguous(memory_format=layout).requires_grad_()
    y, c = (torch.tensor([0, 3, 3, 9]), None) if labels else (None, torch.randn(4, 5))

    def outputs_and_grads(fast: bool) -> list[torch.Tensor]:
        out = condition.join_conv(conv, x, y, c) if fast else conv(condition.join(x, y, c))
        grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(),
                                    [x, *condition.parameters(), *conv.parameters()])
        return [out, *grads]

    for fast, tiled in zip(outputs_and_grads(True), outputs_and_grads(False), strict=True):
        torch.testing.assert_close(fast, tiled, rtol=1e-4, atol=1e-5)


def test_a_generator_given_the_label_by_concat_equals_its_first_layer_over_z_joined_with_the_embedding() -> None:
    from ganforge.nets.conditioning import run_layers
    from ganforge.nets.dcgan import DCGANGenerator

    torch.manual_seed(0)
    generator = DCGANGenerator(16, 28, 1, width=8, num_classes=10)
    z, y = torch.randn(6, 16), torch.tensor([0, 1, 2, 7, 7, 9])
    joined = torch.cat([z, generator.condition(y, None)], dim=1)[:, :, None, None]
    torch.testing.assert_close(generator(z, y), run_layers(generator.main, joined, y, None), rtol=1e-4, atol=1e-5)


def test_cgan_averages_g_over_about_200_updates_unless_told_otherwise() -> None:
    from ganforge.recipes import resolve

    assert resolve({"model.family": "cgan", "data.source": "mnist"}).train.ema_decay == 0.995
    assert resolve({"model.family": "cgan", "data.source": "mnist", "train.ema_decay": 0.999}).train.ema_decay == 0.999
    assert resolve({"model.family": "acgan", "data.source": "mnist"}).train.ema_decay == 0.999
