"""CycleGAN: two unpaired domains in the data, four nets trained and resumed exactly (image pools included), both
directions of translate, the history pool, evaluation of both directions, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.apps.report import write_report
from ganforge.cli import main
from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.data.domains import box_of
from ganforge.errors import ConfigError
from ganforge.evaluate_domains import domain_classifier, evaluate_domains
from ganforge.families.base import StepState
from ganforge.families.cyclegan import CycleGAN
from ganforge.image_pool import ImagePool
from ganforge.metrics import classifier as classifier_module
from ganforge.metrics.classifier import DigitClassifier, to_classifier_input
from ganforge.metrics.features import as_uint8
from ganforge.metrics.fid import fid_from_features
from ganforge.train.rundir import load_generator

from conftest import one_line, tiny, write_image

DOMAINS = {"model.family": "cyclegan", "data.source": "digits", "data.target": "digits", "data.max_samples": 40}
NETS = ("generator", "generator_ba", "discriminator_a", "discriminator_b")


def cyclegan(tmp_path: Path, name: str = "run", **overrides: object) -> ganforge.Run:
    return ganforge.train({**DOMAINS, **tiny(**overrides)}, out=tmp_path / name)


def test_two_domains_are_loaded_apart_and_brought_to_one_form() -> None:
    data = load_data(DataConfig(source="digits", target="mnist", unpaired=True, max_samples=12))
    assert data.domain_b is not None and data.spec.domain_b == "mnist" and data.spec.unpaired
    assert data.x.shape == data.domain_b.x.shape == (12, 1, 28, 28)  # the larger side: mnist's 28 px
    assert data.y is not None and data.domain_b.y is not None  # each domain keeps its labels (for evaluation)
    batch = data.batch(torch.tensor([0, 1]), torch.device("cpu"), torch.tensor([5, 6, 7]))
    assert batch["x"].shape == (2, 1, 28, 28) and batch["x_b"].shape == (3, 1, 28, 28)
    assert torch.equal(batch["y_b"], data.domain_b.y[5:8])
    small = load_data(DataConfig(source="digits", target="mnist", unpaired=True, max_samples=4, resolution=16,
                                 channels=3))
    assert small.x.shape == small.domain_b.x.shape == (4, 3, 16, 16)


def test_target_box_centres_domain_b_in_a_black_frame_as_the_box_sized_load() -> None:
    boxed = load_data(DataConfig(source="mnist", target="digits", unpaired=True, max_samples=12, target_box=20))
    assert boxed.domain_b is not None and boxed.x.shape == boxed.domain_b.x.shape == (12, 1, 28, 28)
    assert boxed.domain_b.spec.shape == (1, 28, 28)
    at_box = load_data(DataConfig(source="digits", max_samples=12, resolution=20))  # B as a 20 px source of its own
    assert torch.equal(box_of(boxed.domain_b.x, 20), at_box.x)
    frame = boxed.domain_b.x.clone()
    frame[..., 4:24, 4:24] = 0
    assert int(frame.max()) == 0 and int(boxed.domain_b.x.max()) > 0  # black around the box, the digit inside
    assert torch.equal(boxed.x, load_data(DataConfig(source="mnist", max_samples=12)).x)  # domain A as it was
    odd = load_data(DataConfig(source="mnist", target="digits", unpaired=True, max_samples=2, target_box=9))
    assert odd.domain_b is not None and torch.equal(box_of(odd.domain_b.x, 9), odd.domain_b.x[..., 9:18, 9:18])


def test_two_steps_train_four_nets_and_export_both_directions(tmp_path: Path) -> None:
    run = cyclegan(tmp_path, train__steps=2, train__checkpoint_every=2, train__sample_every=2)
    config = run.config
    assert (config.train.lr_decay, config.train.lr_decay_start, config.train.ema) == ("linear", 1, False)
    assert run.directions == ("a2b", "b2a") and run.condition == {"kind": "image", "channels": 1, "scale": 1,
                                                                  "directions": ["a2b", "b2a"]}
    record = [r for r in run.metrics() if "G/cycle" in r][-1]
    assert {"D/loss", "D/loss_a", "D/loss_b", "G/adversarial", "G/identity"} <= set(record)
    assert {f"lr/{name}" for name in NETS} <= set(record)  # one optimiser per net
    assert (tmp_path / "run" / "generator_ba.json").is_file()
    with Image.open(tmp_path / "run" / "samples" / "step-0000002.png") as grid:  # 12 A and 12 B triplets, 4 a row
        assert grid.height == 6 * 10 + 2 + 14 and grid.width >= 12 * 10 + 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ganforge.Run:
    """A tiny run on the training splits (data.split test stays unseen, for evaluation)."""
    return ganforge.train({**DOMAINS, "data.max_samples": None, "data.split": "train",
                           **tiny(train__steps=3, train__checkpoint_every=3)},
                          out=tmp_path_factory.mktemp("cyclegan") / "run")


def test_translate_works_both_ways_on_an_odd_sized_image(trained: ganforge.Run, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    image = torch.rand(2, 1, 13, 7)
    forward, backward = trained.translate(image), trained.translate(image, direction="b2a")
    assert forward.shape == backward.shape == (2, 1, 13, 7) and not torch.equal(forward, backward)
    assert float(backward.min()) >= 0 and float(backward.max()) <= 1
    source = write_image(tmp_path / "in" / "odd.png", (11, 9), "L")
    for direction in ("a2b", "b2a"):
        out = tmp_path / direction
        assert main(["translate", str(trained.dir.root), str(source), "--direction", direction, "--out",
                     str(out)]) == 0
        with Image.open(out / "odd.png") as written:
            assert written.size == (11, 9) and written.mode == "L"
    assert "translated 1 image" in capsys.readouterr().out


def test_g_halvings_zero_keeps_every_block_at_the_image_size(tmp_path: Path) -> None:
    run = cyclegan(tmp_path, train__steps=1, model__g_halvings=0, model__g_blocks=1)
    exported = json.loads((tmp_path / "run" / "generator_ba.json").read_text())["net"]["args"]
    assert exported["halvings"] == 0  # recorded, so the run loads with the same nets
    generator, _ = load_generator(run.dir)
    convs = [m for m in generator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.stride for m in convs] == [(1, 1)] * len(convs) and not any(
        isinstance(m, torch.nn.ConvTranspose2d) for m in generator.modules())
    assert run.translate(torch.rand(2, 1, 13, 7), direction="b2a").shape == (2, 1, 13, 7)


TERMS = {"plain": {}, "semantic": {"train__semantic_weight": 1.0},
         "semantic each": {"train__semantic_weight": 1.0, "train__semantic_classifiers": "each"},
         "domain labels": {"model__domain_labels": True}}


@pytest.mark.parametrize("terms", list(TERMS))
def test_resume_is_bit_exact_for_the_four_nets_their_optimisers_and_the_pools(tmp_path: Path, terms: str) -> None:
    # pool_size 4 < batch 8: the pools fill in the first step and draw from then on, so their RNG matters.
    settings = {"train__pool_size": 4, "train__checkpoint_every": 4, "train__sample_every": 100, **TERMS[terms]}
    cyclegan(tmp_path, "straight", train__steps=8, train__lr_decay_start=4, **settings)
    cyclegan(tmp_path, "staged", train__steps=4, train__lr_decay="none", **settings)
    ganforge.resume(tmp_path / "staged", train__steps=8, train__lr_decay="linear", train__lr_decay_start=4)
    checkpoints = [tmp_path / name / "checkpoints" / "step-0000008" for name in ("straight", "staged")]
    a, b = (load_file(str(path / "model.safetensors")) for path in checkpoints)
    assert {f"nets.{name}" for name in NETS} == {".".join(k.split(".")[:2]) for k in a if k.startswith("nets.")}
    assert {f"optim.{name}" for name in NETS} == {".".join(k.split(".")[:2]) for k in a if k.startswith("optim.")}
    assert a["family.pool_a.images"].shape[0] == 4 and "family.pool_b.rng" in a
    # the classifiers of the semantic term are checkpointed: A's, and B's too with semantic_classifiers each
    assert ("family.semantic_a.head.weight" in a) == terms.startswith("semantic")
    assert ("family.semantic_b.head.weight" in a) == (terms == "semantic each")
    # with domain labels each D takes the image and one plane per class (10 digits), and so do its pools
    channels = 1 + (10 if terms == "domain labels" else 0)
    assert a["nets.discriminator_b.net.0.weight"].shape[1] == channels == a["family.pool_b.images"].shape[1]
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    states = [json.loads((path / "state.json").read_text()) for path in checkpoints]
    assert states[0]["sampler_b"] == states[1]["sampler_b"] and states[0]["optimizers"] == states[1]["optimizers"]


def checkpointed_family(run: ganforge.Run, tmp_path: Path, step: int) -> tuple[CycleGAN, dict[str, torch.Tensor]]:
    """The run's family with its checkpointed state loaded as a resume loads it, and that state."""
    path = tmp_path / "run" / "checkpoints" / f"step-{step:07d}" / "model.safetensors"
    everything = load_file(str(path))
    family = CycleGAN(run.config, load_data(run.config.data).spec)
    family.load_state_tensors({k.removeprefix("family."): v for k, v in everything.items() if k.startswith("family.")})
    for name, net in family.nets.items():
        net.load_state_dict({k.removeprefix(f"nets.{name}."): v for k, v in everything.items()
                             if k.startswith(f"nets.{name}.")})
    return family, everything


