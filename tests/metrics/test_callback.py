"""Tests of dronefast.metrics.callback: the confusion matrix filled during validation and the fastai metrics
reading it, with hand-computed numbers (outside a Learner, in a real Learner, and with distributed padding)."""
import math
import pickle
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dronefast.metrics.callback import (
    AccuracyMask,
    ConfusionCallback,
    MeanIoU,
    PixelAccuracy,
    all_reduce_sum,
    find_confusion,
    per_class_iou,
    segmentation_metrics,
    unpadded_count,
)
from dronefast.metrics.functional import accuracy_mask, confusion_matrix
from tests.metrics.cases import (
    CM,
    DEVICES,
    PRED,
    TARG,
    assert_close_nan,
    logits_for,
    nan,
)

# ------------------------------------------------------------------------------------- no Learner

# batch 1: one image, 4 labelled pixels all right; batch 2: one image, 3 void + 1 labelled pixel wrong.
BATCHES = [(torch.tensor([[[1, 1, 1, 1]]]), torch.tensor([[[1, 1, 1, 1]]])),
           (torch.tensor([[[0, 0, 0, 2]]]), torch.tensor([[[0, 0, 0, 1]]]))]


@pytest.mark.parametrize("device", DEVICES)
def test_accumulating_two_batches_equals_one_big_batch(device):
    conf = ConfusionCallback(3, void_code=0)
    acc, miou = conf.metrics()
    for p, t in BATCHES:
        conf.accumulate(logits_for(p.to(device), 3), t.to(device))
    big = confusion_matrix(torch.cat([p for p, _ in BATCHES], 2), torch.cat([t for _, t in BATCHES], 2), 3)
    assert torch.equal(conf.confusion, big)
    # dataset level: 4 right of 5 labelled pixels; the mean of the batch values would be (1 + 0) / 2
    assert acc.value == pytest.approx(4 / 5)
    per_batch = [float(accuracy_mask(logits_for(p, 3), t, 0)) for p, t in BATCHES]
    assert sum(per_batch) / 2 == pytest.approx(0.5)
    # IoU: class 1 tp 4, fn 1 -> 4/5; class 2 fp 1 -> 0; void 0 excluded
    assert miou.value == pytest.approx((4 / 5 + 0) / 2)
    assert isinstance(acc.value, float) and isinstance(miou.value, float)
    assert (acc.name, miou.name) == ("accuracy_mask", "miou")
    conf.before_validate()                       # a new validation starts from an empty matrix
    assert math.isnan(acc.value) and conf.confusion.sum() == 0


def test_update_and_lazy_class_count():
    conf = ConfusionCallback(void_code=None)
    with pytest.raises(ValueError, match="n_classes"):
        conf.update(PRED, TARG)
    conf.accumulate(logits_for(PRED[None], 5), TARG[None])     # C taken from the logits
    assert conf.n_classes == 5 and torch.equal(conf.confusion, CM)
    conf.update(PRED, TARG)
    assert torch.equal(conf.confusion, 2 * CM)
    assert conf.miou() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="outputs 4 classes"):
        conf.accumulate(logits_for(torch.zeros(1, 2, 3, dtype=torch.long), 4), TARG[None])
    with pytest.raises(TypeError, match="tensor"):
        conf.accumulate((PRED,), TARG)


def test_per_class_names_and_kinds():
    conf = ConfusionCallback(5, void_code=0, class_names=["unlabeled", "grass", "roof", "car", "dog"])
    conf.update(PRED, TARG)
    iou = conf.per_class()
    assert list(iou) == ["unlabeled", "grass", "roof", "car", "dog"]
    assert_close_nan(iou.values(), [nan, 2 / 3, 1 / 3, 0, nan])
    assert_close_nan(conf.per_class("dice").values(), [nan, 0.8, 0.5, 0, nan])
    assert_close_nan(conf.per_class("accuracy").values(), [nan, 2 / 3, 0.5, nan, nan])
    assert conf.scores()["miou"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="kind"):
        conf.per_class("f2")


