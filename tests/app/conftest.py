"""Fixtures of the app tests: a tiny stand-in model, the page's handlers over it, the page served in-process on a
free local port, and headless system Chromium driven by Playwright.

The model is an untrained resnet18 U-Net at 48x32 whose last layer's biases make it say mostly grass, with some
paved area and trees where the photo's features push: cheap, deterministic, and with somewhere to land.

The README's picture: ``DRONEFAST_SCREENSHOT=docs/app.png`` saves the browser test's screenshot there, with the
page serving ``DRONEFAST_SCREENSHOT_MODEL`` (a trained model, e.g. ``runs/train``) on the built-in 960x640 sample,
uploading ``DRONEFAST_SCREENSHOT_PHOTO`` (default: the sample's first photo).
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.app.support import (
    CHROMIUM_ARGS,
    SCREENSHOT,
    SCREENSHOT_MODEL,
    SCREENSHOT_PHOTO,
    STAND_IN_MIN_P_SAFE,
    find_chromium,
    free_port,
    require,
    unavailable,
)


@pytest.fixture(scope="session", autouse=True)
def gradio_folder(tmp_path_factory):
    """Gradio's uploads and cache in a folder of the test session, no telemetry."""
    folder = tmp_path_factory.mktemp("gradio")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(folder))
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        yield folder


def stand_in_network(classes, size=(32, 48)):
    """``(network, ModelInfo)``: an untrained U-Net biased to grass, with paved area and trees."""
    import torch
    from torch import nn

    from dronefast.models.modelfile import ModelInfo, build_model

    torch.manual_seed(0)
    info = ModelInfo(arch="resnet18", classes=classes, size=size)
    net = build_model(info).eval()
    last = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.out_channels == len(classes)][-1]
    with torch.no_grad():
        last.bias.zero_()
        for name, bias in (("grass", 4.0), ("paved-area", 3.7), ("tree", 3.0)):   # P(safe) about 0.7
            last.bias[classes.id_of(name)] = bias
    return net, info


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, classes):
    """model.json of the stand-in network, saved as training saves models."""
    from dronefast.models.modelfile import save_model

    net, info = stand_in_network(classes)
    return save_model(net, tmp_path_factory.mktemp("model") / "model", info)[1]


@pytest.fixture(scope="session")
def predictor(tiny_model):
    """The commands' Predictor over the tiny model, loaded from its file."""
    from dronefast.inference.predictor import Predictor

    return Predictor(tiny_model, device="cpu")


@pytest.fixture(scope="session")
def photos(sample_kaggle):
    """The tiny sample's photos (96x64 JPEGs)."""
    return sorted((sample_kaggle / "original_images").glob("*.jpg"))


@pytest.fixture(scope="module")
def served(predictor, photos, classes):
    """The page served in-process on a free local port: ``(url, handlers, upload photo)``; closed afterwards."""
    require("gradio", 'pip install -e ".[app]"')
    from dronefast.app.handlers import Handlers
    from dronefast.app.page import build_page
    from dronefast.app.server import launch
    from dronefast.app.settings import AppSettings, sample_photos
    from dronefast.landing.options import LandingOptions

    if SCREENSHOT:  # the README's picture: a trained model on the built-in 960x640 sample
        from dronefast.inference.predictor import Predictor

        predictor = Predictor(SCREENSHOT_MODEL, device="cpu") if SCREENSHOT_MODEL else predictor
        examples = sample_photos(5)
        photo = Path(SCREENSHOT_PHOTO).expanduser() if SCREENSHOT_PHOTO else examples.pop(0)
        landing = LandingOptions(clearance_px=40) if SCREENSHOT_MODEL else \
            LandingOptions(clearance_px=40, min_p_safe=STAND_IN_MIN_P_SAFE)  # the stand-in is never 90% sure
        settings, examples = AppSettings(landing=landing, model=SCREENSHOT_MODEL), examples[:4]
    else:
        landing = LandingOptions(clearance_px=8, min_p_safe=STAND_IN_MIN_P_SAFE)
        settings, examples, photo = AppSettings(landing=landing), photos[1:3], photos[0]
    handlers = Handlers(predictor, settings)
    page = build_page(handlers, examples)
    start = time.perf_counter()
    url, _ = launch(page, port=free_port())
    print(f"\nserver up in {time.perf_counter() - start:.2f} s at {url}")
    yield url, handlers, photo
    page.close()


@pytest.fixture(scope="session")
def browser():
    """Headless system Chromium through Playwright (no browser download)."""
    require("playwright", "pip install playwright")
    from playwright.sync_api import sync_playwright

    exe = find_chromium()
    if exe is None:
        unavailable("no Chromium found (apt-get install chromium, or set DRONEFAST_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, timeout=30_000)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    """A fresh tab on the served page; ``page.problems`` collects page errors, console errors and any request
    that leaves the local server."""
    url = served[0]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(20_000)
    problems = []
    pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    pg.on("console", lambda m: problems.append(f"console.error: {m.text}") if m.type == "error" else None)
    pg.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:"))
          else problems.append(f"external request: {r.url}"))
    pg.goto(url)
    pg.locator("#photo input[type=file]").wait_for(state="attached")
    pg.problems = problems
    yield pg
    ctx.close()
