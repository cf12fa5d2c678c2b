"""Tests of dronefast.metrics with hand-computed numbers on tiny tensors."""
import json
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dronefast.metrics import (AccuracyMask, ConfusionMetric, MeanIoU, PixelAccuracy, accuracy_mask,
                               all_reduce_sum, class_accuracy, confusion_matrix, dice_per_class,
                               find_confusion_metric, iou_per_class, mean_iou, per_class_iou,
                               pixel_accuracy, pixel_accuracy_from_cm, scores_from_confusion,
                               segmentation_metrics)

nan = math.nan
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]

# The 2x3 example, 5 classes: class 3 is only predicted, class 4 occurs nowhere.
TARG = torch.tensor([[0, 1, 1], [2, 2, 1]])
PRED = torch.tensor([[0, 1, 2], [2, 3, 1]])
CM = torch.tensor([[1, 0, 0, 0, 0],    # truth 0: predicted 0 once
                   [0, 2, 1, 0, 0],    # truth 1: 1, 1 right; once as 2
                   [0, 0, 1, 1, 0],    # truth 2: once right, once as 3
                   [0, 0, 0, 0, 0],
                   [0, 0, 0, 0, 0]])


def logits_for(pred_ids, n_classes):
    """Logits (B, C, H, W) whose argmax over dim 1 is `pred_ids` (B, H, W)."""
    return F.one_hot(pred_ids, n_classes).permute(0, 3, 1, 2).float() * 3.0 - 1.0


def assert_close_nan(actual, expected):
    actual = [float(a) for a in actual]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if math.isnan(e):
            assert math.isnan(a), (actual, expected)
        else:
            assert a == pytest.approx(e), (actual, expected)


# ------------------------------------------------------------------------------------------------ functions

@pytest.mark.parametrize("void_code, expected", [(-1, 4 / 6), (None, 4 / 6), (0, 3 / 5), (1, 2 / 3)])
def test_accuracy_mask_known_values(void_code, expected):
    inp = logits_for(PRED[None], 5)
    assert float(accuracy_mask(inp, TARG[None], void_code)) == pytest.approx(expected)
    # (B, 1, H, W) targets are squeezed as in the reference notebook
    assert float(accuracy_mask(inp, TARG[None, None], void_code)) == pytest.approx(expected)


def test_accuracy_mask_default_is_reference_void_minus_one_and_pixel_accuracy():
    inp = logits_for(PRED[None], 5)
    assert float(accuracy_mask(inp, TARG[None])) == pytest.approx(4 / 6)
    assert float(pixel_accuracy(inp, TARG[None])) == pytest.approx(4 / 6)


def test_accuracy_mask_accepts_fastai_tensor_types():
    from fastai.torch_core import TensorBase, TensorMask
    inp = TensorBase(logits_for(PRED[None], 5))
    assert float(accuracy_mask(inp, TensorMask(TARG[None]), 0)) == pytest.approx(3 / 5)


@pytest.mark.parametrize("device", DEVICES)
def test_confusion_matrix_by_hand(device):
    cm = confusion_matrix(PRED.to(device), TARG.to(device), 5)
    assert cm.dtype == torch.long and cm.device.type == device
    assert torch.equal(cm.cpu(), CM)


def test_confusion_matrix_void_and_out_of_range_targets_are_ignored():
    cm = confusion_matrix(PRED, TARG, 5, void_code=0)
    expected = CM.clone()
    expected[0, 0] = 0
    assert torch.equal(cm, expected)
    # targets outside [0, C) (a 255 ignore value, -1, 7) are not counted anywhere
    targ = torch.tensor([[0, 1, 1, 255], [2, 2, 1, -1], [7, 7, 7, 7]])
    pred = torch.tensor([[0, 1, 2, 1], [2, 3, 1, 0], [0, 1, 2, 3]])
    assert torch.equal(confusion_matrix(pred, targ, 5), CM)


def test_confusion_matrix_rejects_bad_predictions_and_shapes():
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 5)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 5)


def test_scores_by_hand_without_void():
    assert_close_nan(iou_per_class(CM), [1, 2 / 3, 1 / 3, 0, nan])      # 3 only predicted: 0; 4 absent: NaN
    assert_close_nan(dice_per_class(CM), [1, 0.8, 0.5, 0, nan])
    assert_close_nan(class_accuracy(CM), [1, 2 / 3, 0.5, nan, nan])       # recall: NaN if not in truth
    assert mean_iou(CM) == pytest.approx(0.5)                              # (1 + 2/3 + 1/3 + 0) / 4
    assert pixel_accuracy_from_cm(CM) == pytest.approx(4 / 6)


