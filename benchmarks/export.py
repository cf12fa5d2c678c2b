"""``export``: PyTorch eager fp32 versus ONNX Runtime fp32 and int8 on one trained model, side by side in one run:
per tile (one window, and a batch of windows, through each engine as the Predictor calls it) and per photo
(:meth:`~dronefast.inference.predictor.Predictor.predict` of a generated 6000x4000 JPEG through the tiled path), with
1 thread and with all cores, interleaved after one untimed warm-up of each; the pixel agreement of each engine with
PyTorch (tiles and whole class maps), and the peak memory of the whole ``python -m dronefast.predict`` command on
that photo per engine, each in its own process (its ``VmHWM``: ONNX Runtime allocates outside Python's tracing).

The model is ``--model`` (a training run folder) or one trained from scratch on the built-in sample with the nadir
recipe's 20 epochs in the work folder (cached), so that its logits are not near-ties; it is exported with
:func:`~dronefast.workflows.export_onnx.export_onnx` (``--int8``, forced so that a low int8 agreement is measured
rather than
refused) into the work folder.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from benchmarks.harness import (
    ARCH_CHOICES,
    Clock,
    PathLike,
    Size,
    Timer,
    add_common_arguments,
    default_work_dir,
    format_seconds,
    gib,
    interleave,
    machine_record,
    photo_dataset,
    ratio,
    usable_cores,
)
from benchmarks.predict import window_batches
from dronefast.errors import UsageError
from dronefast.sizes import format_size

__all__ = ["bench_export", "trained_model", "exported_model", "peak_memory", "thread_counts", "report_lines",
           "add_arguments", "from_args", "ENGINES", "TARGETS", "HELP"]

HELP = "PyTorch vs ONNX Runtime fp32 / int8: per tile, per photo, agreement, memory"
#: The engines compared; PyTorch is the reference of every ratio and agreement.
ENGINES = ("torch", "ort_fp32", "ort_int8")
#: The issue's targets (speed-ups are PyTorch's median time over the engine's, per tile).
TARGETS = {"ort_fp32_speedup_min": 1.5, "ort_int8_speedup_min": 2.5, "ort_fp32_agreement_min": 0.999,
           "ort_int8_agreement_min": 0.99, "predict_peak_gib_max": 1.4}


def trained_model(work: Path, arch: str, size: Size, epochs: int, seed: int, log: Callable[[str], None] = print
                  ) -> Path:
    """A run folder of `arch` trained `epochs` epochs from scratch on the built-in sample at ``size = (H, W)``,
    in `work`; trained once, then reused while its ``metrics.json`` (written last) is there."""
    run = work / f"export-{arch}-{format_size(size)}-e{epochs}-s{seed}" / "run"
    if (run / "metrics.json").is_file() and (run / "model.json").is_file():
        return run
    from dronefast.training.config import TrainConfig
    from dronefast.workflows.training_run import train

    log(f"training {arch} at {format_size(size)} for {epochs} epochs on the built-in sample into {run} (once)")
    train(TrainConfig(out=run, arch=arch, size=tuple(size), epochs=epochs, seed=seed, progress=False,
                      overwrite=True))
    return run


def exported_model(model: Path, work: Path, log: Callable[[str], None] = print) -> Path:
    """The export folder (fp32 and int8) of `model` in `work`; exported again when the model's weights are newer
    than the export."""
    from dronefast.inference.onnx import EXPORT_NAME, INT8_NAME
    from dronefast.models.description import model_paths
    from dronefast.workflows.export_onnx import export_onnx

    key = hashlib.sha1(str(model.resolve()).encode()).hexdigest()[:10]
    out = work / f"onnx-{key}"
    weights = model_paths(model)[0]
    report = out / EXPORT_NAME
    if report.is_file() and (out / INT8_NAME).is_file() and (
            not weights.is_file() or report.stat().st_mtime >= weights.stat().st_mtime):
        return out
    log(f"exporting {model} to {out} (fp32 and int8)")
    export_onnx(model, out, int8=True, force=True, overwrite=True, log=lambda line: log(f"  {line}"))
    return out


def thread_counts(text: str) -> List[int]:
    """``"1,all"`` -> ``[1, usable cores]`` (duplicates dropped, order kept); UsageError when malformed."""
    out: List[int] = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        try:
            n = usable_cores() if item == "all" else int(item)
        except ValueError:
            raise UsageError(f"--thread-counts: expected integers or 'all', got {item!r}") from None
        if n < 1:
            raise UsageError(f"--thread-counts: at least 1 thread, got {n}")
        if n not in out:
            out.append(n)
    if not out:
        raise UsageError("--thread-counts: no thread count given")
    return out


#: Runs ``python -m MODULE ...`` or ``python -c CODE ...`` and writes the process's own peak resident memory
#: (``VmHWM``, KiB) to the file named by ``$BENCH_PEAK_FILE`` at exit. ``ru_maxrss`` of a child cannot be used: Linux
#: carries the parent's high-water mark across fork and exec, so every child of a big benchmark process "peaks" at
#: the parent's size.
_PEAK_WRAPPER = r"""
import atexit, os, runpy, sys
def _peak():
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        import resource
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    with open(os.environ["BENCH_PEAK_FILE"], "w") as f:
        f.write(str(kib))
