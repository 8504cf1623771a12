"""A description of the machine and library versions, recorded beside every result."""

from __future__ import annotations

import os
import platform

from . import __version__
from .interrupts import native_section


def cpuinfo_field(*names: str) -> str | None:
    """The first /proc/cpuinfo line starting with one of ``names``, after its colon; None
    where there is no such file or line."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(names):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return cpuinfo_field("model name") or platform.processor() or "unknown"


def system_info() -> dict:
    import psutil

    info = {
        "cpu_model": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "edge_transfer": __version__,
    }
    with native_section():  # importing DeepSparse loads its native engine
        for module in ("torch", "onnx", "onnxruntime", "deepsparse", "numpy"):
            try:
                info[module] = __import__(module).__version__
            except ImportError:
                info[module] = None
        try:
            from deepsparse.cpu import cpu_architecture

            arch = cpu_architecture()
            info["isa"] = arch.isa
            info["vnni"] = bool(arch.vnni)
        except Exception:  # DeepSparse probes the CPU natively; a failure just leaves these out.
            info["isa"] = None
    return info
