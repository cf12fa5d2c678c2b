"""Serving the page: a private temporary folder for Gradio's uploads and results, removed on exit, and the launch
settings (local address, no public link unless asked, no telemetry, no run history, errors without traces).

Gradio is imported only by :func:`launch`'s caller (the page): :func:`private_temp_dir` must set
``GRADIO_TEMP_DIR`` before that.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from .style import PAGE_CSS, PAGE_HEAD

__all__ = ["gradio_installed", "private_temp_dir", "launch_settings", "launch", "wait", "DEFAULT_HOST", "DEFAULT_PORT",
           "INSTALL_HINT"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: What to run when Gradio is missing.
INSTALL_HINT = 'pip install -e ".[app]"'
#: Upload limit in bytes per allowed pixel (an uncompressed 16-bit RGB photo needs 6).
_BYTES_PER_PIXEL = 8


def gradio_installed() -> bool:
    """Whether Gradio can be imported (without importing it)."""
    return importlib.util.find_spec("gradio") is not None


@contextmanager
def private_temp_dir(keep: bool = False) -> Iterator[Path]:
    """A fresh folder, readable by this user only, made Gradio's upload and cache folder (``GRADIO_TEMP_DIR``)
    for the duration; removed with everything in it afterwards unless `keep`. Gradio's telemetry is switched off
    as well (``GRADIO_ANALYTICS_ENABLED=False``). Enter it before Gradio is imported."""
    folder = Path(tempfile.mkdtemp(prefix="dronefast-app-"))
    saved = {k: os.environ.get(k) for k in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        yield folder
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def launch_settings(host: str = DEFAULT_HOST, port: Optional[int] = DEFAULT_PORT, share: bool = False,
                    max_pixels: int = 30_000_000) -> Dict[str, Any]:
    """Keyword arguments of ``gr.Blocks.launch`` for the app: `host` and `port`, Gradio's public share link only
    with `share`, uploads up to ``8 x max_pixels`` bytes, messages of ``gr.Error`` shown but no other exception's,
    no server-side rendering, MCP server, run history, monitoring, or footer links; the page's CSS
    (:data:`~dronefast.app.style.PAGE_CSS`, :data:`~dronefast.app.style.PAGE_HEAD`)."""
    return dict(server_name=host, server_port=port, share=share, show_error=False, quiet=True, ssr_mode=False,
                css=PAGE_CSS, head=PAGE_HEAD,
                mcp_server=False, run_history=False, enable_monitoring=False, footer_links=[],
                max_file_size=_BYTES_PER_PIXEL * int(max_pixels))


def launch(page, **settings: Any) -> Tuple[str, Optional[str]]:
    """Start `page` (a ``gr.Blocks``) in the background with :func:`launch_settings` (`settings` passed to it);
    returns ``(local URL, share URL or None)`` once the server is up. Stop it with ``page.close()``."""
    _, url, share_url = page.launch(prevent_thread_lock=True, **launch_settings(**settings))
    return url, share_url


def wait(page) -> None:
    """Block until Ctrl+C or SIGTERM (or until `page` is closed elsewhere), then close `page`'s server."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        while page.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        page.close()
        if main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
