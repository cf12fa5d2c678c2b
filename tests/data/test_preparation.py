"""Tests of dronefast.prepare on tiny Kaggle and TU Graz datasets built here (5 photos of 180x120, WxH)."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.prepare import main
from dronefast.data import preparation as prep
from dronefast.data.classes import standard_classes
from dronefast.data.layout import find_layout
from dronefast.data.masks import colour_to_ids, ids_to_colour
from dronefast.data.preparation import (
    PARTIAL_JSON,
    PREPARE_JSON,
    NewClassIdError,
    PrepareConflictError,
    prepare_dataset,
    scaled_size,
)
from dronefast.errors import (
    ClassIdError,
    CorruptImageError,
    DatasetNotFoundError,
    MissingMaskError,
    OrphanMaskError,
    SizeMismatchError,
    UsageError,
)

H, W = 120, 180          # source (height, width)
SIZE = (30, 45)          # prepared (height, width), "45x30" on the command line
STEMS = [f"{i:03d}" for i in range(5)]
CLASSES = standard_classes()


def make_ids(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """An id mask with 20x30 blocks of many classes (0..22) and thin structures: 1-px lines and single pixels."""
    rng = np.random.default_rng(seed)
    ids = np.kron(rng.integers(0, 23, size=(6, 6)), np.ones((20, 30), dtype=np.int64))[:h, :w]
    ids[h // 3, :] = 14                     # fence-pole: a 1-pixel horizontal line
    ids[:, w // 5] = 13                     # fence: a 1-pixel vertical line
    ids[rng.integers(0, h, 12), rng.integers(0, w, 12)] = 15   # single "person" pixels
    ids[50:52, 60:62] = 21                  # a 2x2 ar-marker
    return ids.astype(np.uint8)


def make_photo(ids: np.ndarray, seed: int) -> Image.Image:
    """A photo-like RGB image: the class colours, a gradient and a little noise."""
    rng = np.random.default_rng(seed)
    h, w = ids.shape
    img = CLASSES.palette[ids].astype(np.float64) * 0.7
    img += np.linspace(0, 60, w)[None, :, None] + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def build_kaggle(root: Path, stems=STEMS) -> Path:
    """Kaggle layout: original_images/*.jpg, label_images_semantic/*.png (mode L ids), class_dict_seg.csv."""
    (root / "original_images").mkdir(parents=True)
    (root / "label_images_semantic").mkdir()
    for i, stem in enumerate(stems):
        ids = make_ids(i)
        make_photo(ids, i).save(root / "original_images" / f"{stem}.jpg", quality=95)
        Image.fromarray(ids, mode="L").save(root / "label_images_semantic" / f"{stem}.png")
    (root / "class_dict_seg.csv").write_text(CLASSES.to_csv())
    assert (root / "class_dict_seg.csv").read_text().startswith("name, r, g, b\nunlabeled, 0, 0, 0\n")
    return root


def build_tugraz(root: Path, stems=STEMS) -> Path:
    """TU Graz layout: training_set/images/*.jpg, training_set/gt/semantic/label_images/*.png (RGB colours)."""
    images, sem = root / "training_set" / "images", root / "training_set" / "gt" / "semantic"
    images.mkdir(parents=True)
    (sem / "label_images").mkdir(parents=True)
    for i, stem in enumerate(stems):
        ids = make_ids(100 + i)
        make_photo(ids, i).save(images / f"{stem}.jpg", quality=95)
        Image.fromarray(ids_to_colour(ids, CLASSES), mode="RGB").save(sem / "label_images" / f"{stem}.png")
    (sem / "class_dict.csv").write_text(CLASSES.to_csv())
    return root


def nearest(mask: Image.Image, size=SIZE) -> np.ndarray:
    """A plain PIL NEAREST resize of a source id mask to (height, width)."""
    return np.asarray(mask.resize((size[1], size[0]), Image.Resampling.NEAREST))


def tree_hash(root: Path) -> str:
    """Names, contents and modification times of every file under `root`."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


def mtimes(dst: Path) -> dict:
    return {p.relative_to(dst): p.stat().st_mtime_ns for p in (dst / "images").iterdir()} | \
           {p.relative_to(dst): p.stat().st_mtime_ns for p in (dst / "masks").iterdir()}


@pytest.fixture(scope="module")
def kaggle(tmp_path_factory) -> Path:
    return build_kaggle(tmp_path_factory.mktemp("kaggle") / "semantic_drone_dataset")


@pytest.fixture(scope="module")
def tugraz(tmp_path_factory) -> Path:
    return build_tugraz(tmp_path_factory.mktemp("tugraz"))


def test_scaled_size_rounds_and_keeps_aspect():
    assert scaled_size((4000, 6000), 0.05) == (200, 300)
    assert scaled_size((97, 150), 0.1) == (10, 15)        # 9.7 -> 10, 15.0 -> 15
    assert scaled_size((5, 5), 0.01) == (1, 1)            # never 0 pixels


def test_kaggle_prepare_keeps_every_id_and_resizes_images(kaggle, tmp_path):
    dst = tmp_path / "out"
    before = tree_hash(kaggle)
    report = prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    assert (report.n_done, report.n_skipped, report.problems, report.size) == (5, 0, [], SIZE)
    assert report.dst == dst and report.source_kind == "kaggle" and report.ok
    assert tree_hash(kaggle) == before

    assert sorted(p.name for p in (dst / "images").iterdir()) == [f"{s}.jpg" for s in STEMS]
    assert sorted(p.name for p in (dst / "masks").iterdir()) == [f"{s}.png" for s in STEMS]
    for stem in STEMS:
        src_mask = Image.open(kaggle / "label_images_semantic" / f"{stem}.png")
        with Image.open(dst / "masks" / f"{stem}.png") as m:
            assert m.mode == "L" and m.size == (45, 30)
            got = np.asarray(m)
        np.testing.assert_array_equal(got, nearest(src_mask))
        assert set(np.unique(got)) <= set(np.unique(np.asarray(src_mask)))

        with Image.open(dst / "images" / f"{stem}.jpg") as im:
            assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (45, 30))
            got_img = np.asarray(im).astype(np.float64)
        full = Image.open(kaggle / "original_images" / f"{stem}.jpg").convert("RGB")
        ref = np.asarray(full.resize((45, 30), Image.Resampling.LANCZOS)).astype(np.float64)
        assert np.abs(got_img - ref).mean() < 6.0          # ~4 here (DCT scaling, JPEG); ~50 if unrelated
        assert np.abs(got_img - ref[::-1]).mean() > 15.0

    layout = find_layout(dst)
    assert layout.kind == "prepared" and layout.mask_format == "id"
    assert layout.classes == CLASSES
    assert (dst / "codes.txt").read_text().splitlines() == CLASSES.codes
    assert len(layout.pairs()[0]) == 5
    assert not (dst / PARTIAL_JSON).exists()


def test_prepare_json_content(kaggle, tmp_path):
    dst = tmp_path / "out"
    prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    info = json.loads((dst / PREPARE_JSON).read_text())
    assert info["source"] == str(kaggle.resolve())
    assert info["source_layout"] == "kaggle"
    assert info["size"] == [30, 45] and info["size_wxh"] == "45x30"
    assert info["scale"] is None
    assert info["jpeg_quality"] == 95 and info["n_classes"] == 24
    assert info["counts"] == {"images": 5, "masks": 5, "pairs": 5, "prepared": 5, "written": 5, "skipped": 0,
                              "problems": 0}
    assert info["problems"] == []
    assert info["classes"]["names"][:2] == ["unlabeled", "paved-area"]
    import dronefast
    assert info.get("dronefast_version") == getattr(dronefast, "__version__", None)


def test_tugraz_colour_masks_are_converted(tugraz, tmp_path):
    dst = tmp_path / "out"
    report = prepare_dataset(tugraz, dst, size=SIZE, workers=1, progress=False)
    assert (report.n_done, report.problems, report.source_kind) == (5, [], "tugraz")
    sem = tugraz / "training_set" / "gt" / "semantic" / "label_images"
    for i, stem in enumerate(STEMS):
        src_ids = colour_to_ids(np.asarray(Image.open(sem / f"{stem}.png").convert("RGB")), CLASSES)
        np.testing.assert_array_equal(src_ids, make_ids(100 + i))
        got = np.asarray(Image.open(dst / "masks" / f"{stem}.png"))
        np.testing.assert_array_equal(got, nearest(Image.fromarray(src_ids)))
        assert set(np.unique(got)) <= set(np.unique(src_ids))
    assert find_layout(dst).kind == "prepared"
    assert json.loads((dst / PREPARE_JSON).read_text())["source_layout"] == "tugraz"


def test_process_pool_gives_the_same_files(tugraz, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    prepare_dataset(tugraz, a, size=SIZE, workers=1, progress=False)
    report = prepare_dataset(tugraz, b, size=SIZE, workers=2, progress=False)
    assert (report.n_done, report.problems) == (5, [])
    for stem in STEMS:
        assert (a / "masks" / f"{stem}.png").read_bytes() == (b / "masks" / f"{stem}.png").read_bytes()
        assert (a / "images" / f"{stem}.jpg").read_bytes() == (b / "images" / f"{stem}.jpg").read_bytes()


def test_scale_keeps_each_aspect(tmp_path):
    src = build_kaggle(tmp_path / "src", stems=STEMS[:2])
    ids = make_ids(7, 97, 150)                             # another size: 150x97 (WxH)
    make_photo(ids, 7).save(src / "original_images" / "odd.jpg", quality=95)
    Image.fromarray(ids).save(src / "label_images_semantic" / "odd.png")
    dst = tmp_path / "out"
    report = prepare_dataset(src, dst, scale=0.1, workers=1, progress=False)
    assert (report.n_done, report.problems, report.scale, report.size) == (3, [], 0.1, None)
    assert Image.open(dst / "images" / "000.jpg").size == (18, 12)
    assert Image.open(dst / "images" / "odd.jpg").size == (15, 10)     # 9.7 rounds to 10
    np.testing.assert_array_equal(np.asarray(Image.open(dst / "masks" / "odd.png")),
                                  nearest(Image.fromarray(ids), (10, 15)))
    info = json.loads((dst / PREPARE_JSON).read_text())
    assert (info["scale"], info["size"], info["size_wxh"]) == (0.1, None, None)
    # the same scale resumes; another scale or an exact size is a conflict
    assert prepare_dataset(src, dst, scale=0.1, workers=1, progress=False).n_skipped == 3
    with pytest.raises(PrepareConflictError, match="scale 0.1 was used, now 0.2"):
        prepare_dataset(src, dst, scale=0.2, workers=1, progress=False)
    with pytest.raises(PrepareConflictError):
        prepare_dataset(src, dst, size=SIZE, workers=1, progress=False)


def test_resume_skips_done_pairs_and_redoes_missing_ones(kaggle, tmp_path):
    dst = tmp_path / "out"
    assert prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False).n_done == 5
    first = mtimes(dst)
    again = prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    assert (again.n_done, again.n_skipped, again.problems) == (0, 5, [])
    assert mtimes(dst) == first

    (dst / "images" / "002.jpg").unlink()
    (dst / "masks" / "004.png").unlink()
    redo = prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    assert (redo.n_done, redo.n_skipped) == (2, 3)
    now = mtimes(dst)
    changed = {p for p in now if now[p] != first.get(p)}
    assert changed == {Path("images/002.jpg"), Path("masks/002.png"), Path("images/004.jpg"),
                       Path("masks/004.png")}
    assert json.loads((dst / PREPARE_JSON).read_text())["counts"]["skipped"] == 3


def test_interrupted_run_resumes_and_guards_its_size(kaggle, tmp_path, monkeypatch):
    dst = tmp_path / "out"
    real, calls = prep._prepare_pair, []

    def interrupted(*args):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(prep, "_prepare_pair", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    monkeypatch.setattr(prep, "_prepare_pair", real)
    assert not (dst / PREPARE_JSON).exists() and (dst / PARTIAL_JSON).exists()
    assert len(list((dst / "masks").iterdir())) == 2

    with pytest.raises(PrepareConflictError, match="prepared at 45x30, now asked for 60x40"):
        prepare_dataset(kaggle, dst, size=(40, 60), workers=1, progress=False)
    report = prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    assert (report.n_done, report.n_skipped) == (3, 2)
    assert (dst / PREPARE_JSON).exists() and not (dst / PARTIAL_JSON).exists()


def test_other_size_is_refused_unless_overwrite(kaggle, tmp_path, capsys):
    dst = tmp_path / "out"
    assert main([str(kaggle), str(dst), "--size", "45x30", "--workers", "1", "--no-progress"]) == 0
    assert main([str(kaggle), str(dst), "--size", "60x40", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prepare.json" in err and "45x30" in err and "--overwrite" in err
    assert Image.open(dst / "images" / "000.jpg").size == (45, 30)

    (dst / "images" / "stale.jpg").write_bytes((dst / "images" / "000.jpg").read_bytes())
    report = prepare_dataset(kaggle, dst, size=(40, 60), overwrite=True, workers=1, progress=False)
    assert (report.n_done, report.n_skipped) == (5, 0)
    assert {Image.open(p).size for p in (dst / "images").iterdir()} == {(60, 40)}
    assert not (dst / "images" / "stale.jpg").exists()
    assert json.loads((dst / PREPARE_JSON).read_text())["size_wxh"] == "60x40"


def test_unknown_files_in_dst_are_refused(kaggle, tmp_path):
    dst = tmp_path / "out"
    (dst / "images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(dst / "images" / "mine.jpg")
    with pytest.raises(PrepareConflictError, match="without prepare.json"):
        prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
    assert (dst / "images" / "mine.jpg").exists()


def test_overwrite_into_a_folder_it_did_not_make_loses_nothing(kaggle, tmp_path):
    """``--overwrite`` writes into someone else's folder; it removes only the outputs of an earlier prepare."""
    dst = tmp_path / "out"
    (dst / "images").mkdir(parents=True)
    (dst / "masks").mkdir()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(dst / "images" / "mine.jpg")
    Image.new("L", (4, 4), 7).save(dst / "masks" / "mine.png")
    (dst / "notes.txt").write_text("keep")
    report = prepare_dataset(kaggle, dst, size=SIZE, overwrite=True, workers=1, progress=False)
    assert (report.n_done, report.n_skipped) == (5, 0)
    assert Image.open(dst / "images" / "mine.jpg").size == (4, 4) and np.array(Image.open(dst / "masks" / "mine.png")
                                                                                 ).max() == 7
    assert (dst / "notes.txt").read_text() == "keep"
    assert sorted(p.name for p in (dst / "images").iterdir()) == ["000.jpg", "001.jpg", "002.jpg", "003.jpg",
                                                                  "004.jpg", "mine.jpg"]


def test_never_writes_inside_src(kaggle, capsys):
    before = tree_hash(kaggle)
    for dst in (kaggle, kaggle / "prepared", kaggle / "original_images"):
        with pytest.raises(UsageError, match="inside the input folder"):
            prepare_dataset(kaggle, dst, size=SIZE, workers=1, progress=False)
        assert main([str(kaggle), str(dst), "--size", "45x30"]) == 2
        assert "inside the input folder" in capsys.readouterr().err
    assert not (kaggle / "prepared").exists()
    assert tree_hash(kaggle) == before


def test_bad_pairs_are_reported_and_good_ones_prepared(tmp_path, capsys):
    src = build_kaggle(tmp_path / "src")
    img_dir, mask_dir = src / "original_images", src / "label_images_semantic"
    Image.fromarray(make_ids(9)).save(mask_dir / "orphan.png")                    # no image
    good = (img_dir / "000.jpg").read_bytes()
    (img_dir / "corrupt.jpg").write_bytes(good[: len(good) // 3])                 # truncated JPEG
    Image.fromarray(make_ids(9)).save(mask_dir / "corrupt.png")
    (img_dir / "badid.jpg").write_bytes(good)
    ids = make_ids(9)
    ids[5, 5] = 40                                                                 # outside 0..23
    Image.fromarray(ids).save(mask_dir / "badid.png")
    (img_dir / "small.jpg").write_bytes(good)
    Image.fromarray(make_ids(9)[:60, :90].copy()).save(mask_dir / "small.png")   # 90x60 mask, 180x120 photo
    (img_dir / "nomask.jpg").write_bytes(good)
    dst = tmp_path / "out"

    rc = main([str(src), str(dst), "--size", "45x30", "--workers", "2"])
    assert rc == 1
    out, err = capsys.readouterr()
    assert "prepared 5 pair(s)" in out and "5 bad" in out
    assert "5 problem(s)" in err
    for name, words in [("orphan.png", "no image"), ("corrupt.jpg", "cannot decode"),
                        ("badid.png", "class id(s) outside 0..23: 40 x 1 px"), ("small.png", "mask is 90x60"),
                        ("nomask.jpg", "no mask nomask.png")]:
        assert any(name in line and words in line for line in err.splitlines()), (name, err)
    assert sorted(p.stem for p in (dst / "images").iterdir()) == STEMS
    assert sorted(p.stem for p in (dst / "masks").iterdir()) == STEMS
    info = json.loads((dst / PREPARE_JSON).read_text())
    assert info["counts"]["problems"] == 5 and info["counts"]["prepared"] == 5

    report = prepare_dataset(src, dst, size=SIZE, workers=1, progress=False)      # bad ones retried, reported
    assert (report.n_done, report.n_skipped) == (0, 5)
    kinds = {p.path.name: type(p) for p in report.problems}
    assert kinds == {"orphan.png": OrphanMaskError, "corrupt.jpg": CorruptImageError,
                     "badid.png": ClassIdError, "small.png": SizeMismatchError, "nomask.jpg": MissingMaskError}


def test_unknown_colour_is_reported(tmp_path, capsys):
    src = build_tugraz(tmp_path / "src", stems=STEMS[:2])
    mask = src / "training_set" / "gt" / "semantic" / "label_images" / "001.png"
    rgb = np.asarray(Image.open(mask)).copy()
    rgb[3, 4] = (1, 2, 3)
    Image.fromarray(rgb).save(mask)
    assert main([str(src), str(tmp_path / "out"), "--size", "45x30", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "001.png" in err and "not in the class table: (1, 2, 3) x 1 px" in err
    assert [p.name for p in (tmp_path / "out" / "masks").iterdir()] == ["000.png"]


def test_new_class_id_fails_loudly(kaggle, tmp_path, monkeypatch):
    import dronefast.data.masks as masks_module

    def blending_resize(ids, size):            # what must never happen: ids averaged by a smooth filter
        return np.asarray(Image.fromarray(ids).resize((size[1], size[0]), Image.Resampling.BILINEAR))

    monkeypatch.setattr(masks_module, "resize_mask", blending_resize)
    with pytest.raises(NewClassIdError, match=r"000\.png: resizing created class id"):
        prepare_dataset(kaggle, tmp_path / "out", size=SIZE, workers=1, progress=False)
    assert not (tmp_path / "out" / "masks" / "000.png").exists()


def test_missing_or_empty_src(tmp_path, capsys):
    assert main([str(tmp_path / "nope"), str(tmp_path / "out"), "--size", "45x30"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope: folder does not exist" in err and err.count("\n") == 1
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), str(tmp_path / "out"), "--size", "45x30"]) == 1
    err = capsys.readouterr().err
    assert "no Semantic Drone Dataset layout found" in err and err.count("\n") == 1
    with pytest.raises(DatasetNotFoundError):
        prepare_dataset(tmp_path / "empty", tmp_path / "out", size=SIZE, progress=False)
    assert not (tmp_path / "out").exists()


def test_library_usage_errors(kaggle, tmp_path):
    for kw in ({}, {"size": SIZE, "scale": 0.5}, {"scale": 0}, {"scale": 2.0}, {"size": (0, 5)}):
        with pytest.raises(UsageError):
            prepare_dataset(kaggle, tmp_path / "out", progress=False, **kw)
    assert not (tmp_path / "out").exists()


def test_cli_help_and_bad_arguments(kaggle, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--size WxH" in out and "--scale F" in out and "--overwrite" in out
    for args in (["--size", "abc"], ["--size", "0x30"], ["--scale", "0"], ["--scale", "x"],
                 ["--size", "45x30", "--scale", "0.1"], []):
        with pytest.raises(SystemExit) as e:
            main([str(kaggle), str(tmp_path / "out")] + args)
        assert e.value.code == 2, args
    assert "size must be WxH" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_scale_with_progress_bar(kaggle, tmp_path, capsys):
    assert main([str(kaggle), str(tmp_path / "out"), "--scale", "0.25", "--workers", "1"]) == 0
    assert "prepared 5 pair(s), skipped 0 already done, 0 bad" in capsys.readouterr().out
    assert {Image.open(p).size for p in (tmp_path / "out" / "images").iterdir()} == {(45, 30)}
    assert json.loads((tmp_path / "out" / PREPARE_JSON).read_text())["size_wxh"] == "45x30"
