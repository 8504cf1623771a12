"""The bench's measurement rules, each tested on small models and fake engines."""

import json
import os
import statistics

import numpy as np
import pytest

from conftest import assert_one_line_error, run_cli
from edge_transfer.bench import BenchOptions, run_bench
from edge_transfer.bench.timing import latency_stats_ms, time_async, time_sync
from edge_transfer.engines import get_engine, list_engines, register_engine
from edge_transfer.errors import OptionError, UnknownNameError
from fake_engines import SleepModel

FAST = dict(time_s=0.05, warmup_s=0.0, min_iterations=2, repeats=2, memory=False)


def test_engine_registry():
    assert {"deepsparse", "onnxruntime", "torch"} <= set(list_engines())
    with pytest.raises(UnknownNameError, match="choose from: .*deepsparse.*onnxruntime.*torch"):
        get_engine("tensorrt")


def test_every_engine_gets_the_same_cores(small_export):
    from edge_transfer.bench.targets import resolve_path

    target = resolve_path(small_export.path, "model.onnx", None, small_export.path, print)
    for name, key in (("onnxruntime", "intra_op_threads"), ("deepsparse", "num_cores"), ("torch", "threads")):
        compiled = get_engine(name).compile(target.model.onnx_path, 2, 1, torch_model=target.model.torch_factory())
        assert compiled.settings[key] == 1, (name, compiled.settings)


def test_cores_are_pinned_and_clamped():
    from edge_transfer.cores import physical_cores, pin_cores, pinned

    original = os.sched_getaffinity(0)
    try:
        with pytest.warns(UserWarning, match="exceeds"):
            setting = pin_cores(physical_cores() + 10)
        assert setting.clamped and setting.cores == min(physical_cores(), len(original))
        assert os.sched_getaffinity(0) == set(setting.cpu_ids) and len(setting.cpu_ids) == setting.cores
        one = pin_cores(1)
        assert not one.clamped and len(os.sched_getaffinity(0)) == 1
    finally:
        os.sched_setaffinity(0, original)
    with pinned(1) as setting:
        assert len(os.sched_getaffinity(0)) == 1 == setting.cores
    assert os.sched_getaffinity(0) == original  # a library call leaves the process as it was


def test_sync_loop_meets_time_and_count():
    model = SleepModel(0.005)
    t = time_sync(model, [None], batch_size=4, seconds=0.1, min_iterations=3, warmup_s=0.02, warmup_iterations=2)
    assert len(t.latencies_s) >= 3 and t.wall_s >= 0.1
    assert model.calls >= len(t.latencies_s) + 2  # warm-up ran and was not timed
    assert t.items == 4 * len(t.latencies_s)
    assert t.items_per_sec == pytest.approx(t.items / t.wall_s)
    t = time_sync(SleepModel(0.005), [None], batch_size=1, seconds=0.001, min_iterations=25, warmup_s=0)
    assert len(t.latencies_s) == 25  # the count goal binds when the time goal is short


@pytest.mark.parametrize("streams", [2, 3])
def test_async_runs_concurrently_and_ends_on_whole_rounds(streams):
    model = SleepModel(0.01)
    t = time_async(model, [None], batch_size=2, streams=streams, seconds=0.15, min_iterations=5, warmup_s=0)
    assert len(t.latencies_s) % streams == 0 and len(t.latencies_s) >= 5
    assert model.max_active == streams
    # Concurrency shows in throughput: well above one request at a time.
    assert t.items_per_sec > 1.5 * 2 / 0.01


def test_latency_stats_match_numpy():
    lat = list(np.random.default_rng(0).uniform(0.001, 0.01, 101))
    stats = latency_stats_ms(lat)
    ms = np.array(lat) * 1e3
    assert stats["latency_ms_p99"] == pytest.approx(np.percentile(ms, 99))
    assert stats["latency_ms_median"] == pytest.approx(np.median(ms))
    assert stats["latency_ms_std"] == pytest.approx(ms.std(ddof=1))
    assert stats["latency_ms_min"] == pytest.approx(ms.min()) and stats["latency_ms_max"] == pytest.approx(ms.max())


