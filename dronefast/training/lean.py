"""A leaner training loop: fastai's, less the per-step work that gives nothing back.

On a fast GPU a training step of the reference configuration takes a few milliseconds, and fastai's loop adds
Python work and host-device synchronisations to every step that the GPU cannot hide (the CPU must finish one
step's bookkeeping, and wait for the GPU whenever it reads a value back, before it queues the next step).
:func:`streamline` removes that cost from a fastai ``Learner`` without changing what it computes or what a user
sees (the same losses, metrics, history, progress bars and ``show_results``):

* :class:`LeanLearner`: fastai's ``Learner`` dispatches every event (eight a training step) to every callback,
  sorting them each time; this one calls only the callbacks that handle the event, in the same order, through
  the callbacks' own ``__call__`` (so ``run``, ``run_train`` and ``run_valid`` behave as in fastai); it leaves a
  batch already on the model's device as it is, and computes the training loss without fastai's tensor-type
  bookkeeping (fastai's losses wrap their inputs in ``TensorBase``, whose Python ``__torch_function__`` then runs
  for every operation);
* :class:`LeanRecorder`: fastai's ``Recorder`` with its smoothed training loss and validation loss kept on the
  device (fastai copies every batch's loss to the CPU: a synchronisation per step); they are read back once an
  epoch, where fastai logs them, and ``recorder.losses`` holds CPU values again after each training phase;
* :class:`LeanProgress`: fastai's progress bar, which formats the smoothed loss (``.item()``, a synchronisation)
  after every batch; this one formats it only when the bar is drawn (about five times a second), with the same
  text;
* :class:`LeanAdam`: fastai's ``Adam`` (the learner's default optimizer) runs five Python callbacks and about eight
  tensor operations for each parameter tensor (154 in the ResNet-34 U-Net: some 1,200 kernel launches a step on a
  GPU); this one does the very same arithmetic for all tensors of a parameter group at once with torch's
  ``_foreach`` operations, with fastai's optimizer state, hyper-parameters, freezing and ``state_dict`` (so
  checkpoints are unchanged).

fastai's behaviour is kept exactly where it is not about speed; in distributed runs the losses take fastai's own
path (they are gathered across processes there).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Dict, List, Optional, Tuple

import torch
from fastai.callback.core import Callback
from fastai.callback.progress import ProgressCallback
from fastai.learner import AvgLoss, AvgSmoothLoss, Learner, Recorder
from fastai.optimizer import (
    Adam,
    Optimizer,
    adam_step,
    average_grad,
    average_sqr_grad,
    debias,
    step_stat,
    weight_decay,
)
from fastai.torch_core import find_bs, num_distrib

__all__ = ["streamline", "lean_state", "LeanLearner", "LeanRecorder", "LeanProgress", "DeviceSmoothLoss",
           "DeviceAvgLoss", "LossText", "LeanAdam", "lean_adam", "is_fastai_adam"]


class LeanLearner(Learner):
    """fastai's ``Learner`` whose event dispatch skips the callbacks that do not handle an event.

    fastai calls ``cb(event)`` on every callback, sorted by ``order`` anew, for every event; a callback without
    that event then does nothing. Here the callbacks handling each event are listed once, in the same (stable)
    order, and the list is made again whenever the callbacks change and at every ``before_fit``. ``after_fit``
    goes to every callback, as fastai resets each callback's ``run`` flag there.
    """

    def __call__(self, event_name):
        if isinstance(event_name, str):
            self._call_one(event_name)
        else:
            for e in event_name:
                self._call_one(e)

    def _call_one(self, event_name):
        cbs = tuple(self.cbs)
        table = self.__dict__.get("_lean_events")
        if table is None or table[0] != cbs or event_name == "before_fit":
            table = (cbs, {})
            self.__dict__["_lean_events"] = table
        handlers = table[1].get(event_name)
        if handlers is None:
            handlers = table[1][event_name] = _handlers(cbs, event_name)
        for cb in handlers:
            cb(event_name)

    def _do_one_batch(self):
        # fastai's Learner._do_one_batch; in training the loss runs with torch's subclass handling off: fastai's
        # losses wrap their inputs in its TensorBase, whose Python __torch_function__ then runs for every operation
        # of the loss (the values are the same; the training loss comes out a plain tensor)
        self.pred = self.model(*self.xb)
        self("after_pred")
        if len(self.yb):
            if self.training:
                with torch._C.DisableTorchFunctionSubclass():
                    self.loss_grad = self.loss_func(self.pred, *self.yb)
            else:
                self.loss_grad = self.loss_func(self.pred, *self.yb)
            self.loss = self.loss_grad.clone()
        self("after_loss")
        if not self.training or not len(self.yb):
            return
        self._do_grad_opt()

    def _set_device(self, b):
        # fastai moves every batch to the model's device; a batch already there (dronefast's cached batches are
        # gathered on the device) is returned as it is, without fastai's per-tensor `.to` (each a Python
        # __torch_function__ call on fastai's tensor types)
        try:
            device = next(self.model.parameters()).device
        except StopIteration:
            return super()._set_device(b)
        with torch._C.DisableTorchFunctionSubclass():
            there = type(b) is tuple and all(isinstance(t, torch.Tensor) and t.device == device for t in b)
        return b if there else super()._set_device(b)

    def __getstate__(self):
        return {k: v for k, v in super().__getstate__().items() if k != "_lean_events"}


def _handlers(cbs: Tuple[Callback, ...], event_name: str) -> List[Callback]:
    """The callbacks of `cbs` that handle `event_name` (all for ``after_fit``), sorted by order as fastai does;
    an unknown event raises fastai's error."""
    from fastai.callback.core import event

    if not hasattr(event, event_name):
        raise Exception(f"missing {event_name}")
    ordered = sorted(cbs, key=lambda cb: cb.order)
    if event_name == "after_fit":
        return ordered
    return [cb for cb in ordered if getattr(cb, event_name, None) is not None]


