"""Data-parallel training under ``torchrun``: process group, model wrapping, state gathering.

One process per GPU (or per CPU process with gloo, which is how the tests run it). ``torchrun``
sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them everything here is the identity
and the trainer is a plain single-process loop.

Two ways to spread the model:

- **DDP** keeps a full replica per process and all-reduces the gradients: the fastest choice
  while the model, its gradients and AdamW's two moments fit one GPU (16 bytes per parameter:
  the 500M preset needs about 9 GB).
- **FSDP2** (``fully_shard`` per decoder block, then the root) shards parameters, gradients and
  optimizer state across processes and gathers each block's weights just in time: what the 1B
  preset wants on smaller GPUs, and what multi-node runs of larger models need.

Both average gradients over processes; the trainer scales each process's loss so that the
average is the token-weighted mean over the global batch, as a single process would compute.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from l2t._l2t import ConfigError

PARALLEL_MODES = ("auto", "ddp", "fsdp")


@dataclass(frozen=True)
class World:
    """A process's place in the job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1

    @property
    def main(self) -> bool:
        """The process that writes files and logs."""
        return self.rank == 0


def init(device: str) -> tuple[World, torch.device]:
    """Joins the ``torchrun`` job when there is one; returns it and this process's device.

    Args:
        device: ``"auto"`` (this process's GPU when CUDA is available, else the CPU), or an
            explicit device (``"cpu"`` runs a distributed job on gloo).

    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    world = World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", world.local_rank if world.distributed else 0)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world.distributed and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=dev if dev.type == "cuda" else None)
    return world, dev


def resolve_mode(mode: str, model_preset: str) -> str:
    """``auto``: FSDP2 for the 1B preset (its state is what outgrows one GPU), DDP otherwise."""
    if mode not in PARALLEL_MODES:
        raise ConfigError(f"parallel must be one of {PARALLEL_MODES}, not {mode!r}")
    if mode == "auto":
        return "fsdp" if model_preset == "1b" else "ddp"
    return mode


def wrap(model: nn.Module, world: World, mode: str, device: torch.device) -> nn.Module:
    """The module the training step calls: `model` itself, its DDP wrapper, or `model` sharded.

    FSDP2 shards in place (the returned module is `model`), so evaluation and checkpointing
    go through the same object; DDP's wrapper only adds gradient synchronisation.
    """
    if not world.distributed:
        return model
    if mode == "ddp":
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    for layer in model.model.layers:  # type: ignore[union-attr]
        fully_shard(layer)
    fully_shard(model)
    return model


@contextlib.contextmanager
def gradient_sync(module: nn.Module, enabled: bool) -> Iterator[None]:
    """Skips the gradient all-reduce (or reduce-scatter) of micro-batches before the last."""
    if isinstance(module, nn.parallel.DistributedDataParallel) and not enabled:
        with module.no_sync():
            yield
        return
    if hasattr(module, "set_requires_gradient_sync"):  # FSDP2
        module.set_requires_gradient_sync(enabled)
    yield


def all_sum(value: float, world: World, device: torch.device) -> float:
    """`value` summed over every process."""
    if not world.distributed:
        return value
    t = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t)


def all_sum_(t: torch.Tensor, world: World) -> torch.Tensor:
    """`t` summed over every process, in place, without waiting for the result (a tensor)."""
    if world.distributed:
        dist.all_reduce(t)
    return t


def all_gather(obj: Any, world: World) -> list[Any]:
    """Every process's `obj`, in rank order (picklable objects)."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def barrier(world: World) -> None:
    """Waits for every process (no-op alone)."""
    if world.distributed:
        dist.barrier()


def scalar(t: torch.Tensor) -> float:
    """A float from a tensor that may be a sharded DTensor (the gradient norm under FSDP2)."""
    full = getattr(t, "full_tensor", None)
    return float(full() if full is not None else t)


def full_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Unsharded model and optimizer state on the CPU (every process must call it).

    Keys are the bare model's (no DDP or FSDP prefixes), so a checkpoint saved by any number
    of processes loads into any other, and :mod:`l2t.train.export` reads it as it is.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_state_dict(model, optimizer, options=options)


def load_full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, model_state: dict, optim_state: dict
) -> None:
    """Loads :func:`full_state`'s output into a (possibly sharded) model and its optimizer."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(
        model,
        optimizer,
        model_state_dict=model_state,
        optim_state_dict=optim_state,
        options=StateDictOptions(full_state_dict=True),
    )


def is_main_process() -> bool:
    """Rank 0 of the job, or a process outside any job."""
    return int(os.environ.get("RANK", "0")) == 0


def shutdown() -> None:
    """Leaves the process group, if this process is in one."""
    if dist.is_initialized():
        dist.destroy_process_group()
