"""Nothing lost, nothing silently wrong: every bad input refused by name, class of fault by class of fault.

Each refusal is checked the same way: exit code 1, a line naming the file and the problem, no traceback, and every
file that existed before left byte for byte as it was. Faults of a kind are parametrised, so that a new variant of a
fault joins its table. Commands run in-process (their ``main``); interrupted runs are in ``training/test_kills.py``.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import struct
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageOps

from dronefast.cli.check import main as check_main
from dronefast.cli.common import run_main
from dronefast.cli.prepare import main as prepare_main
from dronefast.data.classes import read_class_csv, standard_classes
from dronefast.data.images import image_size, read_image
from dronefast.data.masks import read_mask
from dronefast.errors import (
    ClassIdError,
    ClassTableError,
    CorruptImageError,
    ModelFileError,
    OutputError,
    PaletteMaskError,
)
from dronefast.outputs import atomic_path, save_image, write_json, write_text
from tests.conftest import TINY_ARCH

CLASSES = standard_classes()
H, W = 32, 48
#: check and train refuse the tiny datasets' few photos at train's defaults: a batch of one, no test photos
FEW = ["--bs", "1", "--test-pct", "0"]


# ------------------------------------------------------------------------------------------------------ helpers

def run_cli(main, argv) -> SimpleNamespace:
    """A command's ``main(argv)`` as ``(rc, out, err)`` (argparse's exits and any exception included)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
        except BaseException as e:  # a traceback: reported, never swallowed
            import traceback

            traceback.print_exc(file=err)
            rc = f"raised {type(e).__name__}"
    return SimpleNamespace(rc=rc, out=out.getvalue(), err=err.getvalue())


def snapshot(*roots: Path) -> dict:
    """sha256 of every file under `roots`."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for r in roots if r.exists()
            for p in ([r] if r.is_file() else sorted(r.rglob("*"))) if p.is_file()}


def assert_unchanged(before: dict) -> None:
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None for p in before}
    changed = [str(p) for p in before if after[p] != before[p]]
    assert not changed, f"changed or removed: {changed}"


def assert_refused(res, path, *problem, one_line: bool = True) -> None:
    """Exit 1, no traceback, and a line naming `path` and each of `problem`; with `one_line`, stderr is that one
    ``error: PATH: ...`` line."""
    text = res.out + res.err
    assert res.rc == 1, (res.rc, text[-3000:])
    assert "Traceback" not in text, text[-3000:]
    if one_line:
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), res.err
    named = [ln for ln in text.splitlines() if str(path) in ln]
    assert any(all(p in ln for p in problem) for ln in named), (str(path), problem, text[-3000:])


def png_header(w: int, h: int) -> bytes:
    """A valid PNG header claiming ``w x h`` RGB pixels (with no pixel data): a decompression bomb's header."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def ids_of(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.kron(rng.choice([0, 1, 3, 9, 17, 19], size=(4, 6)), np.ones((8, 8), np.int64)).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A Kaggle-layout dataset of 3 photos of 48x32 (JPEG) with id masks (mode L)."""
    root = tmp_path_factory.mktemp("tiny") / "data"
    (root / "original_images").mkdir(parents=True)
    (root / "label_images_semantic").mkdir()
    for i in range(3):
        ids = ids_of(i)
        Image.fromarray(CLASSES.palette[ids]).save(root / "original_images" / f"{i:03d}.jpg", quality=95)
        Image.fromarray(ids, "L").save(root / "label_images_semantic" / f"{i:03d}.png")
    (root / "class_dict_seg.csv").write_text(CLASSES.to_csv())
    return root


@pytest.fixture
def data(tiny, tmp_path) -> Path:
    """A private, writable copy of `tiny`."""
    return Path(shutil.copytree(tiny, tmp_path / "data"))


# ------------------------------------------------------------- 1. masks: palette PNGs decided by their palette

def _palette_png(ids: np.ndarray, palette: np.ndarray, path: Path, alpha=None) -> Path:
    im = Image.fromarray(ids, "P")
    im.putpalette(palette.astype(np.uint8).ravel().tolist())
    im.save(path, **({} if alpha is None else {"transparency": bytes(alpha)}))
    return path


def _alpha_at(path: Path, y: int, x: int, alpha: int) -> None:
    with Image.open(path) as im:
        im = im.copy()
    im.putpixel((x, y), (im.getpixel((x, y))[0], alpha))
    im.save(path)