class DeviceSmoothLoss(AvgSmoothLoss):
    """fastai's ``AvgSmoothLoss`` (the exponentially smoothed training loss) computed where the loss is, without
    copying each batch's loss to the CPU; fastai's own path in distributed runs (it gathers the ranks' losses)."""

    def accumulate(self, learn):
        if num_distrib() > 1:
            return super().accumulate(learn)
        loss = learn.loss.mean().detach()
        if self.val.device != loss.device:
            self.val = self.val.to(loss.device)
        self.count += 1
        self.val = torch.lerp(loss, self.val, self.beta)


class DeviceAvgLoss(AvgLoss):
    """fastai's ``AvgLoss`` (the validation loss, weighted by batch size) summed where the loss is; read back
    once, when the Recorder logs it. fastai's own path in distributed runs."""

    def accumulate(self, learn):
        dl = getattr(learn, "dl", None)
        if num_distrib() > 1 or hasattr(dl, "to_detach"):
            return super().accumulate(learn)
        bs = find_bs(learn.yb)
        self.total += learn.loss.mean().detach() * bs
        self.count += bs


class LeanRecorder(Recorder):
    """fastai's ``Recorder`` with :class:`DeviceSmoothLoss` and :class:`DeviceAvgLoss`: no synchronisation per
    step. ``losses`` (the smoothed loss of each step) is brought to the CPU in one copy after each training phase
    and at the end of a fit, so plots and checkpoints see what fastai's Recorder holds."""

    def __init__(self, add_time=True, train_metrics=False, valid_metrics=True, beta=0.98):
        super().__init__(add_time, train_metrics, valid_metrics, beta)
        self.loss, self.smooth_loss = DeviceAvgLoss(), DeviceSmoothLoss(beta=beta)

    @property
    def name(self):
        return "recorder"

    def before_fit(self):
        super().before_fit()
        self.n_on_cpu = 0

    def after_batch(self):
        # fastai's Recorder.after_batch, with the learner's attributes read directly (not through the callback's
        # attribute forwarding) and the smoothed loss computed once for `losses` and `learn.smooth_loss`
        learn = self.learn
        if len(learn.yb) == 0:
            return
        for met in (self._train_mets if learn.training else self._valid_mets):
            met.accumulate(learn)
        if not learn.training:
            return
        self.lrs.append(learn.opt.hypers[-1]["lr"])
        value = self.smooth_loss.value
        self.losses.append(value)
        learn.smooth_loss = value

    def after_train(self):
        self.losses_to_cpu()
        super().after_train()

    def after_fit(self):
        self.losses_to_cpu()

    def losses_to_cpu(self):
        """Move the smoothed losses recorded on the device since the last call to the CPU (one copy)."""
        losses = getattr(self, "losses", None)
        start = getattr(self, "n_on_cpu", 0)
        if not losses or start >= len(losses):
            return
        new = losses[start:]
        if any(isinstance(v, torch.Tensor) and v.device.type != "cpu" for v in new):
            device = next(v.device for v in new if isinstance(v, torch.Tensor) and v.device.type != "cpu")
            values = torch.stack([torch.as_tensor(v).to(device) for v in new]).cpu()
            losses[start:] = list(values)
        self.n_on_cpu = len(losses)


