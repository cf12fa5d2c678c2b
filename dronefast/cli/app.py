"""``python -m dronefast.app [MODEL]``: the web page for people who fly drones (see :mod:`dronefast.app`), served
with Gradio (the optional extra ``[app]``) on this machine only unless told otherwise."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from ..app.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    INSTALL_HINT,
    gradio_installed,
    launch,
    private_temp_dir,
    wait,
)
from ..app.settings import (
    DEFAULT_CLEARANCE_PX,
    DEFAULT_MAX_PIXELS,
    AppSettings,
    sample_photos,
)
from ..errors import DronefastError, UsageError
from .common import at_least, positive_int, prepare_cli, run_main
from .landing import add_landing_arguments, landing_options
from .predict import add_predict_arguments, predict_options

__all__ = ["build_parser", "main", "NO_MODEL"]

#: Said (exit 2) when no MODEL is given.
NO_MODEL = "no MODEL given: train one with python -m dronefast.train, then python -m dronefast.app runs/train"


def _port(text: str) -> int:
    port = at_least(1)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.app``."""
    p = argparse.ArgumentParser(
        prog="python -m dronefast.app",
        description="A web page for drone photos: upload a photo (or pick a sample one), see its class map and "
                    "where a drone can land, download the masks and the spots. Needs Gradio: "
                    f"{INSTALL_HINT}. Stop it with Ctrl+C; uploads and results are deleted then.")
    p.add_argument("model", nargs="?", type=Path, metavar="MODEL",
                   help="a training run folder or its model.json (or an exported folder with model.onnx and "
                        "--engine onnxruntime)")
    s = p.add_argument_group("the server")
    s.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to serve on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every machine "
                        "that can reach this one)")
    s.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    s.add_argument("--share", action="store_true",
                   help="also open a public link through Gradio's share servers (anyone with the link can use the "
                        "page and your computer's time)")
    s.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse larger photos (default {DEFAULT_MAX_PIXELS:,})")
    s.add_argument("--examples", type=at_least(0), default=4, metavar="N",
                   help="sample photos offered, from the built-in synthetic sample (default 4; 0: none)")
    s.add_argument("--keep-uploads", action="store_true",
                   help="keep the folder of uploads and results when the server stops (its path is printed); by "
                        "default it is deleted, and files older than an hour are deleted while it runs")
    add_predict_arguments(p.add_argument_group("prediction (as python -m dronefast.predict)"))
    add_landing_arguments(p.add_argument_group("landing spots: the page's starting values (see python -m "
                                               "dronefast.landing)"), "photo", required=False)
    return p


def _settings(args: argparse.Namespace) -> AppSettings:
    if args.clearance_px is None and args.clearance_m is None:
        args.clearance_px = DEFAULT_CLEARANCE_PX
    return AppSettings(max_pixels=args.max_pixels, landing=landing_options(args), model=args.model)


def _examples(n: int) -> List[Path]:
    try:
        return sample_photos(n)
    except (DronefastError, OSError) as e:  # the page works without them
        print(f"note: no sample photos to offer ({e})", file=sys.stderr)
        return []


def _run(args: argparse.Namespace) -> int:
    if args.model is None:
        raise UsageError(NO_MODEL)
    options, settings = predict_options(args), _settings(args)
    if not gradio_installed():
        raise DronefastError(f"the web page needs Gradio, an optional extra: {INSTALL_HINT}")
    prepare_cli()
    from PIL import Image

    from ..inference.predictor import (
        Predictor,  # torch loads here, after the arguments are known to be good
    )

    if Image.MAX_IMAGE_PIXELS is not None and args.max_pixels > Image.MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = args.max_pixels  # the operator's limit replaces Pillow's decompression-bomb one
    predictor = Predictor(args.model, options)
    try:
        settings.landing.check_classes(predictor.classes)
    except ValueError as e:
        raise UsageError(str(e)) from None
    examples = _examples(args.examples)
    with private_temp_dir(keep=args.keep_uploads) as folder:
        from ..app.handlers import (
            Handlers,  # Gradio loads here, after GRADIO_TEMP_DIR is set
        )
        from ..app.page import DELETE_CACHE, build_page

        page = build_page(Handlers(predictor, settings), examples,
                          delete_cache=None if args.keep_uploads else DELETE_CACHE)
        url, share_url = launch(page, host=args.host, port=args.port, share=args.share, max_pixels=args.max_pixels)
        print(f"dronefast app: {url} (model {args.model}, {predictor.info.arch} U-Net, {len(predictor.classes)} "
              f"classes); Ctrl+C stops it", flush=True)
        if share_url:
            print(f"public link: {share_url} (anyone with it can use the page)", flush=True)
        wait(page)
    print(f"stopped; uploads and results kept in {folder}" if args.keep_uploads
          else "stopped; uploads and results deleted")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 stopped with Ctrl+C, 1 no Gradio or a bad model, 2 bad
    usage or no MODEL)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