GREY = np.repeat(np.arange(256)[:, None], 3, axis=1)
OTHER = np.random.default_rng(5).integers(0, 256, (256, 3))  # a display palette of no meaning


@pytest.mark.parametrize("how", ["colour mask, adaptive palette", "ids, class palette", "ids, grey palette",
                                 "ids, other palette"])
def test_palette_masks_are_read_by_their_palette(tmp_path, how):
    ids = ids_of(1)
    if how.startswith("colour"):  # a TU Graz colour mask saved as a palette PNG: indices 0..5 mean colours
        path = tmp_path / "m.png"
        Image.fromarray(CLASSES.palette[ids]).quantize(6, method=Image.Quantize.MAXCOVERAGE,
                                                      dither=Image.Dither.NONE).save(path)
        with Image.open(path) as im:
            assert im.mode == "P" and np.asarray(im).max() < len(CLASSES)  # as ids it would be silently wrong
    else:
        palette = {"class": np.vstack([CLASSES.palette, np.zeros((232, 3))]), "grey": GREY,
                   "other": OTHER}[how.split(", ")[1].split()[0]]
        path = _palette_png(ids, palette, tmp_path / "m.png")
    np.testing.assert_array_equal(read_mask(path, CLASSES), ids)


def test_palette_colour_masks_check_like_rgb_ones(sample_both, tmp_path):
    """The TU Graz sample with its colour masks re-saved as palette PNGs checks with the same class counts."""
    data = Path(shutil.copytree(sample_both, tmp_path / "data"))
    masks = sorted((data / "training_set" / "gt" / "semantic" / "label_images").glob("*.png"))
    ref = run_cli(check_main, [data, "--layout", "tugraz", "--workers", "1", *FEW])
    for m in masks:
        with Image.open(m) as im:
            im.convert("RGB").quantize(255, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(m)
    res = run_cli(check_main, [data, "--layout", "tugraz", "--workers", "1", *FEW])
    assert ref.rc == res.rc == 0, res.out
    table = [ln for ln in res.out.splitlines() if "%" in ln]
    assert table == [ln for ln in ref.out.splitlines() if "%" in ln]


BAD_MASKS = {  # name: (how to damage mask 000.png, problem expected in the report line)
    "palette fits neither reading": (lambda m: _palette_png(np.where(ids_of(0) == 9, 200, ids_of(0)).astype(np.uint8),
                                                            OTHER, m), "palette mask fits neither reading"),
    "grey palette, id out of range": (lambda m: _palette_png(np.where(ids_of(0) == 9, 70, ids_of(0)).astype(np.uint8),
                                                             GREY, m), "class id(s) outside 0..23: 70 x"),
    "16-bit ids out of range": (lambda m: Image.fromarray(ids_of(0).astype(np.uint16) * 300).save(m),
                                "class id(s) outside 0..23"),
    "decompression bomb header": (lambda m: m.write_bytes(png_header(100_000, 100_000)),
                                  "refused as a possible decompression bomb: its header claims 10,000,000,000 pixels"),
    "over Pillow's warning limit": (lambda m: m.write_bytes(png_header(10_000, 10_000)),
                                    "decompression bomb: its header claims 100,000,000 pixels"),
    "not an image": (lambda m: m.write_bytes(b"GIF89a not really"), "cannot decode mask"),
    # a transparent pixel has no label: never read by the colour or id under it (issue 25)
    "colour mask with transparent pixels": (lambda m: Image.fromarray(np.dstack(
        [CLASSES.palette[ids_of(0)], np.where(ids_of(0) == 9, 0, 255).astype(np.uint8)]), "RGBA").save(m),
        f"{int((ids_of(0) == 9).sum())} transparent pixel(s) (alpha below 255): a transparent pixel has no label"),
    "ids with half-transparent pixels": (lambda m: Image.fromarray(ids_of(0)).convert("LA").save(m) or _alpha_at(
        m, 0, 0, 128), "1 transparent pixel(s) (alpha below 255)"),
    "ids with a transparency key": (lambda m: Image.fromarray(ids_of(0)).save(m, transparency=9),
                                    f"{int((ids_of(0) == 9).sum())} transparent pixel(s)"),
    "palette alpha": (lambda m: _palette_png(ids_of(0), GREY, m, alpha=[255] * 17 + [0]),
                      f"{int((ids_of(0) == 17).sum())} transparent pixel(s)"),
    "a folder named like a mask": (lambda m: (m.unlink(), m.mkdir()), "is a folder, not a mask"),
}


@pytest.mark.parametrize("fault", BAD_MASKS)
def test_bad_mask_is_refused_by_check(data, fault):
    damage, problem = BAD_MASKS[fault]
    mask = data / "label_images_semantic" / "000.png"
    damage(mask)
    before = snapshot(data)
    res = run_cli(check_main, [data, "--workers", "1", *FEW])
    assert_refused(res, mask, problem, one_line=False)   # the check lists each bad file in its report
    assert "1 problem(s):" in res.out
    assert_unchanged(before)


def test_mask_modes_refused_or_read(tmp_path):
    Image.fromarray(ids_of(0).astype(np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(CorruptImageError, match=r"f.tif: unsupported mask mode 'F'"):
        read_mask(tmp_path / "f.tif", CLASSES)
    Image.fromarray(ids_of(0)).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "la.png", CLASSES), ids_of(0))
    _palette_png(np.where(ids_of(0) == 9, 200, ids_of(0)).astype(np.uint8), OTHER, tmp_path / "p.png")
    with pytest.raises(PaletteMaskError) as e:
        read_mask(tmp_path / "p.png", CLASSES)
    assert str(e.value).startswith(f"{tmp_path / 'p.png'}: palette mask fits neither reading: as class ids, "
                                   f"index(es) outside 0..23: 200 (colour ")
    _palette_png(np.where(ids_of(0) == 9, 70, ids_of(0)).astype(np.uint8), GREY, tmp_path / "g.png")
    with pytest.raises(ClassIdError):   # grey palette: ids, never the colour (70, 70, 70) of "roof"
        read_mask(tmp_path / "g.png", CLASSES)


# --------------------------------------------------- 2. photos: every mode explicit, EXIF orientation, bombs

def _grey(values) -> np.ndarray:
    return np.repeat(np.asarray(values, np.uint8)[..., None], 3, axis=-1)


RAMP16 = np.array([[0, 257, 32768, 65535]], np.uint16)
PHOTO_MODES = {  # name: (image to save, suffix, expected RGB pixels)
    "16-bit grey PNG (I;16)": (lambda: Image.fromarray(RAMP16), ".png", _grey([[0, 1, 128, 255]])),
    "32-bit int TIFF in 0..65535 (I)": (lambda: Image.fromarray(RAMP16.astype(np.int32)), ".tif",
                                        _grey([[0, 1, 128, 255]])),
    "float TIFF in 0..1 (F)": (lambda: Image.fromarray(np.array([[0, 0.5, 1]], np.float32)), ".tif",
                               _grey([[0, 128, 255]])),
    "RGBA: alpha dropped": (lambda: Image.fromarray(np.array([[[10, 20, 30, 0], [40, 50, 60, 255]]], np.uint8)),
                            ".png", np.array([[[10, 20, 30], [40, 50, 60]]], np.uint8)),
    "LA: alpha dropped": (lambda: Image.fromarray(np.array([[[7, 0], [9, 255]]], np.uint8), "LA"), ".png",
                          _grey([[7, 9]])),
    "palette: its colours": (lambda: _palette_im(), ".png", np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)),
    "1-bit": (lambda: Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1"), ".png", _grey([[0, 255]])),
}


def _palette_im() -> Image.Image:
    im = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    im.putpalette([1, 2, 3, 4, 5, 6])
    return im


@pytest.mark.parametrize("mode", PHOTO_MODES)
def test_photo_modes_are_converted_explicitly(tmp_path, mode):
    make, suffix, expected = PHOTO_MODES[mode]
    path = tmp_path / f"p{suffix}"
    make().save(path)
    got = read_image(path)
    assert got.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(got), expected)
    assert image_size(path) == expected.shape[:2]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_honoured_the_same_way_everywhere(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    base = Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).resize((96, 64))
    for suffix in (".jpg", ".png", ".tif"):
        path = tmp_path / f"o{suffix}"
        base.save(path, exif=exif if suffix == ".tif" else exif.tobytes())
        upright = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        np.testing.assert_array_equal(np.asarray(read_image(path)), np.asarray(upright))
        assert image_size(path) == (upright.height, upright.width)
        assert read_image(path, (upright.height // 2, upright.width // 2)).size == (upright.width // 2,
                                                                                     upright.height // 2)


def _exif_turned(p: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(p) as im:
        im.load()
        im.save(p, exif=exif.tobytes(), quality=95)


def _tif(p: Path, im: Image.Image) -> None:
    p.unlink()
    im.save(p.with_suffix(".tif"))


BAD_PHOTOS = {  # name: (how to damage photo 000.jpg, the file then named, problem)
    "decompression bomb header": (lambda p: p.write_bytes(png_header(100_000, 100_000)), ".jpg",
                                  "refused as a possible decompression bomb"),
    "over Pillow's warning limit": (lambda p: p.write_bytes(png_header(10_000, 10_000)), ".jpg",
                                    "decompression bomb: its header claims 100,000,000 pixels"),
    "float photo beyond 0..1": (lambda p: _tif(p, Image.fromarray(np.full((H, W), 7.5, np.float32))), ".tif",
                                "floating-point photo with values from 7.5 to 7.5"),
    "32-bit photo beyond 0..65535": (lambda p: _tif(p, Image.fromarray(np.full((H, W), 70000, np.int32))), ".tif",
                                     "32-bit integer photo with values from 70000 to 70000"),
    "LAB photo": (lambda p: _tif(p, Image.new("LAB", (W, H))), ".tif", "unsupported photo mode 'LAB'"),
    "turned by its EXIF orientation": (_exif_turned, ".jpg", "mask is 48x32 but its image 000.jpg is 32x48"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:300]), ".jpg", "cannot decode image"),
}


@pytest.mark.parametrize("fault", BAD_PHOTOS)
def test_bad_photo_is_refused_by_check(data, fault):
    damage, suffix, problem = BAD_PHOTOS[fault]
    photo = data / "original_images" / "000.jpg"
    damage(photo)
    named = data / ("label_images_semantic/000.png" if "EXIF" in fault else f"original_images/000{suffix}")
    before = snapshot(data)
    res = run_cli(check_main, [data, "--workers", "1", *FEW])
    assert_refused(res, named, problem, one_line=False)
    assert "1 problem(s):" in res.out
    assert_unchanged(before)


@pytest.mark.parametrize("fault", ["decompression bomb header", "LAB photo", "float photo beyond 0..1"])
def test_prepare_names_a_bad_photo_skips_it_and_prepares_the_rest(data, tmp_path, fault):
    damage, suffix, problem = BAD_PHOTOS[fault]
    damage(data / "original_images" / "000.jpg")
    before = snapshot(data)
    for how in (["--size", "24x16"], ["--scale", "0.5"]):
        out = tmp_path / f"out{how[0]}"
        res = run_cli(prepare_main, [data, out, *how, "--workers", "1", "--no-progress"])
        assert_refused(res, data / f"original_images/000{suffix}", problem, one_line=False)
        assert sorted(p.name for p in (out / "images").iterdir()) == ["001.jpg", "002.jpg"]
        assert json.loads((out / "prepare.json").read_text())["counts"]["problems"] == 1
    assert_unchanged(before)


# ------------------------------------------------------------------------------------- 3. class tables (CSV)

HEAD = "name, r, g, b\n"
BAD_CSV = {  # name: (content, expected message after "FILE: ")
    "not UTF-8": (HEAD.encode() + b"unlabeled, 0, 0, 0\ngr\xe4s, 0, 102, 0\n",
                  "line 3, column 3: byte 0xe4 is not UTF-8 text"),
    "an extra column": (HEAD + "unlabeled, 0, 0, 0, 7\n", "line 2, column 5: unexpected field '7'"),
    "an extra header column": ("name, r, g, b, a\nunlabeled, 0, 0, 0\n", "line 1, column 5: unexpected column 'a'"),
    "a duplicate name": (HEAD + "grass, 0, 0, 0\n\ngrass, 0, 102, 0\n", "line 4: class name 'grass' is already on "
                                                                          "line 2"),
    "a duplicate colour": (HEAD + "a, 1, 2, 3\nb, 1, 2, 3\n", "line 3: colour (1, 2, 3) of 'b' is already the colour "
                                                              "of 'a' on line 2"),
    "an empty name": (HEAD + "unlabeled, 0, 0, 0\n , 1, 2, 3\n", "line 3, column 1: empty class name"),
    "256 classes": (HEAD + "".join(f"c{i}, {i}, 0, 0\n" for i in range(256)), "line 257: more than 255 classes"),
    "a fractional colour": (HEAD + "x, 1.5, 2, 3\n", "line 2, column 2: colour values must be integers 0..255, "
                                                     "found '1.5'"),
    "a colour beyond 255": (HEAD + "x, 1, 2, 256\n", "line 2, column 4: colour values must be 0..255, found 256"),
    "a NUL byte": (HEAD.encode() + b"x\x00, 1, 2, 3\n", "line 2, column 1: class name 'x\\x00' holds a control "
                                                         "character"),
    "a header only": (HEAD, "the class table is empty (only a header on line 1)"),
}


@pytest.mark.parametrize("fault", BAD_CSV)
def test_bad_class_csv_is_refused_by_line(data, tmp_path, fault):
    content, message = BAD_CSV[fault]
    csv = data / "class_dict_seg.csv"
    csv.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ClassTableError) as e:
        read_class_csv(csv)
    assert str(e.value).startswith(f"{csv}: {message}"), str(e.value)
    before = snapshot(data)
    for main, argv in ((check_main, [data, "--workers", "1"]),
                       (prepare_main, [data, tmp_path / "out", "--size", "24x16", "--no-progress"])):
        res = run_cli(main, argv)
        assert_refused(res, csv, message)
    assert_unchanged(before)
    assert not (tmp_path / "out").exists()