def test_scores_by_hand_with_void_zero():
    assert_close_nan(iou_per_class(CM, 0), [nan, 2 / 3, 1 / 3, 0, nan])
    assert_close_nan(dice_per_class(CM, 0), [nan, 0.8, 0.5, 0, nan])
    assert_close_nan(class_accuracy(CM, 0), [nan, 2 / 3, 0.5, nan, nan])
    assert mean_iou(CM, 0) == pytest.approx(1 / 3)                         # (2/3 + 1/3 + 0) / 3
    assert pixel_accuracy_from_cm(CM, 0) == pytest.approx(3 / 5)


def test_predictions_on_void_pixels_do_not_count():
    # the void pixel is predicted as class 3: without void handling class 3 is a false positive (IoU 0)
    # and class 0 a miss (IoU 0); with void 0 both drop out and only class 1 (perfect) is scored.
    cm = confusion_matrix(torch.tensor([[3, 1]]), torch.tensor([[0, 1]]), 4)
    assert_close_nan(iou_per_class(cm), [0, 1, nan, 0])
    assert mean_iou(cm) == pytest.approx(1 / 3)
    assert_close_nan(iou_per_class(cm, 0), [nan, 1, nan, nan])
    assert mean_iou(cm, 0) == pytest.approx(1.0)
    # predicting the void class on a labelled pixel is still a miss for the true class
    cm = confusion_matrix(torch.tensor([[0, 1]]), torch.tensor([[2, 1]]), 3)
    assert_close_nan(iou_per_class(cm, 0), [nan, 1, 0])


def test_empty_matrix_gives_nan():
    cm = torch.zeros(3, 3, dtype=torch.long)
    assert math.isnan(mean_iou(cm)) and math.isnan(pixel_accuracy_from_cm(cm))
    assert all(math.isnan(x) for x in iou_per_class(cm).tolist())


def test_scores_from_confusion_is_json_ready():
    names = ["unlabeled", "grass", "roof", "car", "dog"]
    s = scores_from_confusion(CM, names, void_code=0)
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)
    assert s["accuracy_mask"] == pytest.approx(3 / 5)
    assert s["miou"] == pytest.approx(1 / 3)
    assert s["mean_dice"] == pytest.approx((0.8 + 0.5 + 0) / 3)
    assert s["void_class"] == "unlabeled" and s["void_code"] == 0
    assert s["miou_classes"] == ["grass", "roof", "car"]
    assert s["iou"]["unlabeled"] is None and s["iou"]["dog"] is None and s["iou"]["car"] == 0.0
    assert s["iou"]["grass"] == pytest.approx(2 / 3)
    assert s["dice"]["roof"] == pytest.approx(0.5)
    assert s["class_accuracy"]["car"] is None
    assert s["support"] == {"unlabeled": 1, "grass": 3, "roof": 2, "car": 0, "dog": 0}
    assert s["n_pixels"] == 6 and s["n_scored_pixels"] == 5
    json.dumps(s, allow_nan=False)  # no NaN left
    with pytest.raises(ValueError, match="class names"):
        scores_from_confusion(CM, names[:3])


def test_scores_without_void_and_default_names():
    s = scores_from_confusion(CM, void_code=None)
    assert s["miou"] == pytest.approx(0.5) and s["accuracy_mask"] == pytest.approx(4 / 6)
    assert s["miou_classes"] == ["0", "1", "2", "3"] and s["void_class"] is None


# ------------------------------------------------------------------------------------- hub, no Learner

class FakeLearn:
    """The two attributes the metrics read: pred (B, C, H, W) logits and y (B, H, W) ids."""

    def __init__(self, pred_ids, targ, n_classes):
        self.pred, self.y = logits_for(pred_ids, n_classes), targ


# batch 1: one image, 4 labelled pixels all right; batch 2: one image, 3 void + 1 labelled pixel wrong.
BATCHES = [(torch.tensor([[[1, 1, 1, 1]]]), torch.tensor([[[1, 1, 1, 1]]])),
           (torch.tensor([[[0, 0, 0, 2]]]), torch.tensor([[[0, 0, 0, 1]]]))]