atexit.register(_peak)
mode, target, *rest = sys.argv[1:]
sys.argv = [target, *rest]
if mode == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
"""


def peak_memory(args: Sequence[str], env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """Run ``python ARGS`` (``["-m", module, ...]`` or ``["-c", code, ...]``) in a new process and return
    ``{"peak_bytes", "seconds", "rc"}``: the peak resident memory of that process alone (``VmHWM`` read by the
    process itself at exit) and its wall time; ``stderr_tail`` when it failed."""
    if len(args) < 2 or args[0] not in ("-m", "-c"):
        raise ValueError(f"expected ['-m', module, ...] or ['-c', code, ...], got {list(args)[:2]}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env={**(os.environ if env is None else env),
                                                           "BENCH_PEAK_FILE": str(peak_file)})
        peak = int(peak_file.read_text()) * 1024 if peak_file.is_file() else 0
    out = {"peak_bytes": peak, "seconds": time.perf_counter() - t0, "rc": proc.returncode}
    if proc.returncode:
        out["stderr_tail"] = proc.stderr[-400:].decode("utf-8", "replace")
    return out


def _predictors(model: Path, export: Path, threads: int, options: Any) -> Dict[str, Any]:
    from dronefast.inference.onnx import INT8_NAME
    from dronefast.inference.predictor import Predictor

    return {"torch": Predictor(model, options.replace(engine="torch", threads=threads)),
            "ort_fp32": Predictor(export, options.replace(engine="onnxruntime", threads=threads)),
            "ort_int8": Predictor(export / INT8_NAME, options.replace(engine="onnxruntime", threads=threads))}


def _agreement(preds: Dict[str, Any], tiles: Any, photo: Path) -> Dict[str, Dict[str, float]]:
    """Pixel agreement with PyTorch of each engine's tile logits (argmax) and photo class map."""
    maps = {name: p.predict(photo) for name, p in preds.items()}
    classes = {name: p.engine(tiles).argmax(1) for name, p in preds.items()}
    return {"tile": {n: float((classes[n] == classes["torch"]).float().mean()) for n in ENGINES[1:]},
            "photo": {n: float((maps[n] == maps["torch"]).mean()) for n in ENGINES[1:]},
            "tile_pixels": int(classes["torch"].numel()), "photo_pixels": int(maps["torch"].size)}


