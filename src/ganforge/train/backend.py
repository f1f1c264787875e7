"""Where the run executes: device choice, mixed precision, torch.compile and DDP under torchrun.

Families never touch these; the trainer calls this module. DDP follows stylegan2-ada: gradients are
all-reduced by hand after each phase's backward, because phases freeze nets in turn, which the
DistributedDataParallel wrapper does not allow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn

from ganforge.config import TrainConfig
from ganforge.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0, option: str = "config key 'train.device'") -> torch.device:
    """auto | cpu | cuda | cuda:N as a torch device; a GPU this machine lacks is refused in one line."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if not (name == "cpu" or name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ConfigError(f"{option} got '{name}'; expected auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{option} is '{name}' but this machine has no CUDA GPU; "
                          "use --device cpu or --device auto")
    if name.startswith("cuda:") and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"{option} is '{name}' but this machine has {torch.cuda.device_count()} GPU(s); "
                          f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if name == "cuda":
        return torch.device(f"cuda:{local_rank}")
    return torch.device(name)


def is_main_process() -> bool:
    """Rank 0 under torchrun, or a single process: the one that writes the run folder."""
    return int(os.environ.get("RANK", "0")) == 0


class Backend:
    """Device, precision and process group of this run."""

    def __init__(self, train: TrainConfig) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = resolve_device(train.device, local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.precision, self.compile, self.channels_last = train.precision, train.compile, train.channels_last

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.precision == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def prepare(self, net: nn.Module) -> nn.Module:
        """Move to the device (NHWC for conv nets if asked), align replicas under DDP, and compile if asked
        (in place: parameter names and values unchanged)."""
        net.to(self.device)
        if self.channels_last and any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in net.modules()):
            net.to(memory_format=torch.channels_last)
        if self.world_size > 1:
            for tensor in list(net.parameters()) + list(net.buffers()):
                dist.broadcast(tensor.data, src=0)
        if self.compile:
            net.compile()
        return net

    def prepare_batch(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Images in the nets' memory layout (a conv layer would otherwise reorder them on every call)."""
        if not self.channels_last:
            return batch
        return {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v for k, v in batch.items()}

    def reduce_gradients(self, net: nn.Module) -> None:
        if self.world_size == 1:
            return
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def share_owned(self, owners: dict[str, int], nets: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Nets one rank trains alone (MD-GAN's D's): weights and optimiser state from their owner to every rank,
        so that rank 0's checkpoint holds all of them (object collectives among our own processes)."""
        if self.world_size == 1 or not owners:
            return
        for name, owner in owners.items():
            payload = [{"net": nets[name].state_dict(), "optimizer": optimizers[name].state_dict()}
                       if self.rank == owner else None]
            dist.broadcast_object_list(payload, src=owner)
            if self.rank != owner and payload[0] is not None:
                nets[name].load_state_dict(payload[0]["net"])
                optimizers[name].load_state_dict(payload[0]["optimizer"])

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
