"""Nothing silent (issue 25, items 7, 8, 10, 11): inputs that were accepted without a word, or refused late and by a
traceback, are refused at once in one line naming the file or the option, with every file that existed left as it
was. Helpers and the tiny 3-photo dataset are test_failures.py's; option refusals of ``train`` are in
cli/test_train.py, transparent masks in test_failures.py's table of bad masks."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dronefast.cli.check import main as check_main
from dronefast.cli.landing import main as landing_main
from dronefast.cli.predict import main as predict_main
from dronefast.cli.prepare import main as prepare_main
from dronefast.cli.train import main as train_main
from tests import test_failures as failures
from tests.test_failures import FEW, assert_refused, assert_unchanged, run_cli, snapshot

tiny = failures.tiny  # the 3-photo dataset, made once per module


@pytest.fixture
def three(tiny, tmp_path) -> Path:
    """A private, writable copy of `tiny`."""
    return Path(shutil.copytree(tiny, tmp_path / "data"))


ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------ 8. too few photos: check and train say the same

@pytest.fixture
def two_photos(sample_kaggle, tmp_path) -> Path:
    """A Kaggle-layout dataset of 2 photos (the sample's first two)."""
    root = tmp_path / "two"
    for sub, suffix in (("original_images", ".jpg"), ("label_images_semantic", ".png")):
        (root / sub).mkdir(parents=True)
        for stem in ("000", "001"):
            shutil.copy(sample_kaggle / sub / f"{stem}{suffix}", root / sub)
    shutil.copy(sample_kaggle / "class_dict_seg.csv", root)
    return root


TOO_FEW = ("2 photo(s) are too few to train on: at least 10 are needed for one batch of 8 and one validation photo "
           "(the split, validation share 0.1 and test share 0.1, leaves 0 to train on, 1 to validate and 1 to test); "
           "add photos, or lower the batch size or the test share")


def test_check_and_train_refuse_too_few_photos_alike(two_photos, tmp_path):
    """Default settings: 1 photo to test, 1 to validate, none to train (10 photos give 1 + 1 + 8 = a batch)."""
    before = snapshot(two_photos)
    checked = run_cli(check_main, [two_photos, "--workers", "1"])
    assert checked.rc == 1 and f"1 problem(s):\n  {two_photos}: {TOO_FEW}\n" in checked.out
    trained = run_cli(train_main, [two_photos, "--out", tmp_path / "run", "--arch", "resnet18", "--no-pretrained"])
    assert (trained.rc, trained.err) == (1, f"error: {two_photos}: {TOO_FEW}\n")
    assert not (tmp_path / "run").exists()
    assert_unchanged(before)
    # what one refuses for given settings, the other refuses for them too; one batch of 1 needs 2 photos
    argv = ["--test-pct", "0", "--bs", "2"]
    line = (f"{two_photos}: 2 photo(s) are too few to train on: at least 3 are needed for one batch of 2 and one "
            f"validation photo (the split, validation share 0.1 and test share 0, leaves 1 to train on, 1 to validate "
            f"and 0 to test)")
    assert line in run_cli(check_main, [two_photos, "--workers", "1", *argv]).out
    assert run_cli(train_main, [two_photos, "--out", tmp_path / "run", "--no-pretrained", *argv]).err.startswith(
        f"error: {line}")
    assert run_cli(check_main, [two_photos, "--workers", "1", "--test-pct", "0", "--bs", "1"]).rc == 0


# ------------------------------------------------------------------------- 10. inputs accepted without a word

def test_landing_refuses_a_photo_of_another_size(tmp_path):
    mask, photo, out = tmp_path / "m.png", tmp_path / "photo.jpg", tmp_path / "out"
    Image.fromarray(np.full((250, 375), 3, np.uint8)).save(mask)
    Image.new("RGB", (10, 10)).save(photo)
    before = snapshot(mask, photo)
    res = run_cli(landing_main, [mask, "--image", photo, "--out", out, "--clearance-px", "5"])
    assert_refused(res, photo, "the photo is 10x10 but the mask m.png is 375x250 (WxH)", one_line=False)
    assert res.err.splitlines()[0] == (f"error: {photo}: the photo is 10x10 but the mask m.png is 375x250 (WxH); "
                                       f"give the photo the mask was made from")
    assert not list(out.glob("m.landing.*"))
    assert_unchanged(before)
    Image.new("RGB", (375, 250)).save(photo)  # the photo the mask labels is drawn on
    assert run_cli(landing_main, [mask, "--image", photo, "--out", out, "--clearance-px", "5"]).rc == 0


def test_broken_symbolic_links_are_named(three, tmp_path):
    data = three
    photos, masks = data / "original_images", data / "label_images_semantic"
    os.symlink("005.jpg", photos / "005.jpg")                   # a loop
    os.symlink(tmp_path / "gone.png", masks / "006.png")        # a link to nothing
    res = run_cli(check_main, [data, "--workers", "1", *FEW])
    assert res.rc == 1 and "2 problem(s):" in res.out
    assert (f"  {photos / '005.jpg'}: symbolic link that loops (its chain of links never reaches a file); remove it "
            f"or point it at a file") in res.out.splitlines()
    assert f"  {masks / '006.png'}: symbolic link to {tmp_path / 'gone.png'}, which does not exist" in res.out
    from dronefast.inference.predict_files import scan_inputs

    scan = scan_inputs([photos, photos / "005.jpg"], videos=False)
    files, problems = scan.photos, scan.problems
    assert [f.name for f in files] == ["000.jpg", "001.jpg", "002.jpg"]
    loop = f"{photos / '005.jpg'}: symbolic link that loops (its chain of links never reaches a file)"
    assert len(problems) == 2 and all(p.startswith(loop) for p in problems)


def test_prepare_refuses_a_folder_of_someone_elses(three, tmp_path):
    data = three
    dst = tmp_path / "mine"
    (dst / "images").mkdir(parents=True)
    (dst / "notes.txt").write_text("my notes")
    (dst / "class_dict.csv").write_text("my own table")
    before = snapshot(dst)
    res = run_cli(prepare_main, [data, dst, "--size", "24x16", "--workers", "1", "--no-progress"])
    assert_refused(res, dst, "holds files without prepare.json (not made by dronefast.prepare?), e.g. class_dict.csv; "
                             "pass --overwrite to write into it anyway")
    assert_unchanged(before)
    assert sorted(p.name for p in dst.rglob("*")) == ["class_dict.csv", "images", "notes.txt"]
    res = run_cli(prepare_main, [data, dst, "--size", "24x16", "--workers", "1", "--no-progress", "--overwrite"])
    assert res.rc == 0 and (dst / "notes.txt").read_text() == "my notes"   # asked: written into, the rest kept
    assert run_cli(prepare_main, [data, dst, "--size", "24x16", "--workers", "1", "--no-progress"]).rc == 0  # its own


# ------------------------------------------------------------------ 7. a prediction that cannot fit in memory

def test_predict_refuses_what_would_not_fit_before_decoding(run_folder, sample_kaggle, tmp_path, monkeypatch):
    from dronefast.inference import memory, predictor
    from dronefast.inference.memory import prediction_bytes

    asked = []
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": asked.append(device) or 8 << 30)

    def decoded(*args, **kwargs):
        raise AssertionError("the photo was decoded")

    monkeypatch.setattr(predictor, "read_image", decoded)
    photo = sample_kaggle / "original_images" / "000.jpg"
    t0 = time.perf_counter()
    res = run_cli(predict_main, [run_folder, photo, "--out", tmp_path / "out", "--tiled", "--scale", "1000",
                                 "--no-progress", "--device", "cpu"])
    assert time.perf_counter() - t0 < 60
    host, work = prediction_bytes((64, 96), (64000, 96000), (32, 48), 24, 8, "resnet18")
    assert asked == ["cpu"] and host + work > 8 << 30
    assert res.rc == 1 and "Traceback" not in res.err
    assert res.err.splitlines()[0] == (
        f"error: {photo}: predicting it at 96000x64000 (photo 96x64) needs about {(host + work) / (1 << 30):,.1f} GiB "
        f"of memory, but 8.0 GiB is available; lower the scale (--scale) or the batch size, or predict a smaller photo")
    assert not list((tmp_path / "out").glob("000.*"))


# ------------------------------------------------------------------------ 11. progress bars and decode workers

def test_check_prints_no_progress_bar_without_a_terminal(sample_kaggle):
    for extra in ([], ["--no-progress"]):
        res = run_cli(check_main, [sample_kaggle, "--workers", "1", *extra])
        assert res.rc == 0, res.err
        assert "█" not in res.out and "%" not in res.out.split("\n")[0] and "[10/10" not in res.out + res.err
        assert res.out.startswith(f"kaggle layout at {sample_kaggle}\n")


WORKERS = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import dronefast.data.validation as check

    folder = Path(sys.argv[2])

    def slow(*args):  # a decode that lasts: the parent is killed while it runs
        (folder / str(os.getpid())).touch()
        time.sleep(120)

    check.inspect_pair = slow
    check.inspect_pairs([(Path(f"{i}.jpg"), Path(f"{i}.png")) for i in range(8)], None, workers=2)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers end with their parent on Linux")
def test_sigterm_during_decoding_leaves_no_worker(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", WORKERS, "x", str(pids)], env=env)
    try:
        deadline = time.time() + 120
        while len(list(pids.iterdir())) < 2 and time.time() < deadline and parent.poll() is None:
            time.sleep(0.2)
        workers = [int(p.name) for p in pids.iterdir()]
        assert len(workers) == 2, "the workers did not start"
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(60) == -signal.SIGTERM
        deadline = time.time() + 20
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert [w for w in workers if _alive(w)] == []
    finally:
        parent.kill()
        for w in (int(p.name) for p in pids.iterdir()):
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