def test_bench_export_folder_records(small_export):
    logs = []
    result = run_bench(BenchOptions(paths=(small_export.path,), batch_sizes=(1, 2), cores=1, native_check=True,
                                    engines=("deepsparse", "onnxruntime", "torch"), int8_peers=False, **FAST),
                       log=logs.append)
    records = result.records
    assert len(records) == 2 * 3 * 2  # (ticket, dense) x engines x batches
    required = {"engine", "model", "sparsity", "batch_size", "cores", "scenario", "items_per_sec", "latency_ms_p50",
                "latency_ms_p99", "speedup", "speedup_min", "speedup_max", "ideal_speedup", "valid"}
    for r in records:
        assert required <= set(r)
        assert r["valid"] and r["cores"] == 1 and r["repeats"] == 2 and r["iterations"] >= 4
        assert r["reference"] == "torch"  # the ticket is known
        if r["variant"] == "dense":
            assert r["speedup"] is None and r["speedup_min"] is None and r["ideal_speedup"] is None
        else:
            assert r["speedup_min"] <= r["speedup"] <= r["speedup_max"]
            assert r["ideal_speedup"] > 1 and r["efficiency"] == pytest.approx(r["speedup"] / r["ideal_speedup"])
    ds = [r for r in records if r["engine"] == "deepsparse"]
    assert all(r["fraction_of_supported_ops"] == 1.0 and r["native_items_per_sec"] > 0 for r in ds)
    # Every configuration ran once per repeat, and the two repeats ran in different orders.
    timed = [line for line in logs if line.startswith("[")]
    assert len(timed) == 24
    first = [line.split(" ", 3)[3] for line in timed[:12]]
    second = [line.split(" ", 3)[3] for line in timed[12:]]
    key = lambda line: line.split(":")[0]  # noqa: E731
    assert sorted(map(key, first)) == sorted(map(key, second)) and list(map(key, first)) != list(map(key, second))


def test_speedup_is_the_median_of_repeat_pairs():
    from types import SimpleNamespace

    from edge_transfer.cores import CoreSetting
    from edge_transfer.bench.records import aggregate
    from edge_transfer.bench.targets import BenchModel, BenchTarget

    sparse = BenchModel("s", __import__("pathlib").Path("s.onnx"), (3, 8, 8), 0.9, 4.0, True)
    dense = BenchModel("d", __import__("pathlib").Path("d.onnx"), (3, 8, 8), 0.0, 1.0, True, variant="dense")

    def run(ips):
        return {"items_per_sec": ips, "latencies": [0.01], "compile_s": 0.1, "first_inference_ms": 1.0,
                "max_rel_diff": 0.0, "reference": "torch", "settings": {}, "streams": 1}

    runs = {("s.onnx", "e", 1): [run(30), run(10), run(40)], ("d.onnx", "e", 1): [run(10), run(10), run(10)]}
    opts = SimpleNamespace(scenario="sync", tolerance=1e-3, time_s=1, warmup_s=0, min_iterations=1, seed=0)
    records = aggregate([BenchTarget(sparse, dense)], [(dense, "e", 1), (sparse, "e", 1)], runs, {}, opts,
                        CoreSetting(2, 2, False, (0, 1)), {"e": "1"})
    rec = next(r for r in records if r["model"] == "s")
    # Pairs are 3.0, 1.0, 4.0: median 3.0 (not the ratio of medians, 30/10 = 3.0, nor the mean 2.67).
    assert (rec["speedup"], rec["speedup_min"], rec["speedup_max"]) == (3.0, 1.0, 4.0)
    assert rec["efficiency"] == pytest.approx(0.75) and rec["items_per_sec"] == statistics.median([30, 10, 40])