def test_class_csv_trailing_empty_fields_are_ignored(tmp_path):
    f = tmp_path / "class_dict.csv"
    f.write_text("name, r, g, b,\nunlabeled, 0, 0, 0,\n\ngrass, 0, 102, 0,,\n")
    assert read_class_csv(f).names == ("unlabeled", "grass")


# ------------------------------------------------------------------------------------------ 4. saved models

@pytest.fixture(scope="module")
def model(tiny_dls, tmp_path_factory) -> Path:
    """A random U-Net on the tests' tiny encoder (32x48) saved in the safe format."""
    import torch

    from dronefast.models.learner import drone_learner
    from dronefast.models.modelfile import save_model

    out = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    learn = drone_learner(tiny_dls, TINY_ARCH, pretrained=False, path=out)
    save_model(learn, out / "model", learn.dronefast_info)
    return out


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_DESCRIPTIONS = {  # name: (change to the good description, or the whole text, expected message after "FILE: ")
    "std zero (every pixel class 0)": ({"std": [0, 0, 0]}, "std: expected three finite numbers in 0.001..1000"),
    "format_version 99": ({"format_version": 99}, "format_version: expected one of 1, 2"),
    "size 100000x100000 (120 GB)": ({"size": [100000, 100000]}, "size: expected [height, width], two integers "
                                                               "1..8192, got [100000, 100000]"),
    "size 8192x4096 (40 GB)": ({"size": [8192, 4096]}, "size: expected at most 16,777,216 pixels (4096x4096)"),
    "size 0": ({"size": [0, 48]}, "size: expected [height, width]"),
    "size negative": ({"size": [-32, 48]}, "size: expected [height, width]"),
    "size float": ({"size": [32.5, 48]}, "size: expected [height, width]"),
    "size string": ({"size": "48x32"}, "size: expected [height, width]"),
    "size NaN": ("size-nan", "size: expected [height, width]"),
    "unknown U-Net option": ({"unet": {"self_attention": True, "bottle_neck": 3}}, "unet.bottle_neck: expected a "
                                                                                   "known U-Net option"),
    "mean 'abc'": ({"mean": "abc"}, "mean: expected three finite numbers in 0..1"),
    "mean NaN": ("mean-nan", "mean: expected three finite numbers"),
    "a JSON list": ("[1, 2, 3]", "not a model description (a JSON object), got a JSON list"),
    "deeply nested JSON": (_nested(100_000), "not a model description (JSON nested too deeply)"),
    "not UTF-8": ("latin-1", "not UTF-8 text"),
    "source_size [0, 0]": ({"extra": {"source_size": [0, 0]}}, "extra.source_size: expected [height, width]"),
    "a colour out of 0..255": ("colour-300", "classes.colours[3]: expected [r, g, b], three integers 0..255"),
    "work_size invalid": ({"work_size": [16, 48]}, "work_size: expected at least the model input size 32x48"),
    "work_size string": ({"work_size": "96x64"}, "work_size: expected [height, width]"),
    "unknown arch": ({"arch": "vgg16"}, "arch: expected a known encoder"),
    "unknown field": ({"stdev": [0.2, 0.2, 0.2]}, "unknown field(s) stdev"),
    "void_code not an id": ({"void_code": -1}, "void_code: expected null or a class id 0..254"),
    "split of another kind": ({"extra": {"train_args": {"valid_pct": 5}}}, "extra.train_args.valid_pct: expected"),
    "a recorded split of another kind": ({"extra": {"split": {"format": "dronefast-split", "version": 1,
                                                              "train": "all"}}}, "extra.split.train: expected a list"),
    "a duplicate class name": ("dup-name", "classes.names[2]: expected a name not already used"),
    "temperature 0": ({"temperature": 0}, "temperature: expected a finite number in 1e-06..1e+06"),
    "weights_sha256 not a digest": ({"weights_sha256": "abc"}, "weights_sha256: expected the SHA-256 of the weights "
                                                               "file (64 lowercase hex digits)"),
}


