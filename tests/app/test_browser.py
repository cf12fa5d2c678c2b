"""The page in a real browser: headless system Chromium through Playwright, against the page served in-process on
a free local port with the stand-in model. Skipped, saying why, without Gradio, Playwright or Chromium (failed
instead with DRONEFAST_REQUIRE_BROWSER=1). DRONEFAST_SCREENSHOT=docs/app.png saves the README's picture."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from tests.app.support import ROOT, SCREENSHOT, require

require("gradio", 'pip install -e ".[app]"')
require("playwright", "pip install playwright")

LOADED = "s => { const i = document.querySelector(s + ' img'); return i && i.complete && i.naturalWidth > 0 }"


def upload(page, path) -> None:
    page.locator("#photo input[type=file]").set_input_files(str(path))


def wait_for_result(page) -> None:
    """Until the three pictures are shown; fails fast with the message if an error shows instead."""
    page.wait_for_function(f"""() => document.querySelector('.toast-body') ||
        ['#classmap', '#overlay', '#landing'].every({LOADED})""", timeout=60_000)
    toasts = page.locator(".toast-body")
    assert toasts.count() == 0, toasts.all_inner_texts()


def natural_size(page, selector):
    return page.evaluate(f"() => {{ const i = document.querySelector('{selector} img'); "
                         "return [i.naturalWidth, i.naturalHeight] }")


def rows(page, selector):
    """Body rows of a gr.Dataframe (div[role=row] with grid cells in Gradio 6)."""
    return page.evaluate(f"""() => [...document.querySelectorAll('{selector} [role=row]')]
        .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))
        .filter(r => r.length)""")


def test_upload_shows_class_map_shares_and_landing_spots(page, served, tmp_path):
    url, handlers, photo = served
    calls = []
    predict, confident = handlers.predictor.predict, handlers.predictor.predict_confidence
    handlers.predictor.predict_confidence = lambda *a, **k: calls.append(1) or confident(*a, **k)
    try:
        upload(page, photo)
        wait_for_result(page)
    finally:
        handlers.predictor.predict_confidence = confident
    w, h = Image.open(photo).size
    for selector in ("#classmap", "#overlay", "#landing"):
        mw, mh = natural_size(page, selector)
        assert abs(mw / mh - w / h) < 0.02, (selector, mw, mh)
    expected = [handlers.classes.names[i] for i in np.unique(predict(photo))]
    shares = rows(page, "#shares")
    assert sorted(r[0] for r in shares) == sorted(expected) and abs(sum(float(r[1]) for r in shares) - 100) < 0.5
    spots = rows(page, "#spots")
    assert spots and spots[0][0] == "1" and spots[0][-2] in ("grass", "paved-area", "dirt", "gravel"), spots
    assert 0 <= float(spots[0][-1]) <= 1    # the model's mean P(safe) over the spot's clearance disc
    assert "landing spot(s) with" in page.locator("#landing-note").inner_text()
    files = "".join(page.locator("#downloads").inner_text().split())  # names wrap at the suffix
    assert all(f"{Path(photo).stem}{suffix}" in files for suffix in (".mask.png", ".colour.png", ".landing.json"))
    assert f"{w}x{h} px" in page.locator("#status").inner_text()
    legend = page.locator("#legend").inner_text()
    assert all(name in legend for name in handlers.classes.names)
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    if SCREENSHOT:
        save_screenshot(page, ROOT / SCREENSHOT, tmp_path)

    before = page.evaluate("() => document.querySelector('#overlay img').src")
    page.locator("#opacity input[type=range]").fill("0.9")
    page.wait_for_function("b => document.querySelector('#overlay img').src !== b", arg=before)
    box = page.locator("#clearance-px input[type=number]")
    box.fill("500")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('#landing-note').innerText.includes('No landing spot')")
    assert rows(page, "#spots") == [] and len(calls) == 1  # re-rendered, not predicted again
    assert page.problems == []


def save_screenshot(page, dst: Path, tmp_path: Path) -> None:
    """The README's picture: the page down to the spots table, at 3/4 size in 256 colours (about 250 KB)."""
    raw = tmp_path / "readme.png"
    page.screenshot(path=str(raw), full_page=True)
    bottom = page.evaluate("() => { const r = document.querySelector('#spots').getBoundingClientRect(); "
                           "return r.bottom + window.scrollY }")
    img = Image.open(raw).convert("RGB")
    img = img.crop((0, 0, img.width, min(img.height, int(bottom) + 12)))
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)
    shutil.copy(dst, tmp_path / dst.name)


def test_bad_upload_shows_a_message(page, tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_bytes(bytes(range(256)) * 20)
    upload(page, bad)
    toast = page.locator(".toast-body")
    toast.wait_for()
    text = toast.inner_text()
    assert "Not a readable image" in text and "Traceback" not in text and str(tmp_path) not in text
    assert page.locator("#classmap img").count() == 0
    page.problems[:] = [p for p in page.problems if "console.error" not in p]  # the browser logs the failed call
    assert page.problems == []


def test_sample_photo_click(page, served):
    page.locator("#examples button, #examples td, #examples img").first.click()
    wait_for_result(page)
    assert rows(page, "#shares")