def test_int8_efficiency_and_a_speed_targets_prediction_are_over_the_dense_model_of_its_own_precision():
    """An INT8 speed-target ticket timed (fake runs of known speed) beside the FP32 and INT8 dense
    models: its efficiency and its prediction error use the INT8 dense model, the speedup column
    the FP32 baseline. The prediction is recorded only on the engine and batch it was made for."""
    from pathlib import Path
    from types import SimpleNamespace

    from edge_transfer.bench.records import aggregate
    from edge_transfer.bench.targets import BenchModel, BenchTarget, Prediction
    from edge_transfer.cores import CoreSetting

    predicted = Prediction(speedup=2.5, engine="e", batch_size=1, cores=4, precision="int8")
    ticket = BenchModel("t", Path("t.onnx"), (3, 8, 8), 0.9, 4.0, True, precision="int8", prediction=predicted)
    fp32 = BenchModel("d", Path("d.onnx"), (3, 8, 8), 0.0, 1.0, True, variant="dense")
    int8 = BenchModel("q", Path("q.onnx"), (3, 8, 8), 0.0, 1.0, True, variant="dense", precision="int8")

    def run(ips):
        return {"items_per_sec": ips, "latencies": [1 / ips], "compile_s": 0.1, "first_inference_ms": 1.0,
                "max_rel_diff": 0.0, "reference": "ort", "settings": {}, "streams": 1}

    runs = {(f"{m}.onnx", "e", b): [run(v * b)] for m, v in (("t", 60.0), ("d", 10.0), ("q", 30.0)) for b in (1, 64)}
    opts = SimpleNamespace(scenario="sync", tolerance=1e-3, time_s=1, warmup_s=0, min_iterations=1, seed=0)
    configs = [(m, "e", b) for m in (fp32, int8, ticket) for b in (1, 64)]
    records = aggregate([BenchTarget(ticket, fp32, (int8,))], configs, runs, {}, opts, CoreSetting(2, 2, False, (0, 1)),
                        {"e": "1"})
    b1 = next(r for r in records if r["model"] == "t" and r["batch_size"] == 1)
    assert b1["speedup"] == pytest.approx(6.0)  # over dense FP32, as the column says
    assert b1["efficiency"] == pytest.approx(2.0 / 4.0)  # over dense INT8 (2x), not 6x / 4 = 150%
    assert b1["predicted_speedup"] == 2.5 and b1["prediction_error"] == pytest.approx(2.0 / 2.5 - 1)
    assert b1["prediction_cores"] == 4
    b64 = next(r for r in records if r["model"] == "t" and r["batch_size"] == 64)
    assert "predicted_speedup" not in b64  # the profile answers for batch 1 only


def test_mismatching_engine_is_invalid_and_exits_nonzero(small_export, capsys):
    from edge_transfer.cli.main import main

    register_engine("offbyone", "fake_engines:OffByOneEngine")
    args = ["bench", str(small_export.path), "--engine", "offbyone,onnxruntime", "--batch-size", "1", "--time", "0.01",
            "--warmup", "0", "--min-iterations", "2", "--repeats", "1", "--no-memory", "--quiet"]
    assert main(args) == 1
    out = capsys.readouterr()
    assert "INVALID" in out.out and "--allow-mismatch" in out.err
    assert main(args + ["--allow-mismatch"]) == 0


