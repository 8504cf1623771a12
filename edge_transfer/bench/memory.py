"""Peak resident memory of an engine, measured in a child process so that nothing polls
the timed process. After its imports the child resets the kernel's high-water mark
(``/proc/self/clear_refs``), compiles the model, runs a few requests and reads VmHWM:
the peak of compile + run, and its growth over the imports."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from ..engines import get_engine


def _status_kib(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _child(queue, engine_name, onnx_path, batch_size, cores, torch_factory, input_shape, iterations):
    import numpy as np

    try:
        engine = get_engine(engine_name)
        engine.version()  # import the backend before the baseline is taken
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            pass
        before = _status_kib("VmRSS")
        compiled = engine.compile(onnx_path, batch_size, cores, torch_model=torch_factory)
        x = np.random.default_rng(0).standard_normal((batch_size, *input_shape), dtype=np.float32)
        for _ in range(iterations):
            compiled.run([x])
        queue.put((before / 1024, _status_kib("VmHWM") / 1024))
    except BaseException as exc:
        queue.put(exc)


def peak_rss_mib(engine_name, onnx_path, batch_size, cores, torch_factory, input_shape, iterations: int = 3):
    """Returns ``(rss_mib_before_compile, peak_rss_mib)``, or ``(None, None)`` if the probe failed."""
    ctx = mp.get_context("spawn")  # a fresh interpreter: no memory inherited from the parent
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, engine_name, onnx_path, batch_size, cores, torch_factory, input_shape, iterations))
    proc.start()
    try:
        result = queue.get(timeout=600)
    except Exception:
        result = None
    proc.join(timeout=60)
    if proc.is_alive():
        proc.kill()
    if not isinstance(result, tuple):
        return None, None
    return result
