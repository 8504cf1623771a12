"""Bad and hostile input across every subcommand, as a user would type it (subprocess).

Each case runs in its own process (forked from one that imported edge-transfer once, see
cli_forker.py; the signal tests start the real console entry point). For every case: exit 2, exactly one error line on stderr naming the fix, no traceback, and
the user's files beside and inside the output survive byte for byte, with no temp folder
left behind. Signals: SIGINT exits 130 and SIGTERM 143, with nothing partial written.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from bad_files import make_bad_files
from conftest import assert_one_line_error, run_cli

SENTINEL = b"the user's own file\n"
FAST = ["--no-progress"]
BENCH = ["--engine", "onnxruntime", "--batch-size", "2", "--time", "0.05", "--warmup", "0", "--min-iterations", "1",
         "--repeats", "1", "--no-memory", "--no-int8-peers", "--quiet"]

# (id, argv with {name} from bad_files and {out} the output, fragment of the one error line,
#  the output exists beforehand with a file of the user's inside)
CASES = [
    # prune: numbers, names, files, recipes, outputs
    ("prune-sparsity-1.5", ["prune", "--arch", "resnet18-cifar", "--sparsity", "1.5", "--output", "{out}"], "[0, 1)"),
    ("prune-sparsity-neg", ["prune", "--arch", "resnet18-cifar", "--sparsity", "-0.1", "--output", "{out}"], "[0, 1)"),
    ("prune-sparsity-text", ["prune", "--arch", "resnet18-cifar", "--sparsity", "most", "--output", "{out}"],
     "not a number"),
    ("prune-method", ["prune", "--arch", "resnet18-cifar", "--method", "snip", "--output", "{out}"], "invalid choice"),
    ("prune-arch", ["prune", "--arch", "resnet51", "--output", "{out}"], "unknown architecture"),
    ("prune-block-3", ["prune", "--arch", "resnet18-cifar", "--block", "3", "--output", "{out}"], "--block"),
    ("prune-block-lmp", ["prune", "--arch", "resnet18-cifar", "--method", "lmp", "--block", "4", "--output", "{out}"],
     "--block"),
    ("prune-block-stem", ["prune", "--arch", "resnet18-cifar", "--block", "4", "--prune-first-conv", "--output",
                          "{out}"], "divisible by 4"),
    ("prune-rounds-0", ["prune", "--arch", "resnet18-cifar", "--rounds", "0", "--output", "{out}"], "--rounds"),
    ("prune-score-lr-nan", ["prune", "--arch", "resnet18-cifar", "--score-lr", "nan", "--output", "{out}"], "finite"),
    ("prune-lr-nan", ["prune", "--arch", "resnet18-cifar", "--lr", "nan", "--output", "{out}"], "finite"),
    ("prune-lr-inf", ["prune", "--arch", "resnet18-cifar", "--lr", "inf", "--output", "{out}"], "finite"),
    ("prune-epochs-0", ["prune", "--arch", "resnet18-cifar", "--epochs", "0", "--output", "{out}"], "positive"),
    ("prune-seed-text", ["prune", "--arch", "resnet18-cifar", "--seed", "one", "--output", "{out}"], "invalid int"),
    ("prune-pretraining", ["prune", "--arch", "resnet18-cifar", "--pretraining", "magic", "--output", "{out}"],
     "invalid choice"),
    ("prune-ckpt-missing", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{missing}", "--output", "{out}"],
     "not found"),
    ("prune-ckpt-garbage", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{garbage_ckpt}", "--output", "{out}"],
     "truncated or corrupt"),
    ("prune-ckpt-bomb", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{bomb}", "--output", "{out}"],
     "--trust-checkpoint"),
    ("prune-ckpt-nan", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{nan}", "--output", "{out}"],
     "NaN or Inf"),
    ("prune-ckpt-folder", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{a_folder}", "--output", "{out}"],
     "checkpoint"),
    ("prune-mask-from-missing", ["prune", "--arch", "resnet18-cifar", "--mask-from", "{missing}", "--output", "{out}"],
     "not found"),
    ("prune-mask-from-folder", ["prune", "--arch", "resnet18-cifar", "--mask-from", "{a_folder}", "--output", "{out}"],
     "not a ticket folder"),
    ("prune-mask-from-arch", ["prune", "--arch", "resnet18", "--mask-from", "{ticket}", "--output", "{out}"],
     "does not fit --arch"),
    ("prune-recipe-omp", ["prune", "--arch", "resnet18-cifar", "--recipe", "{recipe_bomb}", "--output", "{out}"],
     "--recipe drives"),
    ("prune-recipe-bomb", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_bomb}",
                           "--data", "embedded:mnist-0to4", "--output", "{out}"], "power"),
    ("prune-recipe-call", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_call}",
                           "--data", "embedded:mnist-0to4", "--output", "{out}"], "plain arithmetic"),
    ("prune-recipe-notyaml", ["prune", "--arch", "resnet18-cifar", "--method", "gmp", "--recipe", "{recipe_notyaml}",
                              "--data", "embedded:mnist-0to4", "--output", "{out}"], "YAML"),
    ("prune-imp-no-data", ["prune", "--arch", "resnet18-cifar", "--method", "imp", "--output", "{out}"], "--data"),
    ("prune-output-exists", ["prune", "--arch", "resnet18-cifar", "--output", "{out}"], "already exists", True),
    ("prune-output-is-ckpt", ["prune", "--arch", "resnet18-cifar", "--checkpoint", "{nan}", "--output", "{nan}"],
     "not a folder"),
    ("prune-output-readonly", ["prune", "--arch", "resnet18-cifar", "--output", "/proc/edge-transfer-test/t"],
     "writable --output"),
    # info
    ("info-missing", ["info", "{missing}"], "not found"),
    ("info-not-ticket", ["info", "{a_folder}"], "not a ticket folder"),
    ("info-ticket-list", ["info", "{t_list}"], "not an object"),
    ("info-ticket-noarch", ["info", "{t_noarch}"], "lacks 'arch'"),
    ("info-ticket-ten", ["info", "{t_ten}"], "num_classes = 'ten'"),
    ("info-flipped-byte", ["info", "{flipped}"], "sha256"),
    ("info-json-folder", ["info", "{ticket}", "--json", "{a_folder}"], "is a folder"),
    ("info-nothing", ["info"], "--list-archs"),
    # export
    ("export-missing", ["export", "{missing}", "--output", "{out}"], "not found"),
    ("export-not-ticket", ["export", "{a_folder}", "--output", "{out}"], "not a ticket folder"),
    ("export-onto-ticket", ["export", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("export-inside-ticket", ["export", "{own_ticket}", "--output", "{own_ticket}/sub", "--force"], "outside it"),
    ("export-holding-ticket", ["export", "{own_ticket}", "--output", "{case}", "--force"], "outside it"),
    ("export-opset", ["export", "{ticket}", "--output", "{out}", "--opset", "5"], "--opset"),
    ("export-batch-0", ["export", "{ticket}", "--output", "{out}", "--batch-size", "0"], "--batch-size"),
    ("export-batch-text", ["export", "{ticket}", "--output", "{out}", "--batch-size", "many"], "dynamic"),
    ("export-engine", ["export", "{ticket}", "--output", "{out}", "--validate-engines", "tensorrt"], "unknown engine"),
    ("export-engines-empty-item", ["export", "{ticket}", "--output", "{out}", "--validate-engines", "onnxruntime,,"],
     "empty item"),
    ("export-output-exists", ["export", "{ticket}", "--output", "{out}"], "already exists", True),
    ("export-ticket-list", ["export", "{t_list}", "--output", "{out}"], "redraw the ticket"),
    ("export-flipped-byte", ["export", "{flipped}", "--output", "{out}"], "sha256"),
    ("export-readonly", ["export", "{ticket}", "--output", "/proc/edge-transfer-test/e"], "writable --output"),
    # quantize
    ("quantize-samples-0", ["quantize", "{ticket}", "--output", "{out}", "--samples", "0"], "positive"),
    ("quantize-max-drop", ["quantize", "{ticket}", "--output", "{out}", "--max-drop", "-1"], ">= 0"),
    ("quantize-max-drop-nan", ["quantize", "{ticket}", "--output", "{out}", "--max-drop", "nan"], "finite"),
    ("quantize-qat-epochs", ["quantize", "{ticket}", "--output", "{out}", "--qat-epochs", "-2"], ">= 0"),
    ("quantize-qat-lr", ["quantize", "{ticket}", "--output", "{out}", "--qat-lr", "0"], "> 0"),
    ("quantize-calib-missing", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{missing}"],
     "not found"),
    ("quantize-calib-unreadable", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{unreadable}"],
     "readable"),
    ("quantize-calib-empty", ["quantize", "{ticket}", "--output", "{out}", "--calibration", "{empty}"], "image"),
    ("quantize-swapped-export", ["quantize", "{swapped}", "--output", "{out}"], "sha256"),
    ("quantize-manifest-list", ["quantize", "{m_list}", "--output", "{out}"], "re-export"),
    ("quantize-not-ticket", ["quantize", "{a_folder}", "--output", "{out}"], "neither a ticket"),
    ("quantize-onto-source", ["quantize", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("quantize-engine-torch", ["quantize", "{ticket}", "--output", "{out}", "--validate-engines", "torch"], "INT8"),
    ("quantize-output-exists", ["quantize", "{ticket}", "--output", "{out}"], "already exists", True),
    # bench
    ("bench-cores-0", ["bench", "{export}", "--cores", "0"], "positive"),
    ("bench-batch-0", ["bench", "{export}", "--batch-size", "0"], "positive"),
    ("bench-batch-empty-item", ["bench", "{export}", "--batch-size", "1,,64"], "empty item"),
    ("bench-time-inf", ["bench", "{export}", "--time", "inf"], "finite"),
    ("bench-time-neg", ["bench", "{export}", "--time", "-1"], "finite"),
    ("bench-warmup-nan", ["bench", "{export}", "--warmup", "nan"], "finite"),
    ("bench-repeats-0", ["bench", "{export}", "--repeats", "0"], "positive"),
    ("bench-engine", ["bench", "{export}", "--engine", "tensorrt"], "unknown engine"),
    ("bench-scenario", ["bench", "{export}", "--scenario", "burst"], "invalid choice"),
    ("bench-shape", ["bench", "{export}", "--input-shape", "3x0x8"], "CxHxW"),
    ("bench-path-missing", ["bench", "{missing}"], "not found"),
    ("bench-not-a-model", ["bench", "{garbage}"], "neither a ticket folder"),
    ("bench-compare-binary", ["bench", "--compare", "{garbage}", "{garbage}"], "not readable JSON"),
    ("bench-compare-list", ["bench", "--compare", "{list_json}", "{list_json}"], "bench --json"),
    ("bench-compare-no-results", ["bench", "--compare", "{no_results}", "{no_results}"], "no readable results"),
    ("bench-manifest-list", ["bench", "{m_list}", *BENCH], "not an object"),
    ("bench-manifest-noarch", ["bench", "{m_noarch}", *BENCH], "lacks 'arch'"),
    ("bench-manifest-size", ["bench", "{m_size}", *BENCH], "input_size"),
    ("bench-swapped-model", ["bench", "{swapped}", *BENCH], "sha256"),
    ("bench-onnx-outside", ["bench", "{onnx_outside}", *BENCH], "outside the model's folder"),
    ("bench-onnx-subgraph", ["bench", "{onnx_subgraph}", *BENCH], "outside the model's folder"),
    ("bench-onnx-past-end", ["bench", "{onnx_pastend}", *BENCH], "past the end"),
    ("bench-onnx-unknown-op", ["bench", "{onnx_unknown_op}", *BENCH], "NoSuchOperator"),
    ("bench-onnx-static-batch", ["bench", "{onnx_static1}", *BENCH], "static batch of 1"),
    ("bench-json-folder", ["bench", "{export}", *BENCH, "--json", "{a_folder}"], "is a folder"),
    # adapt
    ("adapt-missing", ["adapt", "{missing}", "--output", "{out}"], "not found"),
    ("adapt-lr-nan", ["adapt", "{ticket}", "--output", "{out}", "--lr", "nan"], "finite"),
    ("adapt-momentum", ["adapt", "{ticket}", "--output", "{out}", "--momentum", "1.5"], "--momentum"),
    ("adapt-epochs-0", ["adapt", "{ticket}", "--output", "{out}", "--epochs", "0"], "positive"),
    ("adapt-batch-0", ["adapt", "{ticket}", "--output", "{out}", "--batch-size", "0"], "positive"),
    ("adapt-engine", ["adapt", "{ticket}", "--output", "{out}", "--engine", "tensorrt"], "unknown engine"),
    ("adapt-probe", ["adapt", "{ticket}", "--output", "{out}", "--probe", "adam"], "invalid choice"),
    ("adapt-train-limit", ["adapt", "{ticket}", "--output", "{out}", "--train-limit", "5"], "at least 10"),
    ("adapt-data-missing", ["adapt", "{ticket}", "--output", "{out}", "--data", "{missing}"], "not found"),
    ("adapt-data-unreadable", ["adapt", "{ticket}", "--output", "{out}", "--data", "{unreadable}"], "readable"),
    ("adapt-resume-nothing", ["adapt", "{ticket}", "--output", "{out}", "--resume", "--probe", "sgd",
                              "--precompute"], "checkpoint"),
    ("adapt-json-folder", ["adapt", "{ticket}", "--output", "{out}", "--json", "{a_folder}"], "is a folder"),
    ("adapt-flipped-byte", ["adapt", "{flipped}", "--output", "{out}", "--epochs", "1"], "sha256"),
    ("adapt-output-holds-a-run", ["adapt", "{ticket}", "--output", "{out}"], "already holds an adapt run",
     "checkpoint.pt"),
    # finetune
    ("finetune-missing", ["finetune", "{missing}"], "not found"),
    ("finetune-lr-inf", ["finetune", "{ticket}", "--lr", "inf"], "finite"),
    ("finetune-epochs-neg", ["finetune", "{ticket}", "--epochs", "-1"], "positive"),
    ("finetune-data-unreadable", ["finetune", "{ticket}", "--data", "{unreadable}", *FAST], "readable"),
    ("finetune-onto-ticket", ["finetune", "{own_ticket}", "--output", "{own_ticket}", "--force"], "outside it"),
    ("finetune-output-exists", ["finetune", "{ticket}", "--output", "{out}"], "already exists", True),
    # pretrain
    ("pretrain-arch", ["pretrain", "--arch", "vgg99", "--output", "{out}.pt"], "unknown architecture"),
    ("pretrain-robust", ["pretrain", "--arch", "resnet18-cifar", "--robust", "magic", "--output", "{out}.pt"],
     "invalid choice"),
    ("pretrain-eps", ["pretrain", "--arch", "resnet18-cifar", "--robust", "pgd", "--eps", "-1", "--output",
                      "{out}.pt"], "--eps"),
    ("pretrain-wd-nan", ["pretrain", "--arch", "resnet18-cifar", "--weight-decay", "nan", "--output", "{out}.pt"],
     "finite"),
    ("pretrain-image-size", ["pretrain", "--arch", "resnet18-cifar", "--image-size", "0", "--output", "{out}.pt"],
     "positive"),
    ("pretrain-data-unreadable", ["pretrain", "--arch", "resnet18-cifar", "--data", "{unreadable}", *FAST, "--output",
                                  "{out}.pt"], "readable"),
    ("pretrain-data-empty", ["pretrain", "--arch", "resnet18-cifar", "--data", "{empty}", *FAST, "--output",
                             "{out}.pt"], "image"),
    ("pretrain-output-folder", ["pretrain", "--arch", "resnet18-cifar", "--output", "{a_folder}"], "folder"),
    # study
    ("study-seeds-0", ["study", "--source-seeds", "0", "--output", "{out}"], "positive"),
    ("study-methods", ["study", "--methods", "snip", "--output", "{out}"], "snip"),
    ("study-robust", ["study", "--robust", "magic", "--output", "{out}"], "magic"),
    ("study-modes", ["study", "--modes", "linear,zero-shot", "--output", "{out}"], "zero-shot"),
    ("study-sparsity", ["study", "--sparsities", "0.5,1.5", "--output", "{out}"], "[0, 1)"),
    ("study-sparsity-0", ["study", "--sparsities", "0", "--output", "{out}"], "dense model is always included"),
    ("study-engine", ["study", "--engine", "tensorrt", "--output", "{out}"], "unknown engine"),
    ("study-eps-nan", ["study", "--eps", "nan", "--output", "{out}"], "finite"),
    ("study-target-missing", ["study", "--target", "{missing}", "--output", "{out}"], "not found"),
    # deploy, predict, learn (cases that need a real run or artifact are in test_deploy.py)
    ("deploy-neither", ["deploy", "{a_folder}", "--output", "{out}"], "neither an adapt run folder"),
    ("deploy-missing", ["deploy", "{missing}", "--output", "{out}"], "not found"),
    ("deploy-plain-ticket", ["deploy", "{ticket}", "--output", "{out}"], "still its source task's"),
    ("deploy-export", ["deploy", "{export}", "--output", "{out}"], "neither an adapt run folder"),
    ("deploy-engine", ["deploy", "{a_folder}", "--engine", "tensorrt", "--output", "{out}"], "unknown engine"),
    ("deploy-time-0", ["deploy", "{a_folder}", "--time", "0", "--output", "{out}"], "> 0"),
    ("deploy-int8-torch", ["deploy", "{a_folder}", "--int8", "--engine", "torch", "--output", "{out}"],
     "does not run INT8"),
    ("deploy-samples-0", ["deploy", "{a_folder}", "--calibration-samples", "0", "--output", "{out}"], "positive"),
    ("deploy-output-exists", ["deploy", "{a_folder}", "--output", "{out}"], "exists", True),
    ("predict-top-k-0", ["predict", "{a_folder}", "{a_folder}", "--top-k", "0"], "positive"),
    ("predict-batch-0", ["predict", "{a_folder}", "{a_folder}", "--batch-size", "0"], "positive"),
    ("predict-not-artifact", ["predict", "{export}", "{a_folder}"], "deploy.json not found"),
    ("predict-input-missing", ["predict", "{a_folder}", "{missing}"], "not found"),
    ("learn-not-artifact", ["learn", "{export}", "--data", "embedded:mnist-5to9", "--output", "{out}"],
     "deploy.json not found"),
    ("learn-no-data", ["learn", "{a_folder}", "--output", "{out}"], "--data"),
    ("learn-epochs-0", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--epochs", "0", "--output", "{out}"],
     "positive"),
    ("learn-lr-nan", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--lr", "nan", "--output", "{out}"],
     "finite"),
    ("learn-output-exists", ["learn", "{a_folder}", "--data", "embedded:mnist-5to9", "--output", "{out}"], "exists",
     True),
    # demo
    ("demo-sparsities", ["demo", "--sparsities", "1.5", "--output", "{out}"], "[0, 1)"),
    ("demo-adapt-epochs", ["demo", "--adapt-epochs", "-3", "--output", "{out}"], ">= 0"),
    ("demo-bench-time", ["demo", "--bench-time", "0", "--output", "{out}"], "> 0"),
    ("demo-archs", ["demo", "--archs", "resnet51", "--output", "{out}"], "unknown architecture"),
    ("demo-users-folder", ["demo", "--output", "{out}"], "did not write", True),
    ("demo-output-file", ["demo", "--output", "{nan}"], "not a folder"),
]


def _case(row):
    case_id, argv, fragment, *inside = row  # inside: the output exists, holding this file of the user's
    name = (inside[0] if isinstance(inside[0], str) else "inside.txt") if inside else None
    return pytest.param(argv, fragment, name, id=case_id)


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """``run(*argv, cwd=...)`` -> CompletedProcess: one forked process per call (cli_forker.py),
    so 100+ cases do not pay the torch import 100 times."""
    import json
    from pathlib import Path

    logs = tmp_path_factory.mktemp("cli-logs")
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_forker.py"))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def run(*argv, cwd):
        out, err = logs / "stdout", logs / "stderr"
        server.stdin.write(json.dumps({"argv": [str(a) for a in argv], "cwd": str(cwd), "stdout": str(out),
                                       "stderr": str(err)}) + "\n")
        server.stdin.flush()
        rc = json.loads(server.stdout.readline())["rc"]
        return subprocess.CompletedProcess(argv, rc, out.read_text(), err.read_text())

    yield run
    server.stdin.close()
    server.wait(timeout=60)


@pytest.fixture(scope="module")
def bad(small_ticket, small_export, tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"), small_ticket, small_export.path)


def test_the_table_covers_every_subcommand_with_100_cases():
    from edge_transfer.cli.main import SUBCOMMANDS

    per_command = Counter(row[1][0] for row in CASES)
    assert len(CASES) >= 100 and set(per_command) == set(SUBCOMMANDS), per_command


@pytest.mark.parametrize("argv, fragment, inside", [_case(r) for r in CASES])
def test_bad_input_is_one_line_exit_2_and_loses_nothing(cli, bad, tmp_path, argv, fragment, inside):
    import shutil

    case = tmp_path / "case"
    case.mkdir()
    out = case / "out"
    (case / "beside.txt").write_bytes(SENTINEL)
    if inside:
        out.mkdir()
        (out / inside).write_bytes(SENTINEL)
    names = {**{k: str(v) for k, v in bad.items()}, "out": str(out), "case": str(case)}
    if any("{own_ticket}" in a for a in argv):
        names["own_ticket"] = str(shutil.copytree(bad["ticket"], case / "ticket"))
    before = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    proc = cli(*[a.format(**names) for a in argv], cwd=case)
    assert_one_line_error(proc, fragment)
    after = {p: p.read_bytes() for p in case.rglob("*") if p.is_file()}
    assert after == before, "files beside or inside the output changed"
    assert not [p.name for p in case.rglob(".*tmp-*")], "a temp folder was left behind"
    assert inside or not out.exists()
    assert not (bad["bomb"].parent / "PWNED").exists()


def _default_sigint():
    """In the child before exec: a shell without job control starts background jobs with SIGINT
    ignored, and Python then keeps it ignored; give the CLI the disposition an interactive user's has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# (command, a run long enough to be interrupted mid-work); each writes with a temp folder