def _bad_description(good: dict, change) -> bytes:
    if isinstance(change, dict):
        return json.dumps({**good, **change}).encode()
    if change == "size-nan":
        return json.dumps({**good, "size": [float("nan"), 48]}).encode()
    if change == "mean-nan":
        return json.dumps({**good, "mean": [float("nan"), 0.5, 0.5]}).encode()
    if change == "latin-1":
        return json.dumps({**good, "arch": "résnet18"}, ensure_ascii=False).encode("latin-1")
    if change == "colour-300":
        colours = [list(c) for c in good["classes"]["colours"]]
        colours[3] = [300, 0, 0]
        return json.dumps({**good, "classes": {**good["classes"], "colours": colours}}).encode()
    if change == "dup-name":
        names = list(good["classes"]["names"])
        names[2] = names[1]
        return json.dumps({**good, "classes": {**good["classes"], "names": names}}).encode()
    return change.encode()


@pytest.mark.parametrize("fault", BAD_DESCRIPTIONS)
def test_bad_model_description_is_refused_by_field(model, tiny, tmp_path, fault):
    from dronefast.cli.predict import main as predict_main
    from dronefast.models.modelfile import load_model

    change, message = BAD_DESCRIPTIONS[fault]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(model / "model.safetensors")
    good = json.loads((model / "model.json").read_text())
    desc = folder / "model.json"
    desc.write_bytes(_bad_description(good, change))
    with pytest.raises(ModelFileError) as e:
        load_model(folder)
    assert str(e.value).startswith(f"{desc}: {message}"), str(e.value)
    before = snapshot(desc, tiny)
    res = run_cli(predict_main, [folder, tiny / "original_images" / "000.jpg", "--out", tmp_path / "out",
                                 "--no-progress"])
    assert_refused(res, desc, message)
    assert_unchanged(before)
    assert not (tmp_path / "out").exists()


