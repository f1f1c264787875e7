"""Execution backend: device choice, and DDP under torchrun keeping replicas identical."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.errors import ConfigError
from ganforge.train.backend import Backend, resolve_device


def test_auto_picks_cpu_without_a_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="has no CUDA GPU; use --device cpu"):
        resolve_device("cuda")


def test_bf16_autocast_is_applied() -> None:
    backend = Backend(TrainConfig(device="cpu", precision="bf16"))
    with backend.autocast():
        out = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16


DDP_SCRIPT = textwrap.dedent("""
    import sys, torch, torch.distributed as dist
    from ganforge.config import from_overrides
    from ganforge.data import load_data
    from ganforge.recipes import resolve
    from ganforge.train.rundir import RunDir
    from ganforge.train.trainer import Trainer
    config = resolve({"data.source": "ring", "model.family": "vanilla", "train.steps": 6, "train.batch_size": 16,
                      "train.progress": False, "model.mlp_hidden": 16, "model.latent_dim": 4})
    trainer = Trainer(config, RunDir(sys.argv[1]), load_data(config.data))
    if trainer.backend.is_main:
        RunDir(sys.argv[1]).prepare_new(config, overwrite=False)
    trainer.backend.barrier()
    trainer.fit()
    flat = torch.cat([p.detach().flatten() for net in trainer.nets.values() for p in net.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    if trainer.backend.is_main:
        print("REPLICAS_EQUAL", bool(torch.equal(gathered[0], gathered[1])))
    trainer.close()
""")


def test_ddp_on_cpu_keeps_replicas_identical(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--master_port", "29517", str(script), str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=240)
    assert "REPLICAS_EQUAL True" in result.stdout, result.stdout + result.stderr[-2000:]
    assert (tmp_path / "run" / "generator.safetensors").is_file()


@pytest.mark.slow
def test_compiled_nets_train_and_export_plain_weights(tmp_path: Path) -> None:
    """torch.compile (in place) leaves state-dict keys as they are, so exports load without compiling."""
    import ganforge

    run = ganforge.train({"data.source": "ring", "model.family": "vanilla", "train.steps": 6, "train.compile": True,
                          "train.progress": False, "model.mlp_hidden": 16, "train.batch_size": 16},
                         out=tmp_path / "r")
    assert run.sample(4).isfinite().all()
