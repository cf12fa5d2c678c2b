"""The training optimizer: torch's AdamW behind fastai's ``OptimWrapper``, BatchNorm and bias weights not decayed.

fastai's ``Learner`` builds it as ``opt_func(splitter(model), lr=lr)`` (:func:`adamw`). Each of the splitter's
parameter groups becomes two of torch's: its weights with decay and its one-dimensional tensors (BatchNorm weights
and biases, every bias) without, as fastai's ``Adam`` does them with ``wd_bn_bias=False``. fastai's machinery
(``fit_one_cycle`` schedules, ``slice(lr)`` discriminative rates, ``freeze_to``, the Recorder) still sees one group
per splitter group (:class:`NoDecayWrapper`). torch's AdamW updates all tensors of a group with one multi-tensor
kernel (``foreach``) or, on CUDA, one fused kernel, where fastai's ``Adam`` runs a Python loop over every tensor.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence

import torch
from fastai.optimizer import OptimWrapper, detuplify_pg, set_item_pg

__all__ = ["adamw", "NoDecayWrapper", "no_decay", "ADAM_HYPERS"]

#: fastai ``Adam``'s defaults (its ``mom``, ``sqr_mom``, ``eps``; the learner sets ``wd``, dronefast's 1e-2).
ADAM_HYPERS: Dict[str, float] = {"mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 1e-2}


def no_decay(p: torch.Tensor) -> bool:
    """Whether parameter `p` is kept out of weight decay: one-dimensional (BatchNorm weights and biases, biases)."""
    return p.ndim <= 1


class NoDecayWrapper(OptimWrapper):
    """fastai's ``OptimWrapper`` over a torch optimizer whose param groups come in pairs (decayed, not decayed), one
    pair per fastai group: ``param_lists`` and ``hypers`` show fastai one group per pair, ``set_hyper`` sets both
    halves, except ``wd``, which the second half keeps at 0."""

    @property
    def hypers(self) -> List[Dict[str, Any]]:
        return [{self.fwd_map.get(k, k): v for k, v in detuplify_pg(pg).items()} for pg in self.opt.param_groups[::2]]

    def _set_hyper(self, k: str, v: Sequence[Any]) -> None:
        groups = self.opt.param_groups
        for i, v_ in enumerate(v):
            set_item_pg(groups[2 * i], self.bwd_map[k], v_)
            if k != "wd":
                set_item_pg(groups[2 * i + 1], self.bwd_map[k], v_)

    @property
    def param_lists(self) -> List[List[torch.Tensor]]:
        groups = self.opt.param_groups
        return [groups[i]["params"] + groups[i + 1]["params"] for i in range(0, len(groups), 2)]

    @param_lists.setter
    def param_lists(self, v: Iterable[Iterable[torch.Tensor]]) -> None:
        groups = self.opt.param_groups
        for i, ps in enumerate(v):
            ps = list(ps)
            groups[2 * i]["params"] = [p for p in ps if not no_decay(p)]
            groups[2 * i + 1]["params"] = [p for p in ps if no_decay(p)]


def adamw(params: Iterable[Any], lr: float = 1e-3, *, mom: float = ADAM_HYPERS["mom"],
          sqr_mom: float = ADAM_HYPERS["sqr_mom"], eps: float = ADAM_HYPERS["eps"], wd: float = ADAM_HYPERS["wd"],
          fused: bool | None = None) -> NoDecayWrapper:
    """A fastai ``opt_func``: torch's ``AdamW`` (decoupled weight decay, as fastai's ``Adam``) with fastai Adam's
    hyper-parameters, BatchNorm and bias tensors without decay (module docstring).

    Args:
        params: the splitter's parameter groups (lists of tensors), or one flat list of tensors (one group).
        lr, mom, sqr_mom, eps, wd: learning rate, betas, epsilon and weight decay (the learner sets lr and wd).
        fused: torch's fused kernel (default: when the parameters are on CUDA), else ``foreach``.
    """
    params = list(params)
    groups = [params] if not params or isinstance(params[0], torch.Tensor) else [list(g) for g in params]
    flat = [p for g in groups for p in g]
    if fused is None:
        fused = bool(flat) and all(p.is_cuda for p in flat)
    torch_groups = []
    for g in groups:
        torch_groups += [{"params": [p for p in g if not no_decay(p)], "weight_decay": wd},
                         {"params": [p for p in g if no_decay(p)], "weight_decay": 0.0}]
    kind = {"fused": True} if fused else {"foreach": True}
    opt = torch.optim.AdamW(torch_groups, lr=lr, betas=(mom, sqr_mom), eps=eps, **kind)
    return NoDecayWrapper(opt=opt)