def _weights(model: Path, folder: Path, how: str) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    folder.mkdir()
    good = json.loads((model / "model.json").read_text())
    if how == "class count":
        good["classes"] = {"names": good["classes"]["names"][:23], "colours": good["classes"]["colours"][:23]}
    (folder / "model.json").write_text(json.dumps(good))
    w = folder / "model.safetensors"
    if how == "truncated":
        w.write_bytes((model / "model.safetensors").read_bytes()[:-1000])
    elif how == "NaN weights":
        state = load_file(model / "model.safetensors")
        state["layers.12.0.bias"] = torch.full_like(state["layers.12.0.bias"], float("nan"))
        save_file(state, w)
    elif how == "header only":
        w.write_bytes((model / "model.safetensors").read_bytes()[:4096])
    else:
        w.symlink_to(model / "model.safetensors")
    return w


BAD_WEIGHTS = {
    "truncated": "not a complete safetensors file: truncated, damaged or another format",
    "header only": "not a complete safetensors file",
    "class count": "classes: 23 classes, but the weights in model.safetensors predict 24",
    "NaN weights": "weight layers.12.0.bias holds NaN or infinite values",
}


@pytest.mark.parametrize("fault", BAD_WEIGHTS)
def test_bad_weights_are_refused(model, tmp_path, fault):
    from dronefast.models.modelfile import load_model

    w = _weights(model, tmp_path / "m", fault)
    named = w.parent / "model.json" if fault == "class count" else w
    with pytest.raises(ModelFileError) as e:
        load_model(w.parent)
    assert str(e.value).startswith(f"{named}: {BAD_WEIGHTS[fault]}"), str(e.value)