@pytest.mark.parametrize("classifiers", ["a", "each"])
def test_semantic_term_is_the_cross_entropy_of_frozen_source_domain_classifiers_on_both_translations(
        tmp_path: Path, classifiers: str) -> None:
    run = cyclegan(tmp_path, train__steps=2, train__semantic_weight=0.5, train__semantic_classifiers=classifiers)
    assert all("G/semantic" in r for r in run.metrics() if "G/cycle" in r)
    family, everything = checkpointed_family(run, tmp_path, 2)

    def classifier_of(domain: str) -> DigitClassifier:
        net = DigitClassifier(1, 8, 10)
        net.load_state_dict({k.removeprefix(f"family.semantic_{domain}."): v for k, v in everything.items()
                             if k.startswith(f"family.semantic_{domain}.")})
        return net.eval()

    # a2b is read by A's classifier; b2a by A's too (CyCADA) or by B's own (each)
    readers = (classifier_of("a"), classifier_of("b" if classifiers == "each" else "a"))
    if classifiers == "each":
        assert not torch.equal(readers[0].head.weight, readers[1].head.weight)  # two nets, trained apart
    a, b, fake_b, fake_a = (torch.rand(5, 1, 8, 8) * 2 - 1 for _ in range(4))
    fake_b.requires_grad_(True)
    fake_a.requires_grad_(True)
    loss = family.semantic_loss(a, b, fake_b, fake_a)
    with torch.no_grad():  # written out: -log softmax of f on the translation, at f's reading of the source
        expected = sum(-torch.log_softmax(reader((fake + 1) / 2), 1)
                       .gather(1, reader((source + 1) / 2).argmax(1, keepdim=True)).mean()
                       for reader, source, fake in zip(readers, (a, b), (fake_b, fake_a), strict=True))
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    loss.backward()
    assert fake_b.grad is not None and float(fake_b.grad.abs().sum()) > 0  # G learns through f
    assert fake_a.grad is not None and float(fake_a.grad.abs().sum()) > 0
    assert all(parameter.grad is None for net in family.classifiers.values()
               for parameter in net.parameters())  # the classifiers stay frozen


