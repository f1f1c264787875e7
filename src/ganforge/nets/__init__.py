"""Net registry: nets are rebuilt from their class name and recorded init arguments, never unpickled."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ganforge.errors import CheckpointError
from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator
from ganforge.nets.resnet import ResNetDiscriminator, ResNetGenerator

NETS: dict[str, type[nn.Module]] = {
    "mlp_generator": MLPGenerator,
    "mlp_discriminator": MLPDiscriminator,
    "dcgan_generator": DCGANGenerator,
    "dcgan_discriminator": DCGANDiscriminator,
    "resnet_generator": ResNetGenerator,
    "resnet_discriminator": ResNetDiscriminator,
}


def build_net(name: str, **args: Any) -> nn.Module:
    """Instantiate a registered net and remember how, so it can be rebuilt from JSON."""
    if name not in NETS:
        raise CheckpointError(f"unknown net '{name}'; registered nets: {', '.join(NETS)}")
    cls = NETS[name]
    allowed = set(inspect.signature(cls).parameters)
    unknown = set(args) - allowed
    if unknown:
        raise CheckpointError(f"net '{name}' got unknown arguments {sorted(unknown)}; it takes {sorted(allowed)}")
    net = cls(**args)
    net.ganforge_spec = {"name": name, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}}
    return net


def net_spec(net: nn.Module) -> dict[str, Any]:
    """The JSON-able recipe that build_net needs to rebuild `net`."""
    return dict(net.ganforge_spec)


def rebuild_net(spec: dict[str, Any]) -> nn.Module:
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("args", {}).items()}
    return build_net(spec["name"], **args)
