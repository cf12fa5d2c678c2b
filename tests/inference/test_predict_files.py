"""Tests of how predict finds its inputs in folders as operators have them (subfolders, videos, sidecar files)."""
from pathlib import Path

from dronefast.inference.predict_files import InputScan, scan_inputs


def tree(root: Path, names):
    for name in names:
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x")
    return root


DJI = ["DJI_0001.JPG", "DJI_0001.DNG", "DJI_0002.MP4", "DJI_0002.SRT", "notes.xmp", ".hidden.jpg",
       "a.mask.png", "b.landing.mp4", "b.frames.jsonl", "101MEDIA/DJI_0100.jpg", "101MEDIA/DJI_0101.MOV",
       "101MEDIA/DJI_0101.SRT", ".thumbs/x.jpg"]


def test_folder_sorted_into_photos_videos_and_others(tmp_path):
    root = tree(tmp_path / "DCIM", DJI)
    scan = scan_inputs([root])
    assert scan.photos == [root / "DJI_0001.JPG"] and scan.videos == [root / "DJI_0002.MP4"]
    assert scan.others == [root / n for n in ("DJI_0001.DNG", "DJI_0002.SRT", "notes.xmp")]
    assert scan.problems == []


def test_recursive_walks_subfolders_but_not_hidden_ones(tmp_path):
    root = tree(tmp_path / "DCIM", DJI)
    scan = scan_inputs([root], recursive=True)
    assert scan.photos == [root / "101MEDIA/DJI_0100.jpg", root / "DJI_0001.JPG"]
    assert scan.videos == [root / "101MEDIA/DJI_0101.MOV", root / "DJI_0002.MP4"]
    assert scan.others == [root / n for n in ("101MEDIA/DJI_0101.SRT", "DJI_0001.DNG", "DJI_0002.SRT", "notes.xmp")]


def test_without_videos_they_are_named_as_others(tmp_path):
    root = tree(tmp_path / "DCIM", DJI)
    scan = scan_inputs([root], videos=False)
    assert scan.videos == [] and root / "DJI_0002.MP4" in scan.others
    assert (scan.photos, scan.problems) == ([root / "DJI_0001.JPG"], [])


def test_problems_for_missing_and_empty_inputs_and_files_taken_as_given(tmp_path):
    sub = tree(tmp_path / "only_sub", ["deeper/a.jpg"])
    (tmp_path / "empty").mkdir()
    clip = tree(tmp_path, ["clip.mov"]) / "clip.mov"
    scan = scan_inputs([sub, tmp_path / "empty", tmp_path / "nope.jpg", clip])
    assert scan.videos == [clip] and scan.photos == []
    assert scan.problems == [
        f"{sub}: no images or videos (.jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp, .mp4, .mov) in this folder",
        f"{tmp_path / 'empty'}: no images or videos (.jpg, .jpeg, .png, .tif, .tiff, .bmp, .webp, .mp4, .mov) in "
        "this folder", f"{tmp_path / 'nope.jpg'}: file not found"]
    assert scan_inputs([sub], recursive=True).photos == [sub / "deeper/a.jpg"]


def test_others_line_counts_and_names_each_file_once():
    scan = InputScan(others=[Path(f"f{i}.DNG") for i in range(12)] + [Path("a.SRT")])
    assert scan.others_line(exclude=[Path("a.SRT"), None]) == (
        "not predicted: 12 file(s) that are neither photos nor videos: "
        "f0.DNG, f1.DNG, f2.DNG, f3.DNG, f4.DNG, f5.DNG, f6.DNG, f7.DNG, f8.DNG, f9.DNG and 2 more")
    assert InputScan(others=[Path("a.SRT")]).others_line(exclude=[Path("a.SRT")]) is None
    assert InputScan().others_line() is None