def test_reduce_fn_is_applied_once_per_change():
    calls = []

    def double(t):
        calls.append(1)
        return t * 2

    conf = ConfusionCallback(5, void_code=None, reduce_fn=double)
    readers = conf.metrics(["accuracy_mask", "miou", "pixel_accuracy"])
    conf.update(PRED, TARG)
    values = [r.value for r in readers]
    assert torch.equal(conf.confusion, 2 * CM) and len(calls) == 1
    assert values == pytest.approx([4 / 6, 0.5, 4 / 6])
    conf.update(PRED, TARG)
    assert torch.equal(conf.confusion, 4 * CM) and len(calls) == 2


def test_all_reduce_sum_without_and_with_a_process_group(tmp_path):
    import torch.distributed as dist
    t = torch.arange(4)
    assert all_reduce_sum(t) is t            # no process group: identity
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        out = all_reduce_sum(t)
        assert out is not t and torch.equal(out, t) and torch.equal(t, torch.arange(4))
    finally:
        dist.destroy_process_group()


def test_argument_checks():
    with pytest.raises(ValueError, match="class names"):
        ConfusionCallback(3, class_names=["a", "b"])
    with pytest.raises(ValueError, match="unknown metric"):
        ConfusionCallback(3).metrics(["f1"])


# ---------------------------------------------------------------------------------------- real Learner

# Three 2x2 validation images, classes 0 (void), 1, 2; batches of 2 then 1.
#   A: all 1, predicted all 1           -> 4/4 labelled right
#   B: 0 0 0 2, predicted 0 0 0 1       -> 0/1 labelled right (3/4 of all pixels)
#   C: 0 0 0 1, predicted 1 1 1 1       -> 1/1 labelled right (1/4 of all pixels)
# accuracy_mask (void 0) = 5/6; fastai's per-batch average = (2 * 4/5 + 1 * 1) / 3 = 2.6/3.
# pixel accuracy = 8/12. Confusion [[3,3,0],[0,5,0],[0,1,0]]; void row dropped: IoU1 = 5/6, IoU2 = 0.
LEARN_PRED = torch.tensor([[[1, 1], [1, 1]], [[0, 0], [0, 1]], [[1, 1], [1, 1]]])
LEARN_TARG = torch.tensor([[[1, 1], [1, 1]], [[0, 0], [0, 2]], [[0, 0], [0, 1]]])
LEARN_CM = torch.tensor([[3, 3, 0], [0, 5, 0], [0, 1, 0]])


def tiny_learner(cbs, metrics):
    """A Learner whose 1x1 conv (identity weights) passes one-hot inputs through, so its predictions are
    exactly LEARN_PRED."""
    from fastai.callback.progress import ProgressCallback
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat

    x = F.one_hot(LEARN_PRED, 3).permute(0, 3, 1, 2).float()
    items = [(x[i], LEARN_TARG[i]) for i in range(3)]
    dls = DataLoaders(DataLoader(items, bs=2), DataLoader(items, bs=2), device=torch.device("cpu"))
    model = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3)[:, :, None, None])
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(axis=1), cbs=cbs, metrics=metrics)
    learn.remove_cb(ProgressCallback)         # no progress bars in test output
    return learn


