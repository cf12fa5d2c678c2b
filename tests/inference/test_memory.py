"""The memory estimate of a prediction (dronefast.inference.memory), by hand."""
import pytest

from dronefast.inference.memory import MemoryLimitError, check_prediction_memory, prediction_bytes


def test_prediction_bytes_by_hand():
    # 20x10 photo predicted at its size by 8x8 windows (3 x 2 of them, batch of 1), 2 classes, a ResNet-18
    full_px, work_px = 10 * 20, 10 * 20
    host, work = prediction_bytes((10, 20), (10, 20), (8, 8), 2, 1, "resnet18")
    assert host == full_px * 13
    assert work == work_px * (43 + 8 * 2) + 2048 * 64 + 64 * 4 * 2
    host, work = prediction_bytes((10, 20), (4, 4), (8, 8), 2, 8, "resnet50", confidence=True, tta=True)
    assert host == full_px * (13 + 18)                     # the confidence maps at full size
    assert work == 64 * (43 + 16 * 2) + 5120 * 64 + 3 * 64 * 4 * 2   # padded to one window, 3 views of its logits


def test_check_names_the_photo_and_both_figures():
    need = sum(prediction_bytes((10, 20), (10, 20), (8, 8), 2, 1, "resnet18"))
    check_prediction_memory("p.jpg", (10, 20), (10, 20), (8, 8), 2, 1, arch="resnet18", available=lambda d: need)
    check_prediction_memory("p.jpg", (10, 20), (10, 20), (8, 8), 2, 1, arch="resnet18", available=lambda d: None)
    with pytest.raises(MemoryLimitError) as e:
        check_prediction_memory("p.jpg", (10, 20), (10, 20), (8, 8), 2, 1, arch="resnet18",
                                available=lambda d: need - 1)
    assert str(e.value) == (f"p.jpg: predicting it at 20x10 (photo 20x10) needs about {need / (1 << 20):,.0f} MiB of "
                            f"memory, but {(need - 1) / (1 << 20):,.0f} MiB is available; lower the scale (--scale) "
                            f"or the batch size, or predict a smaller photo")
    asked = []
    with pytest.raises(MemoryLimitError, match="of cuda:0 memory"):   # on a GPU the working maps need its memory
        check_prediction_memory("p.jpg", (10, 20), (10, 20), (8, 8), 2, 1, "cuda:0", arch="resnet18",
                                available=lambda d: asked.append(d) or (1 << 40 if d == "cpu" else 1))
    assert asked == ["cpu", "cuda:0"]
