"""Nets: DCGAN sizes 8-256 px, the paper's 64 px layout, MLPs, and rebuilding from recorded arguments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.errors import CheckpointError
from ganforge.nets import build_net, net_spec, rebuild_net
from ganforge.nets.dcgan import generator_plan


@pytest.mark.parametrize("resolution", [8, 25, 28, 32, 48, 64, 100, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_nets_fit_square_images(resolution: int, channels: int) -> None:
    g = build_net("dcgan_generator", latent_dim=10, resolution=resolution, channels=channels, width=4)
    d = build_net("dcgan_discriminator", resolution=resolution, channels=channels, width=4, norm="batch")
    fake = g(torch.randn(2, 10))
    assert fake.shape == (2, channels, resolution, resolution)
    assert d(fake).shape == (2,)


def test_generator_plan_matches_the_paper_at_64_and_mnist_at_28() -> None:
    assert generator_plan(64) == (4, 4)
    assert generator_plan(28) == (7, 2)


def pytorch_example_dcgan(nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3) -> tuple[nn.Module, nn.Module]:
    """The nets of pytorch/examples dcgan/main.py, written out independently."""
    g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
    return g, d


def test_dcgan_at_64px_is_the_pytorch_example_architecture() -> None:
    ref_g, ref_d = pytorch_example_dcgan()
    g = build_net("dcgan_generator", latent_dim=100, resolution=64, channels=3, width=64)
    d = build_net("dcgan_discriminator", resolution=64, channels=3, width=64, norm="batch")
    assert [p.shape for p in g.parameters()] == [p.shape for p in ref_g.parameters()]
    assert [p.shape for p in d.parameters()] == [p.shape for p in ref_d.parameters()]
    assert [type(m) for m in g.main] == [type(m) for m in ref_g]


@pytest.mark.parametrize("norm", ["none", "spectral", "layer", "batch"])
def test_discriminator_norms(norm: str) -> None:
    d = build_net("dcgan_discriminator", resolution=16, channels=1, width=4, norm=norm)
    assert d(torch.randn(3, 1, 16, 16)).shape == (3,)
    m = build_net("mlp_discriminator", in_shape=(2,), hidden=8, layers=2, norm=norm)
    assert m(torch.randn(3, 2)).shape == (3,)


def test_mlp_generator_shapes_and_ranges() -> None:
    image = build_net("mlp_generator", latent_dim=4, out_shape=(1, 8, 8), hidden=8, layers=2, output="tanh")
    out = image(torch.randn(5, 4) * 100)
    assert out.shape == (5, 1, 8, 8) and out.abs().max() <= 1
    points = build_net("mlp_generator", latent_dim=4, out_shape=(2,), hidden=8, layers=2)
    assert points(torch.randn(5, 4)).shape == (5, 2)


def test_rebuilt_net_with_loaded_weights_is_identical() -> None:
    g = build_net("dcgan_generator", latent_dim=6, resolution=28, channels=1, width=4)
    copy = rebuild_net(net_spec(g))
    copy.load_state_dict(g.state_dict())
    z = torch.randn(3, 6)
    assert torch.equal(g.eval()(z), copy.eval()(z))


def test_unknown_net_or_argument_is_refused() -> None:
    with pytest.raises(CheckpointError, match="unknown net 'resnet9'"):
        build_net("resnet9")
    with pytest.raises(CheckpointError, match="unknown arguments"):
        build_net("mlp_generator", latent_dim=2, out_shape=(2,), depth=3)


def test_minibatch_std_feature_reflects_batch_diversity() -> None:
    from ganforge.nets.layers import MinibatchStd

    same = MinibatchStd()(torch.ones(4, 3, 2, 2))
    assert same.shape == (4, 4, 2, 2) and same[:, 3].abs().max() < 1e-3
    varied = MinibatchStd()(torch.tensor([[0.0, 0.0], [2.0, 2.0]]))
    assert varied[:, 2].tolist() == [1.0, 1.0]  # population std of (0, 2) is 1
    d = build_net("dcgan_discriminator", resolution=16, channels=1, width=4, norm="none", minibatch_std=True)
    m = build_net("mlp_discriminator", in_shape=(2,), hidden=8, layers=2, minibatch_std=True)
    assert d(torch.randn(3, 1, 16, 16)).shape == (3,) and m(torch.randn(3, 2)).shape == (3,)


def test_discriminator_plan_halves_to_8_px_or_the_layers_asked() -> None:
    from ganforge.nets.dcgan import discriminator_plan

    assert discriminator_plan(28) == [14, 7] and discriminator_plan(64) == [32, 16, 8, 4]
    assert discriminator_plan(28, 3) == [14, 7, 3] and discriminator_plan(28, 4) == [14, 7, 3, 1]
    with pytest.raises(ValueError, match="at most 4"):
        discriminator_plan(28, 5)


@pytest.mark.parametrize("name", ["dcgan_discriminator", "resnet_discriminator"])
def test_a_deeper_discriminator_has_one_more_halving_and_still_scores_each_image(name: str) -> None:
    extra = {"norm": "none"} if name == "dcgan_discriminator" else {}
    default = build_net(name, resolution=28, channels=3, width=4, **extra)
    deeper = build_net(name, resolution=28, channels=3, width=4, layers=3, **extra)
    pools = (torch.nn.Conv2d, torch.nn.AvgPool2d)
    def halvings(net: torch.nn.Module) -> int:
        return sum(1 for m in net.modules() if isinstance(m, pools) and m.stride in (2, (2, 2)))
    assert halvings(deeper) == halvings(default) + 1
    assert deeper(torch.randn(5, 3, 28, 28)).shape == (5,)


def test_minibatch_std_has_finite_gradients_where_a_feature_is_constant_over_the_batch() -> None:
    """Real MNIST's blank borders make some D features equal across a batch; R1's gradient penalty then
    differentiated sqrt at 0 and turned D's loss into nan (r3gan + minibatch std diverged at step 157)."""
    from ganforge.nets.layers import MinibatchStd

    x = torch.cat([torch.zeros(4, 1, 2, 2), torch.randn(4, 1, 2, 2)], dim=1).requires_grad_(True)
    (grad,) = torch.autograd.grad(MinibatchStd()(x)[:, 2].sum() * x.sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad.square().sum(), x)
    assert torch.isfinite(grad).all() and torch.isfinite(second).all()