def test_metrics_through_a_real_learner():
    names = ["unlabeled", "grass", "roof"]
    conf = ConfusionCallback(3, void_code=0, class_names=names)
    learn = tiny_learner(conf, conf.metrics(["accuracy_mask", "miou", "pixel_accuracy"]))
    with learn.no_logging():
        learn.fit(2, lr=0.0)                  # lr 0 keeps the identity weights; training batches are not counted
    assert learn.recorder.metric_names[3:-1] == ["accuracy_mask", "miou", "pixel_accuracy"]
    expected = [5 / 6, (5 / 6 + 0) / 2, 8 / 12]
    for epoch in (0, 1):                      # each validation starts from an empty matrix
        assert list(learn.recorder.values[epoch][2:]) == pytest.approx(expected)
    with learn.no_logging():
        res = learn.validate()
    assert list(res[1:]) == pytest.approx(expected)
    assert all(isinstance(v, float) for v in res[1:])
    assert torch.equal(conf.confusion, LEARN_CM)
    assert find_confusion(learn) is conf
    iou = per_class_iou(learn)
    assert list(iou) == names
    assert_close_nan(iou.values(), [nan, 5 / 6, 0])
    with learn.no_logging():
        learn.get_preds()                     # another pass over the validation set: counted once again
    assert torch.equal(conf.confusion, LEARN_CM)


def test_fastai_per_batch_average_differs_from_dataset_level():
    conf, mets = segmentation_metrics(3, void_code=0)
    learn = tiny_learner(conf, mets + [partial(accuracy_mask, void_code=0)])
    with learn.no_logging():
        res = learn.validate()
    assert [m.name for m in learn.metrics] == ["accuracy_mask", "miou", "accuracy_mask"]
    assert res[1] == pytest.approx(5 / 6)       # exact, one confusion matrix over the set
    assert res[3] == pytest.approx(2.6 / 3)     # fastai AvgMetric: mean of batches weighted by images
    assert isinstance(learn.metrics[0], AccuracyMask) and isinstance(learn.metrics[1], MeanIoU)


def test_find_confusion_without_the_callback():
    learn = tiny_learner([], [])
    with pytest.raises(ValueError, match="no ConfusionCallback"):
        find_confusion(learn)


def test_callback_and_metrics_pickle_for_learn_export():
    import cloudpickle
    conf = ConfusionCallback(3, void_code=0, class_names=["unlabeled", "grass", "roof"])
    learn = tiny_learner(conf, conf.metrics(["accuracy_mask", "miou", "pixel_accuracy"]))
    with learn.no_logging():
        learn.validate()
    for dumps in (pickle.dumps, cloudpickle.dumps):
        conf2, acc, miou, pix = pickle.loads(dumps([conf, *learn.metrics]))
        assert acc.source is conf2 and miou.source is conf2 and isinstance(pix, PixelAccuracy)
        assert torch.equal(conf2.confusion, LEARN_CM)
        assert (acc.value, miou.value, pix.value) == pytest.approx((5 / 6, 5 / 12, 8 / 12))


class _FakeDistributedDL:
    def __init__(self, rank, i, n=5, world_size=2):
        self.rank, self.i, self.n, self.world_size = rank, i, n, world_size
        self.n_padded = -(-n // world_size) * world_size


@pytest.mark.parametrize("rank, i, bs, keep", [
    (0, 2, 2, 2), (0, 3, 1, 1),   # rank 0 reads padded positions 0, 1, 2: all real
    (1, 2, 2, 2), (1, 3, 1, 0),   # rank 1 reads 3, 4, 5: position 5 repeats item 0
])
def test_distributed_padding_is_not_counted(rank, i, bs, keep):
    assert unpadded_count(_FakeDistributedDL(rank, i), bs) == keep
    assert unpadded_count(None, bs) == bs


def test_padded_batch_accumulates_only_real_samples():
    conf = ConfusionCallback(n_classes=2, void_code=None)
    dl = _FakeDistributedDL(rank=1, i=3)          # a batch of 3 samples at positions 3, 4, 5 (5 = padding)
    pred = torch.tensor([[[[5.0]], [[0.0]]]] * 3)  # predicts class 0 everywhere, (3, 2, 1, 1)
    conf.accumulate(pred, torch.tensor([[[1]], [[0]], [[1]]]), dl)
    assert conf.confusion.tolist() == [[1, 0], [1, 0]]  # the third (padding) sample is left out
