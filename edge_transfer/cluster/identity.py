"""What a worker is: its host and CPU (for fleet records) and the edge-transfer it runs (so the
client can refuse a worker whose code differs from its own before any cell runs)."""

from __future__ import annotations

import hashlib
import os
import socket
from functools import lru_cache
from pathlib import Path

from ..system import cpu_model, cpuinfo_field
from .. import __version__
from ..cores import physical_cores

# ISA flags that decide which kernels an engine can use; the rest of /proc/cpuinfo is noise here
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16",
             "avx_vnni", "asimd", "sve")


@lru_cache(maxsize=1)
def source_digest() -> str:
    """Hash of edge-transfer's own source files: two installs with one version string but
    edited code differ here."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".yaml"):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def isa_flags() -> list[str]:
    present = set((cpuinfo_field("flags", "Features") or "").split())  # x86 / arm64
    return [flag for flag in ISA_FLAGS if flag in present]


def identity() -> dict:
    """Runs on a worker (and on the client, to compare)."""
    return {"edge_transfer": __version__, "source": source_digest(), "host": socket.gethostname(),
            "cpu_model": cpu_model(), "isa": isa_flags(), "physical_cores": physical_cores(),
            "usable_cores": len(os.sched_getaffinity(0)), "pid": os.getpid()}


def sees_file(path: str, token: str) -> bool:
    """Runs on a worker: is the client's probe file there, with the client's token?"""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False
