"""``prepare``: a naive loop (full decode, Lanczos resize, save; one process) versus
:func:`~dronefast.data.preparation.prepare_dataset` (JPEG draft decoding, all cores) on generated 6000x4000 photos,
interleaved, plus full versus draft decoding of one photo."""
from __future__ import annotations

import argparse
import contextlib
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from benchmarks.harness import (
    Clock,
    PathLike,
    Size,
    Timer,
    add_common_arguments,
    default_work_dir,
    format_seconds,
    interleave,
    machine_record,
    photo_dataset,
    ratio,
)
from dronefast.errors import UsageError
from dronefast.sizes import format_size

__all__ = ["bench_prepare", "naive_prepare", "decode_times", "report_lines", "add_arguments", "from_args",
           "TARGETS", "HELP"]

HELP = "naive full decode + resize vs dronefast's prepare"
#: The issue's target: prepare at least this many times faster than the naive loop.
TARGETS = {"prepare_speedup_min": 5.0}


def naive_prepare(layout: Any, dst: Path, size: Size) -> None:
    """What a first script does: decode each photo fully, resize it (Lanczos), resize its mask (NEAREST),
    save both; one process."""
    from PIL import Image

    h, w = size
    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    pairs, _, _ = layout.pairs()
    for img, msk in pairs:
        with Image.open(img) as im:
            im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS).save(
                dst / "images" / f"{img.stem}.jpg", quality=95, subsampling=0)
        with Image.open(msk) as m:
            m.resize((w, h), Image.Resampling.NEAREST).save(dst / "masks" / f"{img.stem}.png")


@contextlib.contextmanager
def _emptied(folder: Path) -> Iterator[None]:
    """`folder` removed before the block (the naive loop's earlier output; not part of its time)."""
    shutil.rmtree(folder, ignore_errors=True)
    yield


def decode_times(path: Path, size: Size, repeats: int, timer: Optional[Timer] = None) -> Dict[str, Any]:
    """Full decoding of the photo at `path` versus draft decoding + resizing to ``size = (H, W)``
    (:func:`~dronefast.data.images.read_image`), interleaved `repeats` times: both summaries and their ratio."""
    from PIL import Image

    from dronefast.data.images import read_image

    def full() -> None:
        with Image.open(path) as im:
            im.convert("RGB")

    times = interleave({"full": full, "draft": lambda: read_image(path, size)}, repeats, timer)
    f, d = times.summary("full"), times.summary("draft")
    return {"full_decode_s": f, "draft_decode_resize_s": d, "ratio": ratio(f["median"], d["median"])}


def bench_prepare(*, n: int = 4, photo_size: Size = (4000, 6000), size: Size = (200, 300), repeats: int = 2,
                  workers: Optional[int] = None, work: Optional[PathLike] = None, seed: int = 0,
                  log: Callable[[str], None] = print, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Time the naive loop versus :func:`~dronefast.data.preparation.prepare_dataset` on `n` generated photos of
    ``photo_size = (H, W)`` prepared at ``size = (H, W)``, interleaved `repeats` times; `clock` times them.

    Returns:
        A JSON-ready dict with ``variants`` (``naive``/``dronefast``: ``total_s`` summary, ``s_per_image``,
        ``images_per_s``), ``ratios`` and ``ratios_of_min`` (``naive_over_dronefast``), ``decode`` (full versus
        draft decoding of one photo, :func:`decode_times`) and ``checks``.
    """
    import tempfile

    from dronefast.data.layout import find_layout
    from dronefast.data.preparation import prepare_dataset
    from dronefast.data.validation import default_workers

    if n < 1 or repeats < 1:
        raise UsageError("--n and --repeats must be at least 1")
    root = Path(work or default_work_dir()) / f"prepare-{n}-{format_size(photo_size)}-s{seed}"
    t0 = time.perf_counter()
    log(f"photos: {n} synthetic {format_size(photo_size)} JPEGs in {root}")
    layout = find_layout(photo_dataset(root, n, photo_size, seed))
    gen_s = time.perf_counter() - t0
    workers = default_workers() if workers is None else workers
    out = Path(tempfile.mkdtemp(prefix="dronefast-bench-prepare-"))
    timer = Timer(clock)

    def fast() -> None:
        prepare_dataset(root, out / "fast", size=size, workers=workers, overwrite=True, progress=False)

    try:
        times = interleave({"naive": lambda: naive_prepare(layout, out / "naive", size), "dronefast": fast},
                           repeats, timer, contexts={"naive": lambda: _emptied(out / "naive")})
        decode = decode_times(layout.image_files()[0], size, max(3, repeats), timer)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    results = {name: {"total_s": times.summary(name), "s_per_image": times.summary(name)["median"] / n,
                      "images_per_s": n / times.summary(name)["median"]} for name in times.samples}
    med = ratio(results["naive"]["total_s"]["median"], results["dronefast"]["total_s"]["median"])
    low = ratio(results["naive"]["total_s"]["min"], results["dronefast"]["total_s"]["min"])
    return {"command": "prepare", "machine": machine_record(None, times),
            "settings": {"n": n, "photo_size": format_size(photo_size), "size": format_size(size),
                         "repeats": repeats, "workers": workers, "seed": seed},
            "setup_s": {"photos": gen_s}, "variants": results, "ratios": {"naive_over_dronefast": med},
            "ratios_of_min": {"naive_over_dronefast": low}, "decode": decode,
            "checks": {"speedup_target": TARGETS["prepare_speedup_min"],
                       "speedup_met": med >= TARGETS["prepare_speedup_min"]}}


def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_prepare` result (after the machine line)."""
    v, r, d = result["variants"], result["ratios"], result["decode"]
    out = [f"  {name:<10} all {format_seconds(x['total_s'])}  {x['s_per_image']:.3f} s/image" for name, x in v.items()]
    out.append(f"  one photo: full decode {d['full_decode_s']['median']:.3f} s, draft decode + resize "
               f"{d['draft_decode_resize_s']['median']:.3f} s ({d['ratio']:.1f}x)")
    out.append(f"  naive/dronefast: {r['naive_over_dronefast']:.2f}x (target >= "
               f"{result['checks']['speedup_target']:.0f}x; fastest runs: "
               f"{result['ratios_of_min']['naive_over_dronefast']:.2f}x)")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks prepare``."""
    from dronefast.cli.common import positive_int, size_arg

    p.add_argument("--n", type=positive_int, default=4, help="photos")
    p.add_argument("--photo-size", type=size_arg, default="6000x4000", metavar="WxH", help="photo size")
    p.add_argument("--size", type=size_arg, default="300x200", metavar="WxH", help="prepared size")
    p.add_argument("--repeats", type=positive_int, default=2, help="interleaved rounds")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="processes of dronefast's prepare; None: all cores")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_prepare` with the parsed options of :func:`add_arguments`."""
    return bench_prepare(n=a.n, photo_size=a.photo_size, size=a.size, repeats=a.repeats, workers=a.workers,
                         work=a.work, seed=a.seed, clock=clock)