def _time_threads(preds: Dict[str, Any], tiles: Any, photo: Path, tile_repeats: int, repeats: int, timer: Timer
                  ) -> Tuple[Dict[str, Dict[str, Any]], Any]:
    """Per-tile (batch 1, batch of `tiles`) and per-photo timings of every engine; ``(summaries, Timings)``."""

    b = len(tiles)
    one = tiles[:1].contiguous()
    fns = {}
    for name, p in preds.items():
        fns[f"{name}/tile_b1"] = lambda e=p.engine: e(one)
        fns[f"{name}/tile_b{b}"] = lambda e=p.engine: e(tiles)
    for f in fns.values():  # warm-up, untimed
        f()
    tile_times = interleave(fns, tile_repeats, timer)
    photo_fns = {f"{name}/photo": (lambda p=p: p.predict(photo)) for name, p in preds.items()}
    for f in photo_fns.values():
        f()
    photo_times = interleave(photo_fns, repeats, timer)
    out: Dict[str, Dict[str, Any]] = {}
    for times in (tile_times, photo_times):
        for key in times.samples:
            name, measure = key.split("/")
            out.setdefault(measure, {})[name] = {"s": times.summary(key), "cpu_s": times.cpu_s(key)}
    return out, tile_times


def _memory(model: Path, export: Path, photo: Path, scale: float, batch_size: int) -> Dict[str, Dict[str, Any]]:
    """Peak memory of ``python -m dronefast.predict`` on `photo` per engine, each in a fresh process."""
    from dronefast.inference.onnx import INT8_NAME

    out = {}
    root = str(Path(__file__).resolve().parent.parent)  # dronefast from this checkout, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, engine in (("torch", model, "torch"), ("ort_fp32", export, "onnxruntime"),
                                  ("ort_int8", export / INT8_NAME, "onnxruntime")):
            argv = ["-m", "dronefast.predict", str(src), str(photo), "--out", str(Path(tmp) / name),
                    "--engine", engine, "--device", "cpu", "--tiled", "--scale", str(scale), "--batch-size",
                    str(batch_size), "--no-progress"]
            out[name] = peak_memory(argv, env=env)
    return out


