"""What the app tests share: optional dependencies that skip (or, with ``DRONEFAST_REQUIRE_BROWSER=1``, fail) when
missing, the system Chromium, a free port, and the README screenshot's settings."""
from __future__ import annotations

import importlib
import os
import shutil
import socket
from pathlib import Path
from types import ModuleType
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The README's picture (see conftest.py): where to save it, the model, the photo.
SCREENSHOT = os.environ.get("DRONEFAST_SCREENSHOT")
SCREENSHOT_MODEL = os.environ.get("DRONEFAST_SCREENSHOT_MODEL")
SCREENSHOT_PHOTO = os.environ.get("DRONEFAST_SCREENSHOT_PHOTO")
#: The stand-in network's P(safe) is about 0.7 (conftest.py): the landing threshold the page tests use with it.
STAND_IN_MIN_P_SAFE = 0.5
#: Set to 1 (CI) to make a missing Gradio, Playwright or Chromium a failure instead of a skip.
REQUIRE = "DRONEFAST_REQUIRE_BROWSER"
#: Headless Chromium without a GPU, a sandbox (root in containers) or any call home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def unavailable(reason: str) -> None:
    """Skip with `reason`, or fail when :data:`REQUIRE` is set."""
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} (and {REQUIRE}=1)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str, install: str) -> ModuleType:
    """Import `module`, or skip (fail with :data:`REQUIRE`) saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        unavailable(f"{module} is not installed ({install})")


def find_chromium() -> Optional[str]:
    """The system Chromium (``DRONEFAST_CHROMIUM`` or the first on PATH); Playwright's own download is not used."""
    env = os.environ.get("DRONEFAST_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
