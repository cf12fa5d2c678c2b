import numpy as np
import pytest
from PIL import Image

from dronefast.data.images import image_size, read_image
from dronefast.errors import CorruptImageError


@pytest.fixture
def big_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (25, 38, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((760, 500), Image.Resampling.BILINEAR)
    img.save(tmp_path / "big.jpg", quality=95)
    return tmp_path / "big.jpg", img


def test_read_image_resizes_to_hw(big_jpeg):
    path, _ = big_jpeg
    im = read_image(path, (50, 76))
    assert im.mode == "RGB" and im.size == (76, 50)
    assert image_size(path) == (500, 760)


def test_draft_decoding_close_to_full_decode(big_jpeg):
    path, _ = big_jpeg
    fast = np.asarray(read_image(path, (50, 76))).astype(float)
    full = np.asarray(read_image(path, (50, 76), draft=False)).astype(float)
    assert np.abs(fast - full).mean() < 8.0  # DCT scaling differs a little from a full decode


def test_truncated_jpeg_is_named(tmp_path, big_jpeg):
    path, _ = big_jpeg
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(path.read_bytes()[:400])
    with pytest.raises(CorruptImageError) as e:
        read_image(bad)
    assert str(e.value).startswith(f"{bad}: cannot decode image")
