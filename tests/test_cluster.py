"""The study and the fleet bench on dask.distributed: a local:2 cluster gives a serial run's
numbers cell by cell, survives a killed worker, and refuses a cluster it cannot use in one line."""

import json
import os
import shutil
import subprocess
import sys
import time

import psutil
import pytest

from conftest import QUICK_STUDY, assert_one_line_error, run_cli

TIMING_KEYS = ("seconds",)


def _records(path) -> dict:
    """study.json's records by cell, without their timings."""
    runs = json.loads(path.read_text())["runs"]
    keyed = {}
    for r in runs:
        cell = (r["pretraining"], r["source_seed"], r["method"], r["sparsity"], r["mode"])
        assert cell not in keyed, f"cell {cell} recorded twice"
        keyed[cell] = {k: v for k, v in r.items() if k not in TIMING_KEYS}
    return keyed


def test_local_cluster_study_equals_the_serial_run_cell_by_cell(quick_study, tmp_path):
    """The robust arm on the cluster; the killed-worker test below runs the natural one, so the two
    together put both arms' pretrainings, draws and cells on the cluster once each."""
    proc = run_cli(*QUICK_STUDY, "--robust", "pgd", "--cluster", "local:2", "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on local:2" in proc.stdout and "study cells" in proc.stderr  # the one progress bar
    every = _records(quick_study[0] / "out" / "study.json")
    serial = {cell: r for cell, r in every.items() if cell[0] == "pgd"}
    cluster = _records(tmp_path / "out" / "study.json")
    assert len(every) == 12 and len(serial) == 6 and serial.keys() == cluster.keys()
    differ = [cell for cell in serial if serial[cell] != cluster[cell]]
    assert not differ, [(cell, serial[cell], cluster[cell]) for cell in differ]


def _workers(pid: int) -> list:
    """The local cluster's worker processes (spawned by its nannies)."""
    return [p for p in psutil.Process(pid).children(recursive=True)
            if any("spawn_main" in part or "forkserver" in part for part in p.cmdline())]


def test_a_worker_killed_mid_cell_is_replaced_and_every_cell_is_there_once(quick_study, tmp_path):
    cmd = [sys.executable, "-m", "edge_transfer.cli.main", *QUICK_STUDY, "--robust", "natural", "--methods", "omp",
           "--cluster", "local:2", "--output", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, deadline = None, time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        if not (tmp_path / "out").is_dir():  # made once the workers have started and been checked
            time.sleep(0.2)
            continue
        for worker in _workers(proc.pid):
            try:
                if worker.cpu_percent(interval=0.3) > 50:  # busy: a cell is running in it
                    worker.kill()
                    killed = worker.pid
                    break
            except psutil.NoSuchProcess:
                pass
    out, err = proc.communicate(timeout=600)
    assert killed is not None, "no busy worker was found to kill"
    assert proc.returncode == 0, err[-3000:]
    cluster = _records(tmp_path / "out" / "study.json")
    serial = {cell: r for cell, r in _records(quick_study[0] / "out" / "study.json").items()
              if cell[0] == "natural" and cell[2] != "imp"}
    assert "left; the cells it was running go to another worker" in err
    assert len(cluster) == len(serial) >= 2 and cluster == serial


def _scheduler(tmp_path):
    info = tmp_path / "scheduler.json"
    proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(info)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if info.is_file() and info.stat().st_size:
            return proc, json.loads(info.read_text())["address"]
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the dask scheduler did not start")


def _worker(address, cwd, env=None, prefix=()):
    # cwd: `python -m` puts it first on sys.path, and the repository's own package must not win
    return subprocess.Popen([*prefix, sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                             "--no-dashboard"], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(*procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def test_a_worker_with_other_code_is_refused_at_connect(tmp_path):
    import edge_transfer

    other = tmp_path / "other"
    shutil.copytree(os.path.dirname(edge_transfer.__file__), other / "edge_transfer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with (other / "edge_transfer" / "cluster" / "identity.py").open("a") as f:
        f.write("\n# edited\n")
    scheduler, address = _scheduler(tmp_path)
    worker = _worker(address, tmp_path, env={**os.environ, "PYTHONPATH": str(other)})
    try:
        line = assert_one_line_error(run_cli(*QUICK_STUDY, "--cluster", address, "--output", tmp_path / "s"),
                                     "runs edge-transfer", "install the client's edge-transfer on every worker")
        assert "source" in line
    finally:
        _stop(worker, scheduler)
    assert not (tmp_path / "s").exists()


def test_a_worker_that_cannot_see_the_output_folder_is_refused(tmp_path):
    hidden = tmp_path / "shared"
    hidden.mkdir()
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare cannot make a private mount namespace here")
    scheduler, address = _scheduler(tmp_path)
    # the worker runs where an empty tmpfs hides the folder, as on a host without the shared mount
    worker = _worker(address, tmp_path, prefix=("unshare", "-rm", "sh", "-c", f'mount -t tmpfs none {hidden} && exec "$0" "$@"'))
    try:
        assert_one_line_error(run_cli(*QUICK_STUDY, "--cluster", address, "--output", hidden / "study"),
                              "cannot see", "every worker mounts at the same path")
    finally:
        _stop(worker, scheduler)


@pytest.mark.parametrize("cluster, fragments", [
    ("local:0", ["local:N needs N >= 1"]),
    ("tcp://127.0.0.1:9", ["no dask scheduler answered at tcp://127.0.0.1:9 within", "dask scheduler"]),
    ("nowhere", ["neither local:N nor a scheduler address"]),
])
def test_study_cluster_bad_input(tmp_path, cluster, fragments):
    assert_one_line_error(run_cli(*QUICK_STUDY, "--cluster", cluster, "--output", tmp_path / "s"), *fragments)
    assert not (tmp_path / "s").exists()


def test_fleet_bench_on_local_cluster_gives_a_record_per_worker(small_export, tmp_path):
    out = tmp_path / "fleet.json"
    proc = run_cli("bench", small_export.path, "--cluster", "local:2", "--engine", "onnxruntime", "--batch-size", "1",
                   "--time", "0.2", "--warmup", "0", "--repeats", "1", "--min-iterations", "5", "--no-memory",
                   "--no-int8-peers", "--json", out, "--plot", tmp_path / "fleet.png", "--markdown", tmp_path / "fleet.md")
    assert proc.returncode == 0, proc.stderr[-3000:]
    fleet = json.loads(out.read_text())
    assert fleet["schema"] == "edge-transfer.fleet/1" and len(fleet["benches"]) == 2
    workers = {b["address"] for b in fleet["benches"]}
    assert len(workers) == 2
    for bench in fleet["benches"]:
        records = bench["result"]["results"]
        assert {r["variant"] for r in records} >= {"ticket", "dense"}
        for r in records:
            assert r["worker"] == bench["address"] and r["host"] and r["cpu_model"] and r["physical_cores"] >= 1
            assert isinstance(r["isa_flags"], list)
    # the artifact reached the host once: the second worker found it in the host's cache
    sent = [line for line in proc.stderr.splitlines() if "artifacts sent" in line]
    assert len(sent) == 2 and sum(line.split(": ")[1].startswith("1 of") for line in sent) <= 1
    assert proc.stdout.count("speedup over it") == 2  # one table per worker
    assert (tmp_path / "fleet.png").stat().st_size > 0 and "## " in (tmp_path / "fleet.md").read_text()


def test_fleet_bench_refuses_a_worker_without_the_bench_resource(small_export, tmp_path):
    scheduler, address = _scheduler(tmp_path)
    worker = _worker(address, tmp_path)
    try:
        assert_one_line_error(run_cli("bench", small_export.path, "--cluster", address, "--engine", "onnxruntime"),
                              "has no 'bench' resource", "--resources bench=1")
    finally:
        _stop(worker, scheduler)


def test_fleet_bench_bad_input(small_export):
    assert_one_line_error(run_cli("bench", small_export.path, "--workers", "a"), "--workers", "--cluster")
    assert_one_line_error(run_cli("bench", small_export.path, "--cluster", "local:1", "--workers", "nohost"),
                          "--workers 'nohost' is not a worker")
