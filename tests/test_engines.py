"""The engine protocol, held by every registered engine on a tiny conv net; OpenVINO's own promises."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from edge_transfer.engines import get_engine, list_engines, static_shape
from edge_transfer.tolerances import FP32_TOLERANCE as RTOL  # the bench's own tolerance

ENGINES = list_engines()
COMMON_SETTINGS = {"cores", "streams", "batch_size", "output_shape"}
CI_MARKERS = ("CI", "TF_BUILD", "JENKINS_URL")  # what openvino_telemetry's OptInChecker._run_in_ci reads


def _tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, stride=2), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(16, 10),
    ).eval()


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("engines") / "tiny.onnx"
    torch.onnx.export(_tiny_net(), torch.randn(1, 3, 16, 16), str(path), dynamo=False, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def _reference(x):
    with torch.inference_mode():
        return _tiny_net()(torch.from_numpy(x)).numpy()


def _rel(got, expected):
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def _compile(name, path, batch_size=2, num_cores=1, streams=1, precision_hint="f32"):
    engine = get_engine(name)
    if hasattr(engine, "precision_hint"):
        engine.precision_hint = precision_hint  # full precision for the 1e-3 parity check
    return engine.compile(path, batch_size, num_cores, streams=streams,
                          torch_model=_tiny_net if engine.needs_torch_model else None)


@pytest.mark.parametrize("name", ENGINES)
def test_engine_declares_its_capabilities(name):
    engine = get_engine(name)
    assert engine.name == name
    assert isinstance(engine.precisions, tuple) and engine.precisions
    assert set(engine.precisions) <= {"fp32", "int8"}
    assert (engine.int8_form is None) == ("int8" not in engine.precisions)
    assert engine.int8_form in (None, "qdq", "deepsparse")
    assert isinstance(engine.needs_torch_model, bool)
    assert isinstance(engine.native_benchmark, bool) and isinstance(engine.layer_timing, bool)
    version = engine.version()
    assert isinstance(version, str) and version.strip()


@pytest.mark.parametrize("name", ENGINES)
def test_engine_matches_torch_at_a_fixed_batch(name, tiny_onnx):
    compiled = _compile(name, tiny_onnx)
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16), dtype=np.float32)
    (out,) = compiled.run([x])
    expected = _reference(x)
    assert out.shape == expected.shape
    assert _rel(out, expected) <= RTOL, (name, _rel(out, expected))
    settings = compiled.settings
    assert COMMON_SETTINGS <= set(settings), (name, settings)
    assert settings["cores"] == 1 and settings["streams"] == 1 and settings["batch_size"] == 2
    assert settings["output_shape"] in (None, [2, 10])


def test_static_shape():
    assert static_shape(["batch", 10], 4) == [4, 10]
    assert static_shape([None, 10], 4) == [4, 10]
    assert static_shape([2, None]) is None and static_shape(None) is None and static_shape([2, "n"], 2) is None
    assert static_shape((np.int64(2), 10)) == [2, 10]


def test_openvino_records_what_ran(tiny_onnx):
    settings = _compile("openvino", tiny_onnx).settings
    assert settings["performance_hint"] == "LATENCY"
    assert settings["num_streams"] == 1 and settings["inference_num_threads"] == 1
    assert settings["inference_precision"] == "f32"  # as asked
    default = _compile("openvino", tiny_onnx, precision_hint=None).settings
    assert default["inference_precision"] in ("f32", "bf16")  # OpenVINO's own choice, recorded
    assert settings["output_shape"] == [2, 10]
    streams = _compile("openvino", tiny_onnx, num_cores=2, streams=2).settings
    assert streams["performance_hint"] == "THROUGHPUT" and streams["streams"] == 2
    assert streams["inference_num_threads"] == 2 and 1 <= streams["num_streams"] <= 2  # read back, not assumed


def test_openvino_runs_from_two_threads_at_once(tiny_onnx):
    compiled = _compile("openvino", tiny_onnx, num_cores=2, streams=2)
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((2, 3, 16, 16), dtype=np.float32) for _ in range(2)]
    expected = [_reference(x) for x in batches]
    start, errors = threading.Barrier(2), []

    def work(i):
        start.wait()
        for _ in range(20):
            (out,) = compiled.run([batches[i]])
            if _rel(out, expected[i]) > RTOL:
                errors.append((i, _rel(out, expected[i])))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    first = compiled.run([batches[0]])[0]
    compiled.run([batches[1]])
    np.testing.assert_allclose(first, expected[0], rtol=0, atol=RTOL * np.abs(expected[0]).max())  # a copy, not a view


def test_openvino_telemetry_is_declined(monkeypatch, tmp_path):
    """The switch, read through openvino_telemetry's own consent check (what ovc's init calls), without sending."""
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

    import edge_transfer.engines.openvino_engine  # noqa: F401  (sets the switch)

    monkeypatch.setenv("HOME", str(tmp_path))  # no consent file: OpenVINO's default is to send
    for var in ("CI", "JENKINS_URL"):
        monkeypatch.delenv(var, raising=False)
    assert OptInChecker().check(enable_opt_in_dialog=False, disable_in_ci=True) == ConsentCheckResult.DECLINED
    monkeypatch.delenv("TF_BUILD")
    assert OptInChecker().check(enable_opt_in_dialog=False, disable_in_ci=True) == ConsentCheckResult.NO_FILE


def test_openvino_import_through_the_engine_sends_nothing(tmp_path):
    """End to end in a fresh process: the Telemetry that `import openvino` builds has no consent, writes no client id."""
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS}
    env["HOME"] = str(tmp_path)
    code = ("from edge_transfer.engines import get_engine; get_engine('openvino').version(); "
            "import openvino_telemetry as tm; t = tm.Telemetry(); print(t.backend.app_name, t.consent)")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-2:] == ["OpenVINO", "False"], proc.stdout
    assert not (tmp_path / "intel").exists()  # no client id, no usage counter
