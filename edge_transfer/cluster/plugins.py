"""Worker plugins (imported only with distributed)."""

from __future__ import annotations

import os

from distributed.diagnostics.plugin import WorkerPlugin


class PinWorkerCPUs(WorkerPlugin):
    """Local worker i runs on its own ``cores`` CPUs, so two cells never share one. Every
    thread of the process is pinned, and threads made later inherit it. A restarted worker
    keeps its name, so it gets the same CPUs back."""

    name = "edge-transfer-pin-cpus"

    def __init__(self, cores: int):
        self.cores = cores

    def setup(self, worker) -> None:
        cpus = sorted(os.sched_getaffinity(0))
        index = int(worker.name) if str(worker.name).isdigit() else 0
        mine = {cpus[(index * self.cores + k) % len(cpus)] for k in range(min(self.cores, len(cpus)))}
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), mine)
            except OSError:  # a thread that ended meanwhile
                pass