class LossText:
    """The smoothed loss as the progress bar prints it (``f"{loss:.4f}"``), formatted (read from the device)
    only when the bar is drawn."""

    def __init__(self, value: torch.Tensor):
        self.value = value

    def __str__(self) -> str:
        return f"{self.value.item():.4f}"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __bool__(self) -> bool:
        return True


class LeanProgress(ProgressCallback):
    """fastai's ``ProgressCallback`` that sets the bar's comment (the smoothed loss) as a :class:`LossText`, read
    only when fastprogress draws the bar, instead of ``.item()`` after every batch; the bars, the comment shown
    and the epoch table are fastai's."""

    @property
    def name(self):
        return "progress"

    def after_batch(self):
        self.pbar.update(self.iter + 1)
        loss = getattr(self.learn, "smooth_loss", None)
        if loss is not None:
            self.pbar.comment = LossText(loss)


#: The state keys of fastai's Adam (and the Learner's ``do_wd`` / ``force_train``); others take fastai's path.
_ADAM_STATE = frozenset({"grad_avg", "sqr_avg", "step", "do_wd", "force_train"})
_ADAM_HYPERS = ("lr", "mom", "sqr_mom", "eps", "wd")


def is_fastai_adam(cbs) -> bool:
    """Whether optimizer callbacks `cbs` are those of fastai's ``Adam`` with decoupled weight decay (its default)."""
    cbs = list(cbs)
    if len(cbs) != 5 or cbs[0] is not weight_decay or cbs[2:] != [average_sqr_grad, step_stat, adam_step]:
        return False
    avg = cbs[1]
    return isinstance(avg, partial) and avg.func is average_grad and not avg.args and avg.keywords == {
        "dampening": True}


class LeanAdam(Optimizer):
    """fastai's ``Adam`` (decoupled weight decay) with each step done for all tensors of a parameter group, of
    equal state, at once (module docstring): per tensor, exactly fastai's operations (``p *= 1 - lr * wd`` where
    ``do_wd``; ``grad_avg = grad_avg * mom + grad * (1 - mom)``; ``sqr_avg = sqr_avg * sqr_mom + grad^2 *
    (1 - sqr_mom)``; ``p += -lr / debias1 * grad_avg / (sqrt(sqr_avg / debias2) + eps)``), the same state
    (``grad_avg``, ``sqr_avg``, ``step``) and the same result (on the CPU to the bit; a GPU's multi-tensor kernels
    may round differently in the last bit). Other optimizer callbacks, or state fastai's Adam does not keep, take
    fastai's per-tensor path."""

    def step(self, closure=None):
        if closure is not None:
            raise NotImplementedError("fastai optimizers currently do not support closure")
        buckets = self._buckets() if is_fastai_adam(self.cbs) else None
        if buckets is None:
            return super().step()
        with torch.no_grad():
            for (group, do_wd, step, *_), items in buckets.items():
                _adam_bucket(self.hypers[group], do_wd, step, items)
        for (_, _, step, *_), items in buckets.items():
            for p, state, grad_avg, sqr_avg in items:
                state.update(grad_avg=grad_avg, sqr_avg=sqr_avg, step=step + 1)
                self.state[p] = state

    def _buckets(self) -> Optional[Dict[Tuple, List]]:
        """The tensors with a gradient, grouped by (parameter group, ``do_wd``, step count, device, dtype):
        ``key -> [(p, state, grad_avg, sqr_avg)]`` (the averages made, as zeros, where there are none yet); None
        when some state or hyper-parameter is not fastai Adam's (then fastai's path)."""
        out: Dict[Tuple, List] = {}
        for group, (pg, hyper) in enumerate(zip(self.param_lists, self.hypers)):
            if any(k not in hyper for k in _ADAM_HYPERS):
                return None
            for p in pg:
                if getattr(p, "grad", None) is None:
                    continue
                state = self.state[p]
                if not _ADAM_STATE.issuperset(state):
                    return None
                key = (group, bool(state.get("do_wd", True)), state.get("step", 0), p.device, p.dtype)
                ga, sa = state.get("grad_avg"), state.get("sqr_avg")
                out.setdefault(key, []).append((p, state, torch.zeros_like(p.grad) if ga is None else ga,
                                                torch.zeros_like(p.grad) if sa is None else sa))
        return out

    def zero_grad(self):
        grads = []
        for p, *_ in self.all_params(with_grad=True):
            p.grad.detach_()
            grads.append(p.grad)
        if grads:
            torch._foreach_zero_(grads)


