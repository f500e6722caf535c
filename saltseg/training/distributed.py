"""Multi-process training under ``torchrun``: DistributedDataParallel on NCCL (CUDA) or gloo (CPU).

Without torchrun (no WORLD_SIZE above 1 in the environment) everything here is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from saltseg.device import resolve_device
from saltseg.errors import SaltsegError

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's rank among ``world`` processes; rank 0 alone writes files."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory."""
        return self.rank == 0


def start(device_name: str) -> tuple[Ranks, torch.device]:
    """Join the process group when launched by torchrun; return the ranks and this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world == 1:
        return Ranks(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size()), device


def stop() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def from_main(obj: Any, ranks: Ranks) -> Any:
    """Return rank 0's ``obj`` on every rank."""
    if ranks.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def decided_on_main(decide: Callable[[], T], ranks: Ranks) -> T:
    """Return rank 0's ``decide()`` on every rank (the others do not call it): a decision taken
    once, so that ranks never disagree on it."""
    return from_main(decide() if ranks.is_main else None, ranks)


def settled_on_main(work: Callable[[], T], ranks: Ranks, shared: Callable[[T], T] = lambda r: r) -> T:
    """Run ``work`` on rank 0 alone; return its result there and ``shared(result)`` on the other
    ranks. A SaltsegError it raises is raised on every rank (so none waits for rank 0 forever)."""
    if ranks.world == 1:
        return work()
    result, error = None, None
    if ranks.is_main:
        try:
            result = work()
        except SaltsegError as exc:
            error = exc
    sent = from_main((None if result is None else shared(result), error), ranks)
    if sent[1] is not None:
        raise sent[1]
    return result if ranks.is_main else sent[0]


def mean_over_ranks(value: float, ranks: Ranks, device: torch.device) -> float:
    """Return the mean of ``value`` over all ranks."""
    if ranks.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / ranks.world