def test_a_pickle_needs_pickle(model, tmp_path):
    from dronefast.models.modelfile import load_model

    (tmp_path / "export.pkl").write_bytes(b"\x80\x04not even a pickle")
    with pytest.raises(ModelFileError, match=r"export.pkl: a fastai pickle can run arbitrary code"):
        load_model(tmp_path / "export.pkl")


# ------------------------------------------------------------------------------------------ 5. output folders

@pytest.fixture
def deny_writes(monkeypatch):
    """``deny(root, errno)``: every write under `root` (creating, opening for writing, renaming, removing, changing
    modes) fails with `errno`, as on a read-only file system (EROFS) or without permission (EACCES) -- the tests
    run as root, whom permissions do not stop."""

    def deny(root: Path, code: int):
        root = os.path.abspath(root)

        def under(path) -> bool:
            return isinstance(path, (str, bytes, os.PathLike)) and os.path.abspath(os.fsdecode(path)).startswith(root)

        def guard(name, test):
            real = getattr(os, name)

            def fake(*args, **kwargs):
                if test(*args, **kwargs):
                    raise OSError(code, os.strerror(code), os.fsdecode(args[0]))
                return real(*args, **kwargs)
            monkeypatch.setattr(os, name, fake)

        writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT
        guard("open", lambda path, flags, *a, **k: under(path) and flags & writing)
        for name in ("mkdir", "unlink", "rmdir", "chmod"):
            guard(name, lambda path, *a, **k: under(path))
        for name in ("replace", "rename"):
            guard(name, lambda src, dst, *a, **k: under(src) or under(dst))
    return deny