@pytest.mark.parametrize("device", DEVICES)
def test_accumulating_two_batches_equals_one_big_batch(device):
    hub = ConfusionMetric(3, void_code=0)
    acc, miou = AccuracyMask(0, hub=hub), MeanIoU(hub=hub)
    hub.reset()
    for p, t in BATCHES:
        learn = FakeLearn(p.to(device), t.to(device), 3)
        acc.accumulate(learn)
        miou.accumulate(learn)   # same batch through a second reader: counted once
    big = confusion_matrix(torch.cat([p for p, _ in BATCHES], 2), torch.cat([t for _, t in BATCHES], 2), 3)
    assert torch.equal(hub.confusion, big)
    # dataset level: 4 right of 5 labelled pixels; the mean of the batch values would be (1 + 0) / 2
    assert acc.value == pytest.approx(4 / 5)
    per_batch = [float(accuracy_mask(logits_for(p, 3), t, 0)) for p, t in BATCHES]
    assert sum(per_batch) / 2 == pytest.approx(0.5)
    # IoU: class 1 tp 4, fn 1 -> 4/5; class 2 fp 1 -> 0; void 0 excluded
    assert miou.value == pytest.approx((4 / 5 + 0) / 2)
    assert isinstance(acc.value, float) and isinstance(miou.value, float)
    acc.reset()
    assert math.isnan(acc.value) and hub.confusion.sum() == 0


def test_update_and_lazy_class_count():
    hub = ConfusionMetric(void_code=None)
    with pytest.raises(ValueError, match="n_classes"):
        hub.update(PRED, TARG)
    hub.accumulate(FakeLearn(PRED[None], TARG[None], 5))     # C taken from the logits
    assert hub.n_classes == 5 and torch.equal(hub.confusion, CM)
    hub.update(PRED, TARG)
    assert torch.equal(hub.confusion, 2 * CM)
    assert hub.value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="outputs 4 classes"):
        hub.accumulate(FakeLearn(torch.zeros(1, 2, 3, dtype=torch.long), TARG[None], 4))


def test_per_class_names_and_kinds():
    m = MeanIoU(5, void_code=0, class_names=["unlabeled", "grass", "roof", "car", "dog"])
    m.hub.update(PRED, TARG)
    iou = m.per_class()
    assert list(iou) == ["unlabeled", "grass", "roof", "car", "dog"]
    assert_close_nan(iou.values(), [nan, 2 / 3, 1 / 3, 0, nan])
    assert_close_nan(m.per_class("dice").values(), [nan, 0.8, 0.5, 0, nan])
    assert_close_nan(m.per_class("accuracy").values(), [nan, 2 / 3, 0.5, nan, nan])
    assert m.scores()["miou"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="kind"):
        m.per_class("f2")


def test_reduce_fn_is_applied_once_per_change():
    calls = []

    def double(t):
        calls.append(1)
        return t * 2

    hub = ConfusionMetric(5, void_code=None, reduce_fn=double)
    readers = [AccuracyMask(None, hub=hub), MeanIoU(void_code=None, hub=hub), PixelAccuracy(hub=hub)]
    hub.update(PRED, TARG)
    values = [r.value for r in readers]
    assert torch.equal(hub.confusion, 2 * CM) and len(calls) == 1
    assert values == pytest.approx([4 / 6, 0.5, 4 / 6])
    hub.update(PRED, TARG)
    assert torch.equal(hub.confusion, 4 * CM) and len(calls) == 2


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


def test_reader_argument_checks():
    hub = ConfusionMetric(3, void_code=None)
    with pytest.raises(ValueError, match="void_code"):
        MeanIoU(hub=hub)                     # default void 0 differs from the hub's
    with pytest.raises(ValueError, match="hub"):
        AccuracyMask(0, n_classes=3, hub=hub)
    with pytest.raises(ValueError, match="class names"):
        ConfusionMetric(3, class_names=["a", "b"])


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


def tiny_learner(metrics):
    """A Learner whose 1x1 conv (identity weights) passes one-hot inputs through, so its predictions are
    exactly LEARN_PRED."""
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.callback.progress import ProgressCallback
    from fastai.learner import Learner
    from fastai.losses import CrossEntropyLossFlat

    x = F.one_hot(LEARN_PRED, 3).permute(0, 3, 1, 2).float()
    items = [(x[i], LEARN_TARG[i]) for i in range(3)]
    dls = DataLoaders(DataLoader(items, bs=2), DataLoader(items, bs=2), device=torch.device("cpu"))
    model = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3)[:, :, None, None])
    learn = Learner(dls, model, loss_func=CrossEntropyLossFlat(axis=1), metrics=metrics)
    learn.remove_cb(ProgressCallback)         # no progress bars in test output
    return learn