def test_domain_labels_show_each_d_a_translation_with_its_source_images_class(tmp_path: Path) -> None:
    run = cyclegan(tmp_path, train__steps=2, model__domain_labels=True)
    family, _ = checkpointed_family(run, tmp_path, 2)
    data = load_data(run.config.data)
    batch = data.batch(torch.arange(4), torch.device("cpu"), torch.arange(4, 8))
    assert batch["y"].tolist() != batch["y_b"].tolist()  # the two domains' labels differ: a swap would show
    with torch.no_grad():
        out = family.generator_step(batch, StepState(step=2))
        fake_b, fake_a = family.nets["generator"](batch["x"]), family.nets["generator_ba"](batch["x_b"])

        def planes(labels: torch.Tensor) -> torch.Tensor:  # written out: plane k is 1 where the label is k
            grid = torch.zeros(len(labels), 10, 8, 8)
            for row, label in enumerate(labels.tolist()):
                grid[row, label] = 1.0
            return grid

        expected = ((family.nets["discriminator_b"](torch.cat([fake_b, planes(batch["y"])], 1)) - 1).pow(2).mean()
                    + (family.nets["discriminator_a"](torch.cat([fake_a, planes(batch["y_b"])], 1)) - 1).pow(2).mean())
        swapped = ((family.nets["discriminator_b"](torch.cat([fake_b, planes(batch["y_b"])], 1)) - 1).pow(2).mean()
                   + (family.nets["discriminator_a"](torch.cat([fake_a, planes(batch["y"])], 1)) - 1).pow(2).mean())
    assert float(out["adversarial"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(out["adversarial"]) != pytest.approx(float(swapped), rel=1e-5)
    assert run.translate(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)  # G takes no label: translate as ever


def reference_pool(size: int, seed: int, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """The pool's rule written out plainly: fill up, then per image a coin and (heads) a uniform slot."""
    rng, stored, out = torch.Generator().manual_seed(seed), [], []
    for batch in batches:
        shown = []
        for image in batch:
            if len(stored) < size:
                stored.append(image)
                shown.append(image)
            elif float(torch.rand((), generator=rng)) < 0.5:
                slot = int(torch.randint(size, (), generator=rng))
                shown.append(stored[slot])
                stored[slot] = image
            else:
                shown.append(image)
        out.append(torch.stack(shown))
    return out


def test_history_pool_returns_new_images_until_full_then_old_ones_half_the_time() -> None:
    batches = [torch.full((3, 1, 2, 2), float(k)) + torch.arange(3.0).view(3, 1, 1, 1) / 10 for k in range(8)]
    pool = ImagePool(5, seed=3)
    shown = [pool.query(batch) for batch in batches]
    assert torch.equal(shown[0], batches[0]) and torch.equal(shown[1][:2], batches[1][:2])  # filling: the new ones
    assert all(torch.equal(s, r) for s, r in zip(shown, reference_pool(5, 3, batches), strict=True))
    later = torch.cat(shown[2:])
    old = sum(int(not any(torch.equal(image, new) for new in torch.cat(batches[2:]))) for image in later)
    assert 0 < old < len(later)  # some stored images are shown in place of new ones, not all
    again = ImagePool(5, seed=3)  # the same seed and inputs: the same choices; the state resumes them
    for batch in batches[:4]:
        again.query(batch)
    resumed = ImagePool(5, seed=99)
    resumed.load_state_tensors(again.state_tensors())
    assert all(torch.equal(resumed.query(batch), s) for batch, s in zip(batches[4:], shown[4:], strict=True))
    assert torch.equal(ImagePool(0, seed=0).query(batches[0]), batches[0])  # size 0: no pool


def test_eval_scores_both_directions_beside_the_untranslated_input(trained: ganforge.Run,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    stub = DigitClassifier(1, 8).eval()  # untrained stands in for the digits classifier: the plumbing is the test
    meta = {"weights_sha1": "stub", "held_out_accuracy": 1.0}
    monkeypatch.setattr(classifier_module, "load_classifier", lambda recipe, **kwargs: (stub, meta))
    assert main(["eval", str(trained.dir.root), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "a2b_label_accuracy" in out and "held-out images (300 digits -> digits, 300 digits -> digits)" in out
    record = json.loads((trained.dir.evals / f"step-{trained.step:07d}.json").read_text())
    protocol, results = record["protocol"], record["results"]
    assert protocol["held_out"] is True and protocol["metrics"] == ["labels", "fid"]
    test = load_data(DataConfig(source="digits", split="test"))
    assert test.y is not None
    for direction in ("a2b", "b2a"):
        translated = as_uint8(trained.translate(test.x.float() / 255, direction=direction))
        for method, images in (("G", translated), ("input", test.x), ("target", test.x)):
            with torch.no_grad():
                predicted = stub(images.float() / 255).argmax(1)
            assert results[f"{method}/{direction}_label_accuracy"] == pytest.approx(
                float((predicted == test.y).double().mean()), abs=1e-12)
        assert results[f"input/{direction}_digits_fid"] == pytest.approx(0.0, abs=1e-6)  # the same images
        assert results[f"G/{direction}_digits_fid"] > 0
    assert main(["eval", str(trained.dir.root), "--metrics", "psnr"]) == 2
    one_line(2, capsys.readouterr().err, "psnr", "unpaired domains")
    page = write_report([trained.dir.root], None).read_text(encoding="utf-8")  # the report shows both domains
    assert "domain B (unpaired)" in page and "a2b_label_accuracy" in page


def test_eval_cuts_domain_b_to_its_box_where_scoring_in_b_terms(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run = ganforge.train({**DOMAINS, "data.max_samples": None, "data.split": "train", "data.target_box": 6,
                          **tiny(train__steps=2, train__checkpoint_every=2)}, out=tmp_path / "boxed")
    torch.manual_seed(0)
    stub = DigitClassifier(1, 8).eval()  # an untrained net stands in for the digits classifier
    monkeypatch.setattr(classifier_module, "load_classifier", lambda recipe, **kwargs: (stub, {
        "weights_sha1": "stub", "held_out_accuracy": 1.0}))
    record = evaluate_domains(run, metrics="labels,fid")
    test = load_data(DataConfig(source="digits", split="test"))
    framed = load_data(DataConfig(source="digits", target="digits", unpaired=True, split="test", target_box=6))
    assert test.y is not None and framed.domain_b is not None
    expected = {"a2b": (box_of(as_uint8(run.translate(test.x.float() / 255, direction="a2b")), 6),
                        box_of(test.x, 6), box_of(framed.domain_b.x, 6)),
                "b2a": (as_uint8(run.translate(framed.domain_b.x.float() / 255, direction="b2a")),
                        framed.domain_b.x, test.x)}
    for direction, images in expected.items():
        for method, shown in zip(("G", "input", "target"), images, strict=True):
            with torch.no_grad():  # the classifier's own input path: a 6 px box is resized to its 8 px
                predicted = stub(to_classifier_input(shown, 1, 8)).argmax(1)
            assert record["results"][f"{method}/{direction}_label_accuracy"] == pytest.approx(
                float((predicted == test.y).double().mean()), abs=1e-12), (method, direction)
        features = domain_classifier("digits", "cpu", False)  # the stub's features; the cut is what is tested
        real = features.extract(images[2]).features
        assert record["results"][f"input/{direction}_digits_fid"] == pytest.approx(
            fid_from_features(real, features.extract(images[1]).features), rel=1e-9, abs=1e-9), direction
    assert "6 px box" in record["protocol"]["target_box"]


def test_bad_input_is_refused_in_one_line(trained: ganforge.Run, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    args = [arg for key, value in tiny().items() for arg in (f"--{key}", str(value).lower())]
    cases = [
        (["--family", "cyclegan", "--data", "digits"], "data.target"),
        (["--family", "pix2pix", "--data", "digits", "--data.target", "mnist"], "cyclegan"),
        (["--family", "pix2pix", "--data", "digits", "--data.target", "mnist", "--data.unpaired", "true"], "cyclegan"),
        (["--family", "dcgan", "--data", "digits", "--data.target", "mnist", "--data.unpaired", "true"], "cyclegan"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--model.g_halvings", "5"],
         "model.g_halvings"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--data.target_box", "28"],
         "data.target_box 28", "28 px"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--data.target_box", "-1"],
         "data.target_box", "-1"),
        (["--family", "dcgan", "--data", "digits", "--data.target_box", "20"], "data.target_box", "data.target"),
        (["--family", "dcgan", "--data", "digits", "--train.semantic_weight", "1"], "train.semantic_weight",
         "--family cyclegan"),
        (["--family", "cyclegan", "--data", "faces", "--data.target", "digits", "--train.semantic_weight", "1"],
         "train.semantic_weight", "'faces' has no labels"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--train.semantic_weight", "-1"],
         "train.semantic_weight", "-1"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "faces", "--train.semantic_weight", "1",
          "--train.semantic_classifiers", "each"], "domain B", "'faces' has no labels", "semantic_classifiers a"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--train.semantic_classifiers",
          "each"], "train.semantic_classifiers", "semantic_weight"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "mnist", "--train.semantic_classifiers",
          "both"], "train.semantic_classifiers", "'both'", "a, each"),
        (["--family", "dcgan", "--data", "digits", "--model.domain_labels", "true"], "model.domain_labels",
         "--family cyclegan"),
        (["--family", "cyclegan", "--data", "digits", "--data.target", "faces", "--model.domain_labels", "true"],
         "model.domain_labels", "domain B ('faces') has no labels"),
        (["--family", "cyclegan", "--data", "faces", "--data.target", "digits", "--model.domain_labels", "true"],
         "model.domain_labels", "'faces' has no labels"),
    ]
    for options, *fragments in cases:
        code = main(["train", *options, "--out", str(tmp_path / "refused"), *args])
        one_line(code, capsys.readouterr().err, *fragments)
        assert not (tmp_path / "refused").exists()
    image = write_image(tmp_path / "in" / "x.png", (8, 8), "L")
    root = str(trained.dir.root)
    code = main(["translate", root, str(image), "--direction", "sideways", "--out", str(tmp_path / "t")])
    one_line(code, capsys.readouterr().err, "sideways")
    one_line(main(["sample", root, "--out", str(tmp_path / "s.png")]), capsys.readouterr().err, "translate")
    with pytest.raises(ConfigError, match="direction 'ba'"):
        trained.translate(torch.rand(1, 1, 8, 8), direction="ba")
    assert not (tmp_path / "t").exists() and not (tmp_path / "s.png").exists()