def _ratios(variants: Dict[str, Dict[str, Dict[str, Any]]], stat: str) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{threads: {measure: {engine: torch time / engine time}}}`` of the `stat` (median or min) of each."""
    return {t: {m: {n: ratio(v["torch"]["s"][stat], v[n]["s"][stat]) for n in ENGINES[1:]} for m, v in by.items()}
            for t, by in variants.items()}


def _checks(ratios: Dict[str, Any], agree: Dict[str, Any], memory: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    tile = [r for by in ratios.values() for m, r in by.items() if m.startswith("tile")]
    fp32 = min(r["ort_fp32"] for r in tile)
    int8 = min(r["ort_int8"] for r in tile)
    out = {**TARGETS, "ort_fp32_speedup_worst_tile": fp32, "ort_int8_speedup_worst_tile": int8,
           "ort_fp32_speedup_met": fp32 >= TARGETS["ort_fp32_speedup_min"],
           "ort_int8_speedup_met": int8 >= TARGETS["ort_int8_speedup_min"],
           "ort_fp32_agreement_met": min(agree["tile"]["ort_fp32"], agree["photo"]["ort_fp32"])
           >= TARGETS["ort_fp32_agreement_min"],
           "ort_int8_agreement_met": min(agree["tile"]["ort_int8"], agree["photo"]["ort_int8"])
           >= TARGETS["ort_int8_agreement_min"]}
    if memory is not None:
        out["predict_peak_met"] = {n: m["rc"] == 0 and m["peak_bytes"] <= TARGETS["predict_peak_gib_max"] * 2 ** 30
                                   for n, m in memory.items()}
    return out


def _measure(src: Path, export: Path, photo: Path, photo_size: Size, options: Any, threads: Sequence[int],
             tile_repeats: int, repeats: int, timer: Timer, log: Callable[[str], None]) -> Dict[str, Any]:
    """Agreement (at the first thread count) and timings (at each) of the three engines; the plan of the photo."""
    import torch

    variants, agree, first, plan, tiles = {}, None, None, {}, None
    old = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            preds = _predictors(src, export, n, options)
            if tiles is None:  # the photo's windows do not depend on the thread count
                _, work_hw = preds["torch"].plan(tuple(photo_size))
                batches, windows = window_batches(preds["torch"], photo, work_hw)
                tiles = batches[0].contiguous()
            agree = agree or _agreement(preds, tiles, photo)
            variants[f"threads={n}"], times = _time_threads(preds, tiles, photo, tile_repeats, repeats, timer)
            first = first or times
            plan = {"info": preds["torch"].info, "working_size": work_hw, "windows": windows, "batch": len(tiles)}
            log(f"threads={n}: {windows} windows of {format_size(plan['info'].size)} per photo, batch {len(tiles)}")
    finally:
        torch.set_num_threads(old)
    return {"variants": variants, "agreement": agree, "timings": first, **plan}


def bench_export(*, model: Optional[PathLike] = None, export: Optional[PathLike] = None, arch: str = "resnet34",
                 size: Size = (96, 144), epochs: int = 20, photo_size: Size = (4000, 6000), scale: float = 0.1,
                 batch_size: int = 8, threads: Sequence[int] = (1,), tile_repeats: int = 10, repeats: int = 3,
                 memory: bool = True, work: Optional[PathLike] = None, seed: int = 0,
                 log: Callable[[str], None] = print, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Time PyTorch, ONNX Runtime fp32 and int8 per tile and per photo at each thread count of `threads`, measure
    their agreement with PyTorch and (with `memory`) the peak memory of the predict command per engine.

    `model`: a run folder (default: :func:`trained_model` of `arch`, `size`, `epochs` in `work`); `export`: its
    export folder with ``model.int8.onnx`` (default: :func:`exported_model` in `work`).

    Returns:
        A JSON-ready dict: ``variants`` (``{"threads=N": {measure: {engine: {"s": summary, "cpu_s"}}}}``, measures
        ``tile_b1``, ``tile_b<batch_size>``, ``photo``), ``ratios`` / ``ratios_of_min`` (PyTorch time over the
        engine's, per measure), ``agreement``, ``memory``, ``files`` (sizes of the models) and ``checks``.
    """
    from dronefast.inference.onnx import INT8_NAME, ONNX_NAME
    from dronefast.inference.predict_options import PredictOptions
    from dronefast.models.description import model_paths

    if repeats < 1 or tile_repeats < 1:
        raise UsageError("--repeats and --tile-repeats must be at least 1")
    work = Path(work or default_work_dir())
    src = Path(model) if model is not None else trained_model(work, arch, size, epochs, seed, log)
    if export is not None and not (Path(export) / INT8_NAME).is_file():
        raise UsageError(f"--export {export}: no {INT8_NAME} there (export with --int8)")
    export = Path(export) if export is not None else exported_model(src, work, log)
    photo = photo_dataset(work / f"export-photo-{format_size(photo_size)}-s{seed}", 1, photo_size, seed) \
        / "original_images" / "0000.jpg"
    options = PredictOptions(device="cpu", tile=True, scale=scale, batch_size=batch_size)
    m = _measure(src, export, photo, photo_size, options, threads, tile_repeats, repeats, Timer(clock), log)
    mem = _memory(src, export, photo, scale, batch_size) if memory else None
    ratios, info = _ratios(m["variants"], "median"), m["info"]
    files = {"torch": model_paths(src)[0].stat().st_size, "ort_fp32": (export / ONNX_NAME).stat().st_size,
             "ort_int8": (export / INT8_NAME).stat().st_size}
    return {"command": "export", "machine": machine_record(None, m["timings"]),
            "settings": {"model": str(src), "export": str(export), "arch": info.arch, "size": format_size(info.size),
                         "photo_size": format_size(photo_size), "scale": scale,
                         "working_size": format_size(m["working_size"]), "windows": m["windows"],
                         "batch_size": m["batch"], "threads": list(threads), "tile_repeats": tile_repeats,
                         "repeats": repeats},
            "files": files, "variants": m["variants"], "ratios": ratios, "ratios_of_min": _ratios(m["variants"], "min"),
            "agreement": m["agreement"], "memory": mem, "checks": _checks(ratios, m["agreement"], mem)}