def test_bare_onnx_file(small_export, tmp_path):
    import onnx

    result = run_bench(BenchOptions(paths=(small_export.path / "model.onnx",), batch_sizes=(2,), cores=1,
                                    engines=("deepsparse", "onnxruntime", "torch"), **FAST))
    assert {r["engine"] for r in result.records} == {"deepsparse", "onnxruntime"}
    assert any("torch skipped" in note for note in result.notes)
    assert all(r["reference"] == "onnxruntime" and r["speedup"] is None for r in result.records)
    # A graph with a dynamic spatial size needs --input-shape.
    model = onnx.load(str(small_export.path / "model.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    onnx.save(model, str(tmp_path / "dyn.onnx"))
    with pytest.raises(OptionError, match="--input-shape"):
        run_bench(BenchOptions(paths=(tmp_path / "dyn.onnx",), batch_sizes=(1,), **FAST))


def test_explicit_baseline_path(small_export):
    result = run_bench(BenchOptions(paths=(small_export.path / "model.onnx",), baseline=small_export.path / "dense",
                                    engines=("onnxruntime",), batch_sizes=(1,), cores=1, **FAST))
    sparse = next(r for r in result.records if r["variant"] == "onnx")
    assert sparse["baseline"] and sparse["speedup"] is not None


def test_memory_probe(small_export):
    result = run_bench(BenchOptions(paths=(small_export.path,), engines=("onnxruntime",), batch_sizes=(2,), cores=1,
                                    **{**FAST, "memory": True}))
    for r in result.records:
        assert r["peak_rss_mib"] >= r["rss_before_compile_mib"] > 0 and r["engine_rss_mib"] > 0


def test_cli_outputs_and_compare(small_export, tmp_path):
    out = {ext: tmp_path / f"run.{ext}" for ext in ("json", "csv", "md", "png")}
    args = ["bench", small_export.path, "--engine", "onnxruntime,deepsparse", "--batch-size", "1", "--cores", "1",
            "--time", "0.05", "--warmup", "0", "--min-iterations", "2", "--repeats", "2", "--no-memory", "--quiet",
            "--no-int8-peers"]
    proc = run_cli(*args, "--json", out["json"], "--csv", out["csv"], "--markdown", out["md"], "--plot", out["png"])
    assert proc.returncode == 0, proc.stderr
    assert "speedup" in proc.stdout and "untrained weights: speed only" in proc.stdout
    data = json.loads(out["json"].read_text())
    assert data["schema"] == "edge-transfer.bench/1" and "edge-transfer bench" in data["command"]
    assert data["system"]["cores"] == 1 and data["system"]["engine_versions"]["deepsparse"] == "1.8.0"
    assert len(data["results"]) == 4
    assert out["csv"].read_text().splitlines()[0].startswith("engine,")
    assert "| engine |" in out["md"].read_text()
    assert out["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = run_cli("bench", "--compare", out["json"], out["json"])
    assert proc.returncode == 0 and proc.stdout.count("1.000") == 4


BAD = [
    (["--batch-size", "0"], "--batch-size"),
    (["--time", "0"], "--time"),
    (["--cores", "0"], "--cores"),
    (["--engine", "tensorrt"], "unknown engine"),
]


@pytest.mark.parametrize("args, fragment", BAD, ids=[a[0] for a, _ in BAD])
def test_bad_options(small_export, args, fragment):
    assert_one_line_error(run_cli("bench", small_export.path, *args), fragment)


def test_bad_models(tmp_path, small_export):
    import shutil

    assert_one_line_error(run_cli("bench", tmp_path / "missing.onnx"), "not found")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x12\x34 not onnx" * 40)
    assert_one_line_error(run_cli("bench", corrupt, "--engine", "onnxruntime"), "not a readable ONNX model")
    broken = tmp_path / "broken"
    shutil.copytree(small_export.path, broken)
    (broken / "model.onnx").unlink()
    assert_one_line_error(run_cli("bench", broken), "model.onnx", "missing")


def test_async_scenario_through_run_bench(small_export):
    result = run_bench(BenchOptions(paths=(small_export.path,), engines=("onnxruntime", "deepsparse"), batch_sizes=(2,),
                                    cores=2, scenario="async", streams=2, **FAST))
    for r in result.records:
        assert r["scenario"] == "async" and r["streams"] == 2 and r["valid"]
        assert r["iterations"] % 2 == 0  # whole rounds in every repeat


def test_embedded_default_set(tmp_path):
    from edge_transfer.bench.made import default_targets

    targets = default_targets(tmp_path, "model.onnx", lambda _m: None, arch="resnet18-cifar", int8=False)
    assert [round(t.model.sparsity, 2) for t in targets] == [0.8, 0.9, 0.95]
    assert len({t.baseline.onnx_path for t in targets}) == 1 and targets[0].baseline.sparsity == 0.0
    assert all(t.model.untrained and t.model.ideal_speedup > 1 for t in targets)


def test_fastest_dense_peer_on_fake_engines_with_known_speeds(small_export):
    """Two fake engines (ONNX Runtime's outputs, fixed time per call): every ticket row's
    headline speedup is over the dense model on the fast engine, whichever precision, and
    equals the ratio of the two rows' measured speeds."""
    register_engine("fast", "fake_engines:FastEngine")
    register_engine("slow", "fake_engines:SlowEngine")
    result = run_bench(BenchOptions(paths=(small_export.path,), batch_sizes=(1,), cores=1, engines=("slow", "fast"),
                                    memory=False, time_s=0.2, warmup_s=0, min_iterations=5, repeats=1))
    records = result.records
    assert {(r["variant"], r["precision"]) for r in records} == {("ticket", "fp32"), ("dense", "fp32"), ("dense", "int8")}
    dense_fast = [r for r in records if r["variant"] == "dense" and r["engine"] == "fast"]
    best = max(dense_fast, key=lambda r: r["items_per_sec"])
    for r in records:
        if r["variant"] == "dense":
            assert r["speedup_vs_best_dense"] is None
            continue
        assert r["best_dense_peer"] == f"fast {best['model']}"
        assert r["speedup_vs_best_dense"] == pytest.approx(r["items_per_sec"] / best["items_per_sec"])
    slow = next(r for r in records if r["variant"] == "ticket" and r["engine"] == "slow")
    assert slow["speedup_vs_best_dense"] < 0.5 and slow["speedup"] == pytest.approx(1.0, rel=0.5)
    from edge_transfer.bench.report import headline_rows

    (row,) = headline_rows(records)
    assert row[3] == "fast" and row[5] == f"fast {best['model']}"


def test_ticket_engines_limit_tickets_not_dense_peers(small_export):
    """--ticket-engines fast: the ticket runs only on the fast engine, every dense model
    still runs on both; an engine outside --engine is refused before anything runs."""
    register_engine("fast", "fake_engines:FastEngine")
    register_engine("slow", "fake_engines:SlowEngine")
    opts = BenchOptions(paths=(small_export.path,), batch_sizes=(1,), cores=1, engines=("slow", "fast"),
                        ticket_engines=("fast",), memory=False, time_s=0.05, warmup_s=0, min_iterations=2, repeats=1,
                        int8_peers=False)
    records = run_bench(opts).records
    assert sorted((r["variant"], r["engine"]) for r in records) == [("dense", "fast"), ("dense", "slow"),
                                                                    ("ticket", "fast")]
    for bad in (("onnxruntime",), ()):
        with pytest.raises(OptionError, match="--ticket-engines"):
            run_bench(BenchOptions(paths=(small_export.path,), engines=("slow", "fast"), ticket_engines=bad))


def test_bench_and_deploy_report_the_same_speedup_for_the_same_pair(small_export):
    """One A/B estimator (bench.timing.paired_ratio over alternated pairs): on an engine of
    known speeds (the dense graph 3x slower per call), bench's ticket-over-baseline speedup and
    deploy's latency and throughput speedups of the same two graphs agree with 3x and with
    each other."""
    import numpy as np

    from edge_transfer.deploy.build import THROUGHPUT_BATCH, _time_pair

    register_engine("byfile", "fake_engines:ByFileEngine")
    result = run_bench(BenchOptions(paths=(small_export.path,), batch_sizes=(1,), cores=1, engines=("byfile",),
                                    memory=False, time_s=0.3, warmup_s=0, min_iterations=5, repeats=3))
    (ticket,) = [r for r in result.records if r["variant"] == "ticket"]
    sparse, dense = small_export.path / "model.onnx", small_export.path / "dense" / "model.onnx"
    from edge_transfer.export.resolve import read_manifest

    example = np.zeros((1, *read_manifest(small_export.path).input_size), dtype=np.float32)
    timing = _time_pair(sparse, dense, "byfile", 1, 0.6, example)
    figures = [ticket["speedup"], timing["speedup_p50"], timing[f"batch_{THROUGHPUT_BATCH}"]["speedup"]]
    assert all(f == pytest.approx(3.0, rel=0.2) for f in figures), figures
    assert max(figures) / min(figures) < 1.25, figures
    assert ticket["speedup_min"] <= ticket["speedup"] <= ticket["speedup_max"]
    assert timing["speedup_p50_min"] <= timing["speedup_p50"] <= timing["speedup_p50_max"]