@pytest.mark.parametrize("resolution", [8, 25, 28, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_resnet_nets_fit_square_images(resolution: int, channels: int) -> None:
    g = build_net("resnet_generator", latent_dim=10, resolution=resolution, channels=channels, width=8)
    d = build_net("resnet_discriminator", resolution=resolution, channels=channels, width=8, minibatch_std=True)
    fake = g(torch.randn(2, 10))
    assert fake.shape == (2, channels, resolution, resolution)
    assert d(fake).shape == (2,)


def test_resnet_blocks_start_as_the_identity_and_group_their_3x3_convs() -> None:
    from ganforge.nets.resnet import ResidualBlock

    block = ResidualBlock(32, blocks_total=4)
    x = torch.randn(2, 32, 5, 5)
    assert torch.equal(block(x), x)  # fix-up init: the branch's last layer is zero
    assert block.mix.groups == 4  # 64 hidden channels in groups of 16
    block.project.weight.data.normal_()
    assert not torch.equal(block(x), x)


def test_resnet_nets_have_no_normalisation_layers() -> None:
    g = build_net("resnet_generator", latent_dim=10, resolution=28, channels=1, width=8)
    d = build_net("resnet_discriminator", resolution=28, channels=1, width=8)
    norms = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)
    assert not any(isinstance(m, norms) for m in [*g.modules(), *d.modules()])
