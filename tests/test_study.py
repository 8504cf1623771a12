"""`edge-transfer study --quick`: the table, the JSON records and their arithmetic, resume."""

import json

import pytest

from conftest import assert_one_line_error, run_cli

QUICK = ["study", "--quick", "--methods", "omp,imp", "--sparsities", "0.9", "--image-size", "8",
         "--train-limit", "64", "--engine", "onnxruntime"]


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    proc = run_cli(*QUICK, "--output", folder / "out", "--json", folder / "study.json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder, proc


def test_quick_study_prints_its_table(quick_study):
    folder, proc = quick_study
    out = proc.stdout
    assert "natural top-1 (%)" in out and "pgd top-1 (%)" in out and "pgd-natural" in out
    for row_start in ("full     dense", "full       imp", "linear     omp"):
        assert row_start in out, row_start
    assert "transfer at 90% sparsity: pgd tickets" in out
    for name in ("report.md", "study.png", "study.json"):
        assert (folder / "out" / name).is_file()


def test_study_json_records_and_relative_error(quick_study):
    folder, _ = quick_study
    payload = json.loads((folder / "study.json").read_text())
    assert payload["schema"] == "edge-transfer.study/1"
    assert payload["settings"]["seeds"] == 1 and payload["settings"]["quick"] is True
    results = payload["results"]
    cells = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    assert len(cells) == 2 * 3 * 2  # (natural, pgd) x (dense, omp, imp) x (linear, full)
    for r in results:
        for key in ("method", "pretraining", "sparsity", "mode", "acc_mean", "acc_std", "rel_error_increase", "seeds"):
            assert key in r, key
        assert 0 <= r["acc_mean"] <= 1 and r["seeds"] == 1
        base = cells[(r["pretraining"], "dense", 0.0, r["mode"])]
        if base["acc_mean"] < 1:
            err_b, err_s = 1 - base["acc_mean"], 1 - r["acc_mean"]
            assert r["rel_error_increase"] == pytest.approx((err_s - err_b) / err_b)
        if r["pretraining"] == "pgd":
            natural = cells[("natural", r["method"], r["sparsity"], r["mode"])]
            assert r["robust_minus_natural"] == pytest.approx(r["acc_mean"] - natural["acc_mean"])
    assert payload["pretrained"]["pgd"]["eval_attack"].startswith("PGD-10 linf eps 0.1")
    runs = payload["runs"]
    assert {r["method"] for r in runs} == {"dense", "omp", "imp"}


def test_rerun_resumes_from_finished_cells(quick_study):
    folder, _ = quick_study
    proc = run_cli(*QUICK, "--output", folder / "out")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cached" in proc.stdout and "pretraining the" not in proc.stdout and "drew" not in proc.stdout


@pytest.mark.parametrize("args, fragments", [
    (["--methods", "omp,magic"], ["--methods", "magic", "omp"]),
    (["--robust", "natural,adversarial"], ["--robust", "pgd"]),
    (["--eps", "-1"], ["--eps", ">= 0"]),
    (["--sparsities", "0.5,1.2"], ["--sparsities"]),
])
def test_study_bad_input(tmp_path, args, fragments):
    assert_one_line_error(run_cli("study", "--quick", "--output", tmp_path / "s", *args), *fragments)
    assert not (tmp_path / "s").exists()
