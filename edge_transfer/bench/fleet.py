"""``bench --cluster``: the same bench once on every worker (or on ``--workers``), so a team
sees where a ticket pays off on each kind of device it ships to.

Artifacts travel once per worker, by content hash, straight from the client to that worker
(never through the scheduler), into the worker's cache. A bench task needs the worker's
``bench`` resource and takes a per-host lock before timing, so two timings never share a
machine's cores, even when one host runs several workers."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..cluster import ClusterSpec, open_cluster
from ..cluster.identity import identity
from ..cluster.progress import follow
from ..errors import ClusterError, OptionError
from .options import BenchOptions
from .run import run_bench

FLEET_SCHEMA = "edge-transfer.fleet/1"
RESOURCE = "bench"
CACHE = Path(os.environ.get("EDGE_TRANSFER_CACHE", Path.home() / ".cache" / "edge-transfer")) / "fleet"


@dataclass(frozen=True)
class Artifact:
    """A bench input, packed: its name (what the records call it) and its bytes' hash."""
    name: str
    sha256: str


def pack(path: Path) -> tuple[Artifact, bytes]:
    """A reproducible tar of a folder or one file: same content, same hash."""
    path = Path(path)
    if not path.exists():
        raise OptionError(f"{path} does not exist; give an export folder, INT8 folder, ticket folder or .onnx file")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            info = tarfile.TarInfo(str(Path(path.name) / file.relative_to(path)) if path.is_dir() else path.name)
            info.size, info.mode = file.stat().st_size, 0o644
            with file.open("rb") as f:
                tar.addfile(info, f)
    data = buffer.getvalue()
    return Artifact(path.name, hashlib.sha256(data).hexdigest()), data


def _local(artifact: Artifact) -> Path:
    return CACHE / artifact.sha256 / artifact.name


def cached(artifacts: list[Artifact]) -> list[str]:
    """Runs on a worker: the hashes it already holds."""
    return [a.sha256 for a in artifacts if _local(a).exists()]


def store(artifact: Artifact, data: bytes) -> str:
    """Runs on a worker: check the hash, then unpack into its cache folder atomically."""
    import shutil
    import tempfile

    if hashlib.sha256(data).hexdigest() != artifact.sha256:
        raise ClusterError(f"{artifact.name} arrived damaged (sha256 differs); run the fleet bench again")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=".incoming-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(tmp, filter="data")  # refuses absolute paths and links that leave tmp
        try:
            os.rename(tmp, CACHE / artifact.sha256)
        except OSError:  # another bench of this host stored it meanwhile
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return artifact.sha256


def bench_here(opts: BenchOptions, paths: list[Artifact], baseline: Artifact | None, argv: list[str]) -> dict:
    """Runs on a worker: the bench on its cached artifacts, one bench per host at a time."""
    from distributed import Lock

    opts = replace(opts, paths=tuple(_local(a) for a in paths),
                   baseline=_local(baseline) if baseline is not None else opts.baseline)
    with Lock(f"edge-transfer-bench-{socket.gethostname()}"):
        result = run_bench(opts, argv=argv)
    return {"worker": identity(), "result": result.to_json()}


def _choose(client, workers: dict, wanted: tuple[str, ...] | None) -> list[str]:
    chosen = sorted(workers)
    if wanted:
        by_name = {}
        for address, who in workers.items():
            for name in (address, who["host"]):
                by_name.setdefault(name, []).append(address)
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise OptionError(f"--workers {unknown[0]!r} is not a worker address or host of this cluster; choose from: "
                              f"{', '.join(sorted(by_name))}")
        chosen = sorted({a for w in wanted for a in by_name[w]})
    info = client.scheduler_info()["workers"]
    lacking = [a for a in chosen if not (info.get(a, {}).get("resources") or {}).get(RESOURCE)]
    if lacking:
        raise ClusterError(f"worker {lacking[0]} has no '{RESOURCE}' resource, so its timings could share cores with "
                           f"other work; start bench workers with `dask worker ADDRESS --nthreads 1 --resources "
                           f"{RESOURCE}=1`")
    return chosen


def _ship(client, address: str, packed: dict[Artifact, bytes]) -> int:
    """Send ``address`` the artifacts it lacks; returns how many were sent."""
    have = set(client.submit(cached, list(packed), workers=[address], pure=False).result())
    missing = [a for a in packed if a.sha256 not in have]
    for artifact in missing:
        data = client.scatter(packed[artifact], workers=[address], direct=True)
        client.submit(store, artifact, data, workers=[address], pure=False).result()
    return len(missing)


def run_fleet_bench(opts: BenchOptions, cluster: str, workers: tuple[str, ...] | None = None,
                    log: Callable[[str], None] = lambda _m: None, argv: list[str] | None = None) -> dict:
    """Every chosen worker's bench result and identity (``edge-transfer.fleet/1``)."""
    opts.validate()
    spec = ClusterSpec.parse(cluster)
    paths = [pack(p) for p in opts.paths]
    baseline = pack(Path(opts.baseline)) if opts.baseline != "dense" else None
    packed = dict(paths + ([baseline] if baseline else []))
    started = time.perf_counter()
    with open_cluster(spec, log, resources={RESOURCE: 1}) as (client, identities):
        chosen = _choose(client, identities, workers)
        for address in chosen:
            sent = _ship(client, address, packed)
            log(f"{address}: {sent} of {len(packed)} artifacts sent, {len(packed) - sent} already there")
        futures = {address: client.submit(bench_here, opts, [a for a, _ in paths], baseline and baseline[0],
                                          argv or [], workers=[address], resources={RESOURCE: 1}, pure=False)
                   for address in chosen}
        follow(client, futures, desc="fleet bench")
        benches = [{**futures[a].result(), "address": a} for a in chosen]
    for bench in benches:
        for record in bench["result"]["results"]:
            record.update(_where(bench))
    return {"schema": FLEET_SCHEMA, "cluster": spec.describe(), "command": " ".join(argv or []),
            "seconds": time.perf_counter() - started, "benches": benches}


def _where(bench: dict) -> dict:
    who = bench["worker"]
    return {"host": who["host"], "worker": bench["address"], "cpu_model": who["cpu_model"], "isa_flags": who["isa"],
            "physical_cores": who["physical_cores"]}


def host_label(bench: dict) -> str:
    who = bench["worker"]
    return f"{who['host']} ({bench['address']})"