OUTPUT_FAULTS = {  # name: (set up the output path, the path named, problem)
    "--out is a file": (lambda out: out.write_text("mine"), lambda out: out, "exists and is not a folder"),
    "--out under a file": (lambda out: out.parent.write_text("mine"), lambda out: out.parent,
                           "exists and is not a folder"),
    "read-only file system": ("erofs", lambda out: out, "Read-only file system"),
    "no permission": ("eacces", lambda out: out, "Permission denied"),
}


def _output_case(tmp_path, fault, deny):
    setup, named, problem = OUTPUT_FAULTS[fault]
    out = tmp_path / ("file/out" if fault == "--out under a file" else "out")
    if callable(setup):
        setup(out)
    else:
        out.mkdir()
        (out / "old.txt").write_text("kept")
        deny(out, errno.EROFS if setup == "erofs" else errno.EACCES)
    return out, named(out), problem


@pytest.mark.parametrize("fault", OUTPUT_FAULTS)
def test_prepare_refuses_an_output_it_cannot_write(data, tmp_path, deny_writes, fault):
    out, named, problem = _output_case(tmp_path, fault, deny_writes)
    before = snapshot(data, tmp_path / "out", tmp_path / "file")
    res = run_cli(prepare_main, [data, out, "--size", "24x16", "--workers", "1", "--no-progress"])
    assert_refused(res, named, problem)
    assert_unchanged(before)


@pytest.mark.parametrize("fault", OUTPUT_FAULTS)
def test_train_refuses_an_output_it_cannot_write(data, tmp_path, deny_writes, fault):
    from dronefast.cli.train import main as train_main

    out, named, problem = _output_case(tmp_path, fault, deny_writes)
    before = snapshot(data, tmp_path / "out", tmp_path / "file")
    res = run_cli(train_main, [data, "--out", out, "--size", "48x32", "--arch", TINY_ARCH, "--no-pretrained",
                               "--no-progress", "--epochs", "1", "--no-malloc-tuning", "--bs", "2", "--test-pct", "0"])
    assert_refused(res, named, problem)
    assert_unchanged(before)


@pytest.mark.parametrize("fault", ["--out is a file", "read-only file system"])
@pytest.mark.parametrize("command", ["predict", "landing"])
def test_predict_and_landing_refuse_an_output_they_cannot_write(model, tiny, tmp_path, deny_writes, fault, command):
    from dronefast.cli.landing import main as landing_main
    from dronefast.cli.predict import main as predict_main

    out, named, problem = _output_case(tmp_path, fault, deny_writes)
    before = snapshot(tiny, tmp_path / "out")
    if command == "predict":
        res = run_cli(predict_main, [model, tiny / "original_images" / "000.jpg", "--out", out, "--no-progress"])
    else:
        res = run_cli(landing_main, [tiny / "label_images_semantic" / "000.png", "--out", out, "--clearance-px", "2"])
    assert_refused(res, named, problem)
    assert_unchanged(before)


@pytest.mark.parametrize("writer", ["text", "json", "image", "torch"])
def test_writers_raise_one_output_error_and_leave_the_old_file(tmp_path, deny_writes, writer):
    f = tmp_path / f"a.{ {'text': 'txt', 'json': 'json', 'image': 'png', 'torch': 'pth'}[writer]}"
    f.write_bytes(b"old")
    deny_writes(tmp_path, errno.ENOSPC)
    with pytest.raises(OutputError) as e:
        if writer == "text":
            write_text(f, "new")
        elif writer == "json":
            write_json(f, {"a": 1})
        elif writer == "image":
            save_image(np.zeros((2, 2), np.uint8), f)
        else:
            import torch

            with atomic_path(f) as tmp:
                torch.save({"a": 1}, tmp)
    assert str(e.value) == f"{f}: cannot write (No space left on device)"
    assert f.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == [f.name]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="reads /proc/self/fd")
