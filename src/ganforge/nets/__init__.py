"""Net registry: nets are rebuilt from their class name and recorded init arguments, never unpickled."""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any

from torch import nn

from ganforge.errors import CheckpointError
from ganforge.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.nets.laplacian import LaplacianDiscriminator, LaplacianGenerator
from ganforge.nets.mlp import MLPDiscriminator, MLPGenerator
from ganforge.nets.resnet import ResNetDiscriminator, ResNetGenerator
from ganforge.nets.superres import SRDiscriminator, SRResNetGenerator
from ganforge.nets.translation import PatchDiscriminator, ResNetTranslator, UNetGenerator

NETS: dict[str, type[nn.Module]] = {
    "mlp_generator": MLPGenerator,
    "mlp_discriminator": MLPDiscriminator,
    "dcgan_generator": DCGANGenerator,
    "dcgan_discriminator": DCGANDiscriminator,
    "resnet_generator": ResNetGenerator,
    "resnet_discriminator": ResNetDiscriminator,
    "unet_generator": UNetGenerator,
    "resnet_translator": ResNetTranslator,
    "laplacian_generator": LaplacianGenerator,
    "laplacian_discriminator": LaplacianDiscriminator,
    "patch_discriminator": PatchDiscriminator,
    "srresnet_generator": SRResNetGenerator,
    "sr_discriminator": SRDiscriminator,
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
    hints = typing.get_type_hints(cls.__init__)
    for key, value in args.items():
        if key in hints and not _fits(value, hints[key]):
            raise CheckpointError(f"net '{name}' argument '{key}' is {value!r}; expected {_hint_name(hints[key])}")
    try:
        net = cls(**args)
    except (ValueError, TypeError, RuntimeError) as exc:  # e.g. a size that leaves no layer
        raise CheckpointError(f"net '{name}' cannot be built from {args} ({exc})") from None
    net.ganforge_spec = {"name": name, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}}
    return net


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON-read value fits a constructor's type hint (int, float, str, bool, tuples, unions)."""
    origin, parts = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, part) for part in parts)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(parts) == 2 and parts[1] is Ellipsis:
            return all(_fits(v, parts[0]) for v in value)
        return len(parts) == len(value) and all(_fits(v, p) for v, p in zip(value, parts, strict=True))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def net_spec(net: nn.Module) -> dict[str, Any]:
    """The JSON-able recipe that build_net needs to rebuild `net`."""
    return dict(net.ganforge_spec)


def rebuild_net(spec: dict[str, Any]) -> nn.Module:
    """Build a net from `net_spec`'s record (as read back from JSON: lists stand for tuples)."""
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("args", {}).items()}
    return build_net(spec["name"], **args)
