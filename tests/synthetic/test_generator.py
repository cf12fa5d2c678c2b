"""Tests of dronefast.synthetic.generator: the built-in synthetic dataset on disk (tiny sizes, a few images each).

What the scenes hold is tested in test_scene.py, their scale and class balance in test_scale.py."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.sample import build_parser, main
from dronefast.data.classes import read_class_csv, standard_classes
from dronefast.errors import DatasetError
from dronefast.synthetic.generator import (
    DEFAULT_N,
    DEFAULT_SIZE,
    GENERATOR_VERSION,
    default_sample_path,
    ensure_sample,
    generate_sample,
    read_manifest,
    render_scene,
    sample_files,
    sample_params,
)

ROOT = Path(__file__).resolve().parents[1]
H, W = 64, 96
TABLE = standard_classes()
PALETTE = TABLE.palette


def _all_files(folder: Path):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _bytes(folder: Path):
    return {rel: (folder / rel).read_bytes() for rel in _all_files(folder)}


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """A 4-image sample in both layouts, 96x64."""
    return generate_sample(tmp_path_factory.mktemp("both") / "s", n=4, size=(H, W), seed=3, layout="both")


def test_both_layouts_hold_every_file(both):
    stems = ["000", "001", "002", "003"]
    expected = sorted(
        ["README.md", "sample.json", "class_dict_seg.csv", "training_set/gt/semantic/class_dict.csv"]
        + [f"original_images/{s}.jpg" for s in stems] + [f"label_images_semantic/{s}.png" for s in stems]
        + [f"RGB_color_image_masks/{s}.png" for s in stems] + [f"training_set/images/{s}.jpg" for s in stems]
        + [f"training_set/gt/semantic/label_images/{s}.png" for s in stems])
    assert _all_files(both) == expected  # 4 * 5 images/masks + 2 csv + README + manifest = 24 files
    assert len(expected) == 24
    assert sorted(sample_files(4, "both")) == expected


@pytest.mark.parametrize("rel, fmt, mode", [
    ("original_images/{}.jpg", "JPEG", "RGB"),
    ("label_images_semantic/{}.png", "PNG", "L"),
    ("RGB_color_image_masks/{}.png", "PNG", "RGB"),
    ("training_set/images/{}.jpg", "JPEG", "RGB"),
    ("training_set/gt/semantic/label_images/{}.png", "PNG", "RGB"),
])
def test_file_formats_modes_and_sizes(both, rel, fmt, mode):
    for stem in ("000", "003"):
        with Image.open(both / rel.format(stem)) as im:
            assert (im.format, im.mode, im.size) == (fmt, mode, (W, H))


def test_class_csvs_parse_back_to_the_standard_table(both):
    for rel in ("class_dict_seg.csv", "training_set/gt/semantic/class_dict.csv"):
        text = (both / rel).read_text()
        assert text.splitlines()[0] == "name, r, g, b"
        assert text.splitlines()[2] == "paved-area, 128, 64, 128"
        table = read_class_csv(both / rel)
        assert table == TABLE and len(table) == 24


def test_masks_hold_table_ids_and_exact_palette_colours(both):
    for stem in ("000", "001", "002", "003"):
        ids = np.array(Image.open(both / f"label_images_semantic/{stem}.png"))
        assert ids.dtype == np.uint8 and ids.max() < 23  # never 23 "conflicting"
        colour = np.array(Image.open(both / f"RGB_color_image_masks/{stem}.png"))
        tugraz = np.array(Image.open(both / f"training_set/gt/semantic/label_images/{stem}.png"))
        np.testing.assert_array_equal(colour, PALETTE[ids])
        np.testing.assert_array_equal(tugraz, PALETTE[ids])
        # the same JPEG in both trees
        assert (both / f"original_images/{stem}.jpg").read_bytes() == \
            (both / f"training_set/images/{stem}.jpg").read_bytes()


def test_mask_on_disk_is_render_scene_mask(both):
    img, mask = render_scene((H, W), seed=3, index=2)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8 and mask.shape == (H, W)
    np.testing.assert_array_equal(np.array(Image.open(both / "label_images_semantic/002.png")), mask)


def test_manifest_and_readme(both):
    m = json.loads((both / "sample.json").read_text())
    assert m["synthetic"] is True and m["generator"] == "dronefast.sample" and m["version"] == GENERATOR_VERSION
    assert (m["n"], m["size"], m["seed"], m["layout"], m["size_wxh"]) == (4, [64, 96], 3, "both", "96x64")
    assert m["classes"] == list(TABLE.names)
    assert sum(m["class_pixels"]) == 4 * 64 * 96  # 24576 pixels in all
    assert m["class_pixels"][23] == 0 and m["class_images"][23] == 0
    assert max(m["class_images"]) <= 4
    readme = (both / "README.md").read_text()
    assert "synthetic" in readme and "dronefast.sample" in readme
    assert "seed=3" in readme and "n=4" in readme and "96x64" in readme
    assert read_manifest(both) == m


def test_same_seed_same_bytes_other_seed_other_scenes(tmp_path, both):
    again = generate_sample(tmp_path / "again", n=4, size=(H, W), seed=3, layout="both")
    assert _bytes(again) == _bytes(both)
    other = generate_sample(tmp_path / "other", n=4, size=(H, W), seed=4, layout="both")
    for stem in ("000", "001", "002", "003"):
        for rel in (f"original_images/{stem}.jpg", f"label_images_semantic/{stem}.png"):
            assert (other / rel).read_bytes() != (both / rel).read_bytes()


def test_complete_sample_is_not_rewritten(tmp_path):
    dst = generate_sample(tmp_path / "s", n=2, size=(H, W))
    before = {p: p.stat().st_mtime_ns for p in dst.rglob("*")}
    assert generate_sample(dst, n=2, size=(H, W)) == dst
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*")} == before


def test_other_sample_in_folder_is_replaced(tmp_path):
    dst = generate_sample(tmp_path / "s", n=4, size=(H, W), layout="both")
    generate_sample(dst, n=2, size=(H, W), seed=1, layout="kaggle")
    assert _all_files(dst) == sorted(sample_files(2, "kaggle"))
    assert read_manifest(dst)["n"] == 2 and read_manifest(dst)["seed"] == 1
    assert not (dst / "training_set").exists()


def test_refuses_a_folder_that_is_not_a_sample(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "photo.jpg").write_bytes(b"mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate_sample(tmp_path / "data", n=1, size=(H, W))
    assert _all_files(tmp_path / "data") == ["photo.jpg"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="not a folder"):
        generate_sample(tmp_path / "file", n=1, size=(H, W))
    generate_sample(tmp_path / "empty", n=1, size=(H, W))  # an empty or new folder is fine


@pytest.mark.parametrize("kw", [{"n": 0}, {"size": (4, 96)}, {"layout": "camvid"}, {"seed": -1}, {"n": 2.5}])
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(ValueError):
        generate_sample(tmp_path / "s", **{"size": (H, W), **kw})
    assert not (tmp_path / "s").exists()


def test_default_sample_path(monkeypatch, tmp_path):
    monkeypatch.setenv("DRONEFAST_CACHE", str(tmp_path / "cache"))
    assert default_sample_path() == tmp_path / "cache" / f"sample-v{GENERATOR_VERSION}"
    monkeypatch.delenv("DRONEFAST_CACHE")
    assert default_sample_path() == Path.home() / ".cache" / "dronefast" / f"sample-v{GENERATOR_VERSION}"


def test_ensure_sample_generates_once(monkeypatch, tmp_path):
    monkeypatch.setenv("DRONEFAST_CACHE", str(tmp_path))
    path = ensure_sample(n=2, size=(H, W))
    assert path == tmp_path / f"sample-v{GENERATOR_VERSION}-n2-96x64-s0-kaggle"
    assert read_manifest(path)["n"] == 2
    before = {p: p.stat().st_mtime_ns for p in path.rglob("*")}
    assert ensure_sample(n=2, size=(H, W)) == path
    assert {p: p.stat().st_mtime_ns for p in path.rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary folders left


def test_ensure_sample_explicit_path_and_race(tmp_path):
    target = tmp_path / "cache" / "sample"
    results, errors = [], []

    def worker():
        try:
            results.append(ensure_sample(target, n=3, size=(H, W), seed=5))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [target] * 3
    assert _all_files(target) == sorted(sample_files(3, "kaggle"))
    assert [p.name for p in target.parent.iterdir()] == ["sample"]


def test_ensure_sample_refuses_a_foreign_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError):
        ensure_sample(tmp_path / "x", n=1, size=(H, W))
    assert (tmp_path / "x" / "notes.txt").read_text() == "keep me"


def test_cli_writes_and_reports(tmp_path, capsys):
    dst = tmp_path / "out"
    assert main([str(dst), "--n", "3", "--size", "96x64", "--seed", "2", "--layout", "tugraz"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 synthetic scenes (96x64, seed 2, layout tugraz)" in out
    assert "training_set/images/" in out and "person" in out and "pixels %" in out
    assert _all_files(dst) == sorted(sample_files(3, "tugraz"))
    with Image.open(dst / "training_set/images/000.jpg") as im:
        assert im.size == (96, 64)
    assert main([str(dst), "--n", "3", "--size", "96x64", "--seed", "2", "--layout", "tugraz"]) == 0
    assert "nothing written" in capsys.readouterr().out


def test_defaults_are_a_working_scale_for_object_crops(tmp_path):
    # 40 photos of 960x640: training crops windows of this working scale; the command line uses the same defaults
    assert (DEFAULT_N, DEFAULT_SIZE) == (40, (640, 960))
    assert sample_params() == {"n": 40, "size": [640, 960], "seed": 0, "layout": "kaggle"}
    args = build_parser().parse_args([str(tmp_path / "o")])
    assert (args.n, tuple(args.size), args.seed, args.layout) == (40, (640, 960), 0, "kaggle")
    assert GENERATOR_VERSION == 2 and default_sample_path().name == "sample-v2"


def test_cli_bad_usage_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path / "o"), "--size", "96by64"])
    assert e.value.code == 2
    assert "WxH" in capsys.readouterr().err
    assert main([str(tmp_path / "o"), "--n", "0"]) == 2
    assert main([str(tmp_path / "o"), "--size", "4x4"]) == 2
    assert not (tmp_path / "o").exists()


def test_cli_refused_folder_exits_1(tmp_path, capsys):
    (tmp_path / "photo.jpg").write_bytes(b"mine")
    assert main([str(tmp_path), "--n", "1", "--size", "96x64"]) == 1
    assert "error:" in capsys.readouterr().err


def test_module_runs_as_script(tmp_path):
    r = subprocess.run([sys.executable, "-m", "dronefast.sample", str(tmp_path / "o"), "--n", "1",
                        "--size", "48x32"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "wrote 1 synthetic scenes" in r.stdout