def test_a_full_disk_in_predict_leaves_no_truncated_output(model, tiny, tmp_path, full_disk):
    """The disk is full when the overlay JPEG is written: refused naming it, no file under a final name that is not
    complete (the colour map, written before, is whole; the mask, written last, is not there)."""
    from dronefast.cli.predict import main as predict_main

    out = tmp_path / "out"
    full_disk("000.overlay.jpg")
    before = snapshot(tiny)
    res = run_cli(predict_main, [model, tiny / "original_images" / "000.jpg", "--out", out, "--no-progress"])
    assert_refused(res, out / "000.overlay.jpg", "cannot write (No space left on device)", one_line=False)
    assert_unchanged(before)
    assert sorted(p.name for p in out.iterdir()) == ["000.colour.png"]
    with Image.open(out / "000.colour.png") as im:
        im.load()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_get_the_mode_of_a_normal_file(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "new.txt", "x")
        save_image(np.zeros((2, 2), np.uint8), tmp_path / "new.png")
        (tmp_path / "mine.txt").write_text("x")
        os.chmod(tmp_path / "mine.txt", 0o604)
        write_text(tmp_path / "mine.txt", "y")                      # a replaced file keeps its own mode
    finally:
        os.umask(old)
    for name in ("new.txt", "new.png"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
    assert (tmp_path / "mine.txt").stat().st_mode & 0o777 == 0o604


def test_temporary_files_are_unique_and_removed_on_failure(tmp_path):
    names = []
    with atomic_path(tmp_path / "a.txt") as t1, atomic_path(tmp_path / "a.txt") as t2:
        names += [t1.name, t2.name]
        t1.write_text("1")
        t2.write_text("2")
    assert names[0] != names[1] and all(n.startswith(".a.") and ".tmp" in n for n in names)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_run_main_turns_a_stray_oserror_into_one_line(capsys):
    import argparse

    def fn(_):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/photos")

    assert run_main(fn, argparse.ArgumentParser(prog="prog"), []) == 1
    assert capsys.readouterr().err == "error: /data/photos: Permission denied\n"


# --------------------------------------------------------------- 6. decompression bombs in every command

@pytest.mark.parametrize("command", ["check", "prepare", "predict", "landing", "evaluate", "train"])
def test_a_decompression_bomb_is_named_in_every_command(data, model, tmp_path, command):
    from dronefast.cli.evaluate import main as evaluate_main
    from dronefast.cli.landing import main as landing_main
    from dronefast.cli.predict import main as predict_main
    from dronefast.cli.train import main as train_main

    bomb = data / "original_images" / "000.jpg"
    bomb.write_bytes(png_header(100_000, 100_000))
    mask_bomb = data / "label_images_semantic" / "001.png"
    problem = "refused as a possible decompression bomb"
    before = snapshot(data)
    out = tmp_path / "out"
    argv = {"check": (check_main, [data, "--workers", "1", *FEW]),
            "prepare": (prepare_main, [data, out, "--size", "24x16", "--workers", "1", "--no-progress"]),
            "predict": (predict_main, [model, bomb, data / "original_images" / "002.jpg", "--out", out,
                                       "--no-progress"]),
            "landing": (landing_main, [mask_bomb, data / "label_images_semantic" / "002.png", "--out", out,
                                       "--clearance-px", "2"]),
            "evaluate": (evaluate_main, [model, "--data", data, "--all", "--out", out, "--no-progress"]),
            "train": (train_main, [data, "--out", out, "--size", "48x32", "--arch", TINY_ARCH, "--no-pretrained",
                                   "--no-progress", "--epochs", "1", "--no-malloc-tuning", "--bs", "2",
                                   "--test-pct", "0"])}[command]
    if command == "landing":
        mask_bomb.write_bytes(png_header(100_000, 100_000))
        before = snapshot(data)
    res = run_cli(*argv)
    assert_refused(res, mask_bomb if command == "landing" else bomb, problem, one_line=command == "evaluate")
    assert_unchanged(before)
    if command in ("predict", "landing"):   # the rest is done
        assert any(p.name.startswith("002.") for p in out.iterdir())
    if command == "prepare":
        assert sorted(p.name for p in (out / "images").iterdir()) == ["001.jpg", "002.jpg"]