def test_metrics_through_a_real_learner():
    names = ["unlabeled", "grass", "roof"]
    hub = ConfusionMetric(3, void_code=0, class_names=names)
    learn = tiny_learner([AccuracyMask(0, hub=hub), MeanIoU(hub=hub), PixelAccuracy(hub=hub)])
    with learn.no_logging():
        learn.fit(1, lr=0.0)                  # lr 0 keeps the identity weights
    assert learn.recorder.metric_names[3:-1] == ["accuracy_mask", "miou", "pixel_accuracy"]
    expected = [5 / 6, (5 / 6 + 0) / 2, 8 / 12]
    assert list(learn.recorder.values[-1][2:]) == pytest.approx(expected)   # [train_loss, valid_loss, ...]
    with learn.no_logging():
        res = learn.validate()
    assert list(res[1:]) == pytest.approx(expected)
    assert all(isinstance(v, float) for v in res[1:])
    assert torch.equal(hub.confusion, LEARN_CM)
    assert find_confusion_metric(learn) is hub
    iou = per_class_iou(learn)
    assert list(iou) == names
    assert_close_nan(iou.values(), [nan, 5 / 6, 0])
    assert_close_nan(learn.metrics[1].per_class().values(), [nan, 5 / 6, 0])


def test_fastai_per_batch_average_differs_from_dataset_level():
    learn = tiny_learner(segmentation_metrics(3, void_code=0) + [partial(accuracy_mask, void_code=0)])
    with learn.no_logging():
        res = learn.validate()
    assert [m.name for m in learn.metrics] == ["accuracy_mask", "miou", "accuracy_mask"]
    assert res[1] == pytest.approx(5 / 6)       # exact, one confusion matrix over the set
    assert res[3] == pytest.approx(2.6 / 3)     # fastai AvgMetric: mean of batches weighted by images
    assert learn.metrics[0].hub is learn.metrics[1].hub


def test_private_hubs_and_lazy_class_count_in_a_learner():
    learn = tiny_learner([AccuracyMask(), MeanIoU()])
    with learn.no_logging():
        res = learn.validate()
    assert list(res[1:]) == pytest.approx([5 / 6, 5 / 12])
    assert learn.metrics[0].hub is not learn.metrics[1].hub and learn.metrics[0].hub.n_classes == 3


def test_metrics_pickle_after_validation_for_learn_export():
    # learn.export() pickles the learner with its metrics (with cloudpickle), after validation has left a
    # weakref to the last batch in the hub; the test data here cannot be exported, so pickle the metrics.
    import pickle

    import cloudpickle
    learn = tiny_learner(segmentation_metrics(3, void_code=0, class_names=["unlabeled", "grass", "roof"]))
    with learn.no_logging():
        learn.validate()
    for dumps in (pickle.dumps, cloudpickle.dumps):
        acc, miou = pickle.loads(dumps(list(learn.metrics)))
        assert acc.hub is miou.hub and torch.equal(acc.confusion, LEARN_CM)
        assert acc.value == pytest.approx(5 / 6) and miou.value == pytest.approx(5 / 12)


class _FakeDistributedDL:
    def __init__(self, rank, i, n=5, world_size=2):
        self.rank, self.i, self.n, self.world_size = rank, i, n, world_size
        self.n_padded = -(-n // world_size) * world_size


@pytest.mark.parametrize("rank, i, bs, keep", [
    (0, 2, 2, 2), (0, 3, 1, 1),   # rank 0 reads padded positions 0, 1, 2: all real
    (1, 2, 2, 2), (1, 3, 1, 0),   # rank 1 reads 3, 4, 5: position 5 repeats item 0
])
def test_distributed_padding_is_not_counted(rank, i, bs, keep):
    from dronefast.metrics import _unpadded_count

    assert _unpadded_count(_FakeDistributedDL(rank, i), bs) == keep
    assert _unpadded_count(None, bs) == bs


def test_padded_batch_accumulates_only_real_samples():
    class L:
        pass

    m = ConfusionMetric(n_classes=2, void_code=None)
    learn = L()
    learn.dl = _FakeDistributedDL(rank=1, i=3)  # a batch of 3 samples at positions 3, 4, 5 (5 = padding)
    learn.pred = torch.tensor([[[[5.0]], [[0.0]]]] * 3)  # predicts class 0 everywhere, (3, 2, 1, 1)
    learn.y = torch.tensor([[[1]], [[0]], [[1]]])
    m.accumulate(learn)
    assert m.confusion.tolist() == [[1, 0], [1, 0]]  # the third (padding) sample is left out
