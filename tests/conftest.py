import os
import subprocess
import sys

import pytest

os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")


def run_cli(*args, cwd=None):
    """Run the installed CLI in a subprocess, as a user would."""
    cmd = [sys.executable, "-m", "edge_transfer.cli.main", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)


# --cores 1: the cluster tests run the same cells on local:2 (one core per worker) and compare
QUICK_STUDY = ["study", "--quick", "--methods", "omp,imp", "--sparsities", "0.9", "--image-size", "8",
               "--train-limit", "64", "--engine", "onnxruntime", "--cores", "1"]


@pytest.fixture(scope="session")
def quick_study(tmp_path_factory):
    """The quick study, serially: (folder, process); its study.json is folder/out/study.json."""
    folder = tmp_path_factory.mktemp("study")
    proc = run_cli(*QUICK_STUDY, "--output", folder / "out", "--json", folder / "study.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, proc


@pytest.fixture(scope="session")
def small_ticket(tmp_path_factory):
    """A 90% OMP ticket of resnet18-cifar (random init): small and quick to export."""
    from edge_transfer.prune import PruneOptions, draw_ticket

    out = tmp_path_factory.mktemp("tickets") / "r18c-90"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.9))
    return out


@pytest.fixture(scope="session")
def small_export(small_ticket, tmp_path_factory):
    from edge_transfer.export import ExportOptions, export_ticket

    out = tmp_path_factory.mktemp("exports") / "r18c-90"
    return export_ticket(ExportOptions(ticket=small_ticket, output=out, with_dense=True))


@pytest.fixture(scope="session")
def trained_ticket90(tmp_path_factory):
    """A 90% per-layer OMP ticket of a trained resnet18-cifar (16 px, 2 epochs on 1,000 images
    of embedded:mnist-0to4; about 40 s on 2 cores), for tests whose accuracies must mean something."""
    from edge_transfer.pretrain import PretrainOptions, pretrain
    from edge_transfer.prune import PruneOptions, draw_ticket
    from edge_transfer.train import TrainSettings

    folder = tmp_path_factory.mktemp("trained")
    train = TrainSettings(data="embedded:mnist-0to4", epochs=2, image_size=16, limit=1000, lr=0.05, progress=False)
    pretrain(PretrainOptions(arch="resnet18-cifar", output=folder / "src.pt", train=train, eval_pgd_steps=1))
    ticket = draw_ticket(PruneOptions(arch="resnet18-cifar", output=folder / "t90", sparsity=0.9, scope="layer",
                                      checkpoint=folder / "src.pt", pretraining="natural",
                                      train=TrainSettings(image_size=16)))
    return ticket.path


TARGET = "embedded:mnist-5to9"


@pytest.fixture(scope="session")
def run90(trained_ticket90, tmp_path_factory):
    """An adapt run of a trained 90% ticket: 2 epochs on 300 target images."""
    import dataclasses

    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings

    train = dataclasses.replace(default_train_settings(), data=TARGET, epochs=2, limit=300)
    out = tmp_path_factory.mktemp("deploy") / "run"
    adapt(AdaptOptions(source=trained_ticket90, train=train, output=out, engine="onnxruntime", cores=2, lr_steps=()))
    return out


@pytest.fixture(scope="session")
def artifact(run90, tmp_path_factory):
    """run90 deployed (validated and timed on DeepSparse)."""
    from edge_transfer.deploy import DeployOptions, deploy

    out = tmp_path_factory.mktemp("deploy") / "artifact"
    return deploy(DeployOptions(source=run90, output=out, engine="deepsparse", cores=2, time=0.5))


def assert_one_line_error(proc, *fragments):
    """A user error: exit 2, one line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if "Warning" not in line and "warn(" not in line]
    assert "Traceback" not in proc.stderr
    error_lines = [line for line in lines if "error:" in line]
    assert len(error_lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], (fragment, error_lines[0])
    return error_lines[0]
