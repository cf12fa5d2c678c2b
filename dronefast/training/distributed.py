"""Data-parallel training on several GPUs or processes, through fastai's distributed support on accelerate.

Launch the usual training command with accelerate (or torchrun)::

    accelerate launch --multi_gpu --num_processes 4 -m dronefast.train DATA ...     # one machine, 4 GPUs
    torchrun --nproc_per_node 2 -m dronefast.train DATA ...                         # same, with torchrun
    accelerate launch --cpu --num_processes 2 -m dronefast.train DATA ...           # CPU processes (gloo)

Each process trains on its shard of every epoch (fastai's ``DistributedDL``) with the model wrapped in
``DistributedDataParallel`` by fastai's ``DistributedTrainer`` (an accelerate ``Accelerator``). ``--bs`` is the
batch size *per process*; the global batch is ``bs x world_size``. Only rank 0 writes files and prints tables;
the dataset check and one-time preparation (sample generation) run on rank 0 first while the others wait.

Two changes to fastai, both for CPU-only (gloo) process groups: its ``DistributedDL`` broadcasts the shuffled
order with ``.cuda()`` tensors (:class:`DroneDistributedDL` uses the process group's own device), and its
``DistributedTrainer`` reads ``model.device``, which a CPU ``DistributedDataParallel`` lacks.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, List

import torch
from fastai.callback.progress import ProgressCallback
from fastai.distributed import DistributedDL, DistributedTrainer
from fastai.learner import Learner
from fastai.torch_core import num_distrib, rank_distrib

__all__ = ["DroneDistributedDL", "DroneDistributedTrainer", "distributed", "is_main_process", "main_first",
           "broadcast_object", "world_size"]


def world_size() -> int:
    """Number of processes in this run (1 when not launched distributed)."""
    return max(1, num_distrib())


def is_main_process() -> bool:
    """True on rank 0 (and in a plain single-process run)."""
    return rank_distrib() == 0


def _cpu_only() -> bool:
    return not torch.cuda.is_available()


def _ensure_group() -> None:
    """Start the process group from the launcher's environment through accelerate's ``PartialState`` (NCCL on
    GPUs, gloo on CPU: accelerate only treats CPU processes as distributed when told ``cpu=True``)."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState(cpu=_cpu_only())


def barrier() -> None:
    """Wait for every process (no-op in a single-process run)."""
    if world_size() > 1:
        _ensure_group()
        torch.distributed.barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the other ranks (e.g. generate or check data once)."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (e.g. the learning rate lr_find chose)."""
    if world_size() <= 1:
        return obj
    _ensure_group()
    box: List[Any] = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


class DroneDistributedDL(DistributedDL):
    """fastai's ``DistributedDL`` whose index broadcast also works on CPU (gloo) process groups."""

    def _broadcast(self, t, rank):
        dev = "cpu" if _cpu_only() else "cuda"
        t = torch.tensor(t, dtype=torch.long, device=dev)
        torch.distributed.broadcast(t, rank)
        return t.cpu().tolist()


class DroneDistributedTrainer(DistributedTrainer):
    """fastai's ``DistributedTrainer`` (DDP through an accelerate ``Accelerator``) using :class:`DroneDistributedDL`."""

    def _wrap_dl(self, dl):
        if isinstance(dl, DistributedDL):
            return dl
        # DDP on CPU has no `.device` attribute (fastai reads it): take the parameters' device
        device = getattr(self.learn.model, "device", None) or next(self.learn.model.parameters()).device
        return DroneDistributedDL(dl, device=device)


@contextmanager
def distributed(learn: Learner, sync_bn: bool = False) -> Iterator[Learner]:
    """fastai's ``learn.distrib_ctx()`` for scripts launched by accelerate/torchrun, on GPUs or CPUs.

    Does nothing in a single-process run. Otherwise adds :class:`DroneDistributedTrainer` (``sync_bn``: convert
    BatchNorm to ``SyncBatchNorm``, GPU only), silences progress output on ranks other than 0, and removes it
    all on exit.
    """
    if world_size() <= 1:
        yield learn
        return
    _ensure_group()
    if sync_bn and not torch.cuda.is_available():
        raise ValueError("synchronized batch norm needs GPUs (SyncBatchNorm has no CPU implementation)")
    learn.add_cb(DroneDistributedTrainer(sync_bn=sync_bn, cpu=_cpu_only()))
    if rank_distrib():
        learn.remove_cb(ProgressCallback)
    try:
        yield learn
    finally:
        learn.detach_distributed()
