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


def test_aggregate_over_seeds_and_the_noise_aware_headline():
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate

    def run(p, m, s, seed, acc):
        return {"pretraining": p, "method": m, "sparsity": s, "mode": "linear", "seed": seed, "acc": acc,
                "mean_class_acc": acc}

    runs = [run("natural", "dense", 0.0, k, 0.90) for k in (0, 1)] + [run("pgd", "dense", 0.0, k, 0.80) for k in (0, 1)]
    runs += [run("natural", "omp", 0.9, 0, 0.70), run("natural", "omp", 0.9, 1, 0.72),  # std 0.0141
             run("pgd", "omp", 0.9, 0, 0.75), run("pgd", "omp", 0.9, 1, 0.77),  # +5 points: clearly ahead
             run("natural", "imp", 0.9, 0, 0.60), run("natural", "imp", 0.9, 1, 0.80),  # std 0.141
             run("pgd", "imp", 0.9, 0, 0.71), run("pgd", "imp", 0.9, 1, 0.71)]  # +1 point: within noise
    results, headline = aggregate(runs, StudyOptions(methods=("omp", "imp"), sparsities=(0.9,), modes=("linear",)))
    cell = {(r["pretraining"], r["method"]): r for r in results}
    omp = cell[("pgd", "omp")]
    assert omp["acc_mean"] == pytest.approx(0.76) and omp["acc_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert omp["rel_error_increase"] == pytest.approx((0.24 - 0.20) / 0.20)
    assert omp["robust_minus_natural"] == pytest.approx(0.05) and omp["seeds"] == 2
    assert cell[("natural", "omp")]["rel_error_increase"] == pytest.approx((0.29 - 0.10) / 0.10)
    assert cell[("natural", "dense")]["robust_minus_natural"] is None
    assert len(headline) == 1 and "pgd tickets transfer better" in headline[0]
    assert "2 of 2 schemes above natural; 1 ahead and 0 behind by more than the seed std" in headline[0]
