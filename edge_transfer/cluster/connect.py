"""Open a dask cluster for a study or a fleet bench: ``local:N`` starts N worker processes
here, anything else is a running scheduler's address. Every failure to get a usable
cluster is one ``ClusterError`` line, raised before any work is sent."""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..cores import usable_cores
from ..errors import ClusterError, OptionError
from .identity import identity, sees_file

LOCAL_PREFIX = "local:"
SCHEMES = ("tcp", "tls")  # distributed's network transports for a scheduler address
CONNECT_TIMEOUT_S = 10.0
# a cell whose worker dies is rescheduled on another worker this many times before the study
# gives up on it (dask's own retry of lost work; a Python error in a cell is not retried)
ALLOWED_FAILURES = 3


@dataclass(frozen=True)
class ClusterSpec:
    local_workers: int | None = None  # local:N
    address: str | None = None  # a running scheduler

    @classmethod
    def parse(cls, text: str) -> "ClusterSpec":
        text = text.strip()
        if text.startswith(LOCAL_PREFIX):
            count = text[len(LOCAL_PREFIX):]
            if not count.isdigit() or int(count) < 1:
                raise OptionError(f"--cluster {text}: local:N needs N >= 1 worker processes, e.g. local:2")
            return cls(local_workers=int(count))
        host = text.split("://", 1)[-1]
        if not text or ":" not in host or not host.rsplit(":", 1)[1].isdigit():
            raise OptionError(f"--cluster {text!r} is neither local:N nor a scheduler address such as "
                              f"tcp://host:8786")
        scheme = text.split("://", 1)[0] if "://" in text else "tcp"
        if scheme not in SCHEMES:
            raise OptionError(f"--cluster {text}: a dask scheduler is reached over {' or '.join(SCHEMES)}, not "
                              f"{scheme}://; give e.g. tcp://host:8786")
        return cls(address=text if "://" in text else f"tcp://{text}")

    def describe(self) -> str:
        return f"local:{self.local_workers}" if self.local_workers else str(self.address)


def local_cores(spec: ClusterSpec | None, requested: int | None) -> int:
    """Cores of one cell: what was asked, else this machine's cores shared between the local
    workers (so N workers never oversubscribe it), else one per remote worker."""
    if requested:
        return requested
    if spec is None:
        return usable_cores()
    if spec.local_workers:
        return max(1, usable_cores() // spec.local_workers)
    return 1


def _start_local(workers: int, resources: dict | None):
    import dask
    from distributed import LocalCluster

    # not daemonic: a cell may start processes of its own (data loaders, engines)
    with dask.config.set({"distributed.worker.daemon": False,
                          "distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        # CRITICAL: a cell's error reaches the user as one line; the workers' "Compute Failed" dump
        # (logged at ERROR with the task's repr and traceback) would print 9 lines before it
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            silence_logs=logging.CRITICAL, resources=resources, scheduler_port=0)


def _connect_remote(address: str):
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"no dask scheduler answered at {address} within {CONNECT_TIMEOUT_S:g} s "
                           f"({type(exc).__name__}); start one with `dask scheduler` and workers with "
                           f"`dask worker {address}`, or use --cluster local:N") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(f"the scheduler at {address} has no workers after {CONNECT_TIMEOUT_S:g} s; start them "
                           f"with `dask worker {address} --nthreads 1`") from None
    return client


def check_workers(client) -> dict[str, dict]:
    """Every worker must run the client's edge-transfer (same version, same source) and dask."""
    mine = identity()
    try:
        client.get_versions(check=True)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ClusterError(f"the workers' packages differ from the client's ({first}); install the same dask, "
                           f"distributed and python on every worker") from None
    try:
        found = client.run(identity, on_error="return")
    except Exception as exc:  # the function cannot even be unpickled there
        found = {"a worker": exc}
    for address, who in sorted(found.items()):
        if isinstance(who, BaseException):
            raise ClusterError(f"worker {address} cannot run edge-transfer ({type(who).__name__}: {who}); install "
                               f"edge-transfer {mine['edge_transfer']} (the client's) on every worker")
        if (who["edge_transfer"], who["source"]) != (mine["edge_transfer"], mine["source"]):
            raise ClusterError(f"worker {address} ({who['host']}) runs edge-transfer {who['edge_transfer']} (source "
                               f"{who['source']}) but the client runs {mine['edge_transfer']} (source {mine['source']}); "
                               f"install the client's edge-transfer on every worker and restart it")
    return found


def check_shared_folder(client, folder: Path) -> None:
    """Workers write tickets and evaluations under ``folder``: each must see the client's files there."""
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = folder / f".cluster-probe-{token}"
    probe.write_text(token)
    try:
        seen = client.run(sees_file, str(probe), token)
    finally:
        probe.unlink(missing_ok=True)
    blind = sorted(address for address, ok in seen.items() if not ok)
    if blind:
        raise ClusterError(f"worker {blind[0]} cannot see {folder} ({len(blind)} of {len(seen)} workers): the output "
                           f"folder must be on a filesystem every worker mounts at the same path; pass such a path "
                           f"as --output")


@contextmanager
def open_cluster(spec: ClusterSpec, log: Callable[[str], None] = lambda _m: None, *, resources: dict | None = None,
                 pin_cores: int | None = None) -> Iterator:
    """``(client, workers)``: a checked ``distributed.Client`` and each worker's identity by
    address (see ``check_workers``); a local cluster is shut down on exit."""
    cluster = None
    if spec.local_workers:
        cluster = _start_local(spec.local_workers, resources)
        from distributed import Client

        client = Client(cluster)
    else:
        client = _connect_remote(spec.address)
    try:
        if pin_cores and cluster is not None:
            from .plugins import PinWorkerCPUs

            client.register_plugin(PinWorkerCPUs(pin_cores))
        workers = check_workers(client)
        log(f"cluster {spec.describe()}: {len(workers)} workers on "
            f"{len({w['host'] for w in workers.values()})} host(s), edge-transfer {next(iter(workers.values()))['edge_transfer']}")
        yield client, workers
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