SIGNALLED = {
    "prune": ["prune", "--arch", "resnet18-cifar", "--method", "imp", "--data", "embedded:mnist-0to4", "--epochs", "50",
              "--output", "{out}"],
    "export": ["export", "{ticket}", "--output", "{out}"],
    "quantize": ["quantize", "{ticket}", "--output", "{out}"],
    "finetune": ["finetune", "{ticket}", "--epochs", "50", "--train-limit", "256", "--output", "{out}"],
    "pretrain": ["pretrain", "--arch", "resnet18-cifar", "--data", "embedded:mnist-0to4", "--epochs", "50", "--output",
                 "{out}.pt"],
    "adapt": ["adapt", "{ticket}", "--epochs", "50", "--train-limit", "256", "--output", "{out}"],
}


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(SIGNALLED))
def test_a_signal_mid_work_leaves_nothing_partial(bad, tmp_path, command, sig, code):
    out = tmp_path / "out"
    (tmp_path / "beside.txt").write_bytes(SENTINEL)
    argv = [a.format(out=out, ticket=bad["ticket"]) for a in SIGNALLED[command]]
    import os

    proc = subprocess.Popen([sys.executable, "-m", "edge_transfer.cli.main", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=_default_sigint)
    import select

    select.select([proc.stdout, proc.stderr], [], [], 20)  # its first line or progress bar: the work has begun
    time.sleep(1.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and ("nothing partial was written" in err or "--resume" in err)
    assert (tmp_path / "beside.txt").read_bytes() == SENTINEL
    kept = {p.name for p in out.iterdir()} if out.exists() else set()
    assert kept <= ({"checkpoint.pt"} if command == "adapt" else set()) and not (tmp_path / "out.pt").exists()
    assert not [p.name for p in tmp_path.rglob(".*tmp-*")], "a temp folder was left behind"


def test_some_unreadable_images_are_skipped_with_a_warning(cli, tmp_path):
    import numpy as np
    from PIL import Image

    data = tmp_path / "data"
    for c, base in (("a", 0), ("b", 200)):
        (data / c).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.full((8, 8, 3), base + 5 * i, np.uint8)).save(data / c / f"{i}.png")
    (data / "a" / "broken.png").write_bytes(b"not a png at all")
    proc = cli("pretrain", "--arch", "resnet18-cifar", "--data", data, "--epochs", "1", "--image-size", "8",
               "--no-progress", "--output", tmp_path / "s.pt", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: 1 unreadable images" in proc.stdout and (tmp_path / "s.pt").is_file()


@pytest.mark.slow
def test_adapt_stopped_mid_epoch_on_deepsparse_exits_cleanly_and_resumes(bad, tmp_path):
    """SIGINT while the backbone thread is inside DeepSparse, once an epoch is done: exit 130
    with the last completed epoch kept, and --resume finishes the run. Before the stage threads
    were stopped on exit, this aborted the process (-6, "terminate called without an active
    exception"); a signal between epochs, when no thread runs the engine, did not show it."""
    out = tmp_path / "run"
    argv = ["adapt", str(bad["ticket"]), "--epochs", "3", "--train-limit", "512", "--engine", "deepsparse",
            "--output", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "edge_transfer.cli.main", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "checkpoint.pt").exists(), "no epoch finished"
    time.sleep(0.3)  # into the next epoch: the backbone thread is running the engine
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "terminate called" not in err and "rerun with --resume" in err
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt"}
    resumed = run_cli(*argv, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout.lower() or "epoch 3/3" in resumed.stdout