def _adam_bucket(h: Dict[str, float], do_wd: bool, step: int, items: List) -> None:
    """One fastai Adam step of the tensors `items` (``(p, state, grad_avg, sqr_avg)``), all at step count `step`
    with hyper-parameters `h`, as fastai's ``weight_decay``, ``average_grad(dampening=True)``,
    ``average_sqr_grad``, ``step_stat`` and ``adam_step`` do it one tensor at a time."""
    ps = [p for p, *_ in items]
    grads = [p.grad for p in ps]
    grad_avgs = [g for *_, g, _ in items]
    sqr_avgs = [s for *_, s in items]
    lr, mom, sqr_mom, eps, wd = (h[k] for k in _ADAM_HYPERS)
    if do_wd and wd != 0:
        torch._foreach_mul_(ps, 1 - lr * wd)
    torch._foreach_mul_(grad_avgs, mom)
    torch._foreach_add_(grad_avgs, grads, alpha=1 - mom)
    torch._foreach_mul_(sqr_avgs, sqr_mom)
    torch._foreach_addcmul_(sqr_avgs, grads, grads, value=1 - sqr_mom)
    step += 1
    debias1, debias2 = debias(mom, 1 - mom, step), debias(sqr_mom, 1 - sqr_mom, step)
    denom = torch._foreach_div(sqr_avgs, debias2)
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(ps, grad_avgs, denom, value=-lr / debias1)


def lean_adam(params, lr, **kwargs) -> LeanAdam:
    """fastai's ``Adam(params, lr, **kwargs)`` as a :class:`LeanAdam` (the same settings and callbacks); with
    ``decouple_wd=False`` fastai's own (L2 regularisation is not what :class:`LeanAdam` does)."""
    opt = Adam(params, lr, **kwargs)
    if is_fastai_adam(opt.cbs):
        opt.__class__ = LeanAdam
    return opt


def _replace(learn: Learner, old: Callback, new: Callback) -> None:
    """Put `new` in `old`'s place among `learn`'s callbacks (same position, same attribute name)."""
    i = next(i for i, cb in enumerate(learn.cbs) if cb is old)
    old.learn, new.learn = None, learn
    learn.cbs[i] = new
    setattr(learn, new.name, new)


def streamline(learn: Learner) -> Learner:
    """Make `learn` run the lean loop (module docstring), in place; returns it. Idempotent.

    The learner becomes a :class:`LeanLearner` (a fastai ``Learner``), fastai's ``Recorder`` a
    :class:`LeanRecorder` with the same settings, fastai's ``ProgressCallback`` a :class:`LeanProgress`, and
    fastai's ``Adam`` (the optimizer function, and the optimizer when there is one already) a :class:`LeanAdam`;
    other callbacks and optimizers are left alone. What the learner computes and records is unchanged.
    """
    if type(learn) is Learner:
        learn.__class__ = LeanLearner
    func = learn.opt_func
    if func is Adam:
        learn.opt_func = lean_adam
    elif isinstance(func, partial) and func.func is Adam:
        learn.opt_func = partial(lean_adam, *func.args, **func.keywords)
    if type(learn.opt) is Optimizer and is_fastai_adam(learn.opt.cbs):
        learn.opt.__class__ = LeanAdam
    for cb in list(learn.cbs):
        if type(cb) is Recorder:
            new = LeanRecorder(cb.add_time, cb.train_metrics, cb.valid_metrics, cb.smooth_loss.beta)
            _replace(learn, cb, new)
        elif type(cb) is ProgressCallback:
            _replace(learn, cb, LeanProgress())
    return learn


def lean_state(learn: Learner) -> Dict[str, Any]:
    """What :func:`streamline` changed on `learn` (for tests and reports): the classes of the learner, its recorder,
    progress callback and optimizer (None where there is none)."""
    progress: Optional[Callback] = getattr(learn, "progress", None)
    return {"learner": type(learn).__name__, "recorder": type(getattr(learn, "recorder", None)).__name__,
            "progress": None if progress is None else type(progress).__name__,
            "opt": None if learn.opt is None else type(learn.opt).__name__}