def report_lines(result: Dict[str, Any]) -> List[str]:
    """Human-readable lines of a :func:`bench_export` result (after the machine line)."""
    s = result["settings"]
    out = [f"  {s['arch']} U-Net, input {s['size']}; photo {s['photo_size']} tiled at scale {s['scale']:g} "
           f"({s['working_size']}, {s['windows']} windows); files: "
           + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in result["files"].items())]
    for t, by in result["variants"].items():
        for measure, v in by.items():
            per = " (per tile)" if measure.startswith("tile_b") and measure != "tile_b1" else ""
            n = int(measure[6:]) if per else 1
            out.append(f"  {t} {measure}{per}:")
            for name, x in v.items():
                med = x["s"]["median"] / n
                r = result["ratios"][t][measure].get(name)
                out.append(f"    {name:<9} {med * 1e3:9.1f} ms" + ("" if r is None else f"  x{r:.2f} vs torch")
                           + f"   [{format_seconds(x['s']).strip()}]")
    a = result["agreement"]
    out.append("  agreement with torch: tiles " + ", ".join(f"{n} {v:.4%}" for n, v in a["tile"].items())
               + "; photo class maps " + ", ".join(f"{n} {v:.4%}" for n, v in a["photo"].items()))
    if result["memory"] is not None:
        out.append("  peak memory of python -m dronefast.predict on the photo: " + ", ".join(
            f"{n} {gib(m['peak_bytes'])}" + ("" if m["rc"] == 0 else f" (FAILED rc={m['rc']})")
            for n, m in result["memory"].items()))
    c = result["checks"]
    out.append(f"  targets: ort_fp32 >= x{c['ort_fp32_speedup_min']} per tile: worst x"
               f"{c['ort_fp32_speedup_worst_tile']:.2f} ({'met' if c['ort_fp32_speedup_met'] else 'NOT met'}); "
               f"ort_int8 >= x{c['ort_int8_speedup_min']}: worst x{c['ort_int8_speedup_worst_tile']:.2f} "
               f"({'met' if c['ort_int8_speedup_met'] else 'NOT met'}); agreement fp32 "
               f"{'met' if c['ort_fp32_agreement_met'] else 'NOT met'}, int8 "
               f"{'met' if c['ort_int8_agreement_met'] else 'NOT met'}")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m benchmarks export``."""
    from dronefast.cli.common import positive_float, positive_int, size_arg

    p.add_argument("--model", type=Path, metavar="RUN", help="a trained model (run folder); default: one trained "
                   "--epochs epochs on the built-in sample in the work folder (cached)")
    p.add_argument("--export", type=Path, metavar="DIR",
                   help="an export of --model (with model.int8.onnx); default: exported into the work folder (cached)")
    p.add_argument("--arch", default="resnet34", choices=ARCH_CHOICES,
                   help="encoder of the model trained when no --model is given")
    p.add_argument("--size", type=size_arg, default="144x96", metavar="WxH", help="input size of that model")
    p.add_argument("--epochs", type=positive_int, default=20,
                   help="epochs of that model (20: the nadir recipe's; ~7 min once on 2 CPU cores)")
    p.add_argument("--photo-size", type=size_arg, default="6000x4000", metavar="WxH", help="photo size")
    p.add_argument("--scale", type=positive_float, default=0.1, help="resize factor before tiling the photo")
    p.add_argument("--batch-size", type=positive_int, default=8, help="windows per forward pass")
    p.add_argument("--thread-counts", type=str, default="1,all", metavar="LIST",
                   help="thread counts compared (engine threads and torch threads), 'all' = usable cores")
    p.add_argument("--tile-repeats", type=positive_int, default=10, help="interleaved rounds of the tile timings")
    p.add_argument("--repeats", type=positive_int, default=3, help="interleaved rounds of the photo timings")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs of the predict command")
    add_common_arguments(p)


def from_args(a: argparse.Namespace, clock: Clock = time.perf_counter) -> Dict[str, Any]:
    """Run :func:`bench_export` with the parsed options of :func:`add_arguments`."""
    return bench_export(model=a.model, export=a.export, arch=a.arch, size=a.size, epochs=a.epochs,
                        photo_size=a.photo_size, scale=a.scale, batch_size=a.batch_size,
                        threads=thread_counts(a.thread_counts), tile_repeats=a.tile_repeats, repeats=a.repeats,
                        memory=not a.no_memory, work=a.work, seed=a.seed, clock=clock)
