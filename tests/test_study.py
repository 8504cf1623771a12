"""`edge-transfer study --quick`: the table, the JSON records and their arithmetic, resume."""

import json

import pytest

from conftest import QUICK_STUDY as QUICK, assert_one_line_error, run_cli


def test_quick_study_prints_its_table_and_no_conclusion(quick_study):
    folder, proc = quick_study
    out = proc.stdout
    assert "natural top-1 (%)" in out and "pgd top-1 (%)" in out and "pgd-natural [95% CI]" in out
    for row_start in ("full     dense", "full       imp", "linear     omp"):
        assert row_start in out, row_start
    # one source seed: the verdict must refuse a claim, in so many words, in both modes; the quick
    # budget's one-epoch fine-tuning does not converge, so its cells are flagged, not compared
    lines = out.splitlines()
    primary = [line for line in lines if line.startswith("PRIMARY")]
    assert len(primary) == 2 and all("no conclusion: 1 source seed pair(s) over 1 sparsity level(s)" in v for v in primary), primary
    assert any(line.startswith("secondary, per cell, linear transfer, pgd vs natural tickets: no conclusion: 1 paired "
                               "source seed(s) per arm") for line in lines), lines
    full = [line for line in lines if line.startswith("full transfer, pgd vs natural: not compared at")]
    assert full and "training loss above 0.1" in full[0]
    assert "transfer better" not in out and "lose relatively" not in out
    for name in ("report.md", "study.png", "study.json"):
        assert (folder / "out" / name).is_file()
    report = (folder / "out" / "report.md").read_text()
    assert "## Verdict" in report and "## Convergence and draws" in report and "overlap with omp" in report


def test_study_json_records_and_relative_error(quick_study):
    folder, _ = quick_study
    payload = json.loads((folder / "study.json").read_text())
    assert payload["schema"] == "edge-transfer.study/2"
    assert payload["settings"]["source_seeds"] == 1 and payload["settings"]["quick"] is True
    results = payload["results"]
    cells = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    assert len(cells) == 2 * 3 * 2  # (natural, pgd) x (dense, omp, imp) x (linear, full)
    for r in results:
        for key in ("acc_mean", "acc_ci95", "acc_values", "rel_error_increase", "n", "train_loss_mean"):
            assert key in r, key
        assert 0 <= r["acc_mean"] <= 1 and r["n"] == 1 and r["acc_ci95"] is None  # no interval from one seed
        base = cells[(r["pretraining"], "dense", 0.0, r["mode"])]
        if base["acc_mean"] < 1:
            err_b, err_s = 1 - base["acc_mean"], 1 - r["acc_mean"]
            assert r["rel_error_increase"] == pytest.approx((err_s - err_b) / err_b)
    for g in payload["gaps"]:
        natural, robust = cells[("natural", g["method"], g["sparsity"], g["mode"])], cells[("pgd", g["method"], g["sparsity"], g["mode"])]
        assert g["diff"] == pytest.approx(robust["acc_mean"] - natural["acc_mean"]) and g["p"] is None
    assert len(payload["gaps"]) == 3 * 2
    sources = payload["pretrained"]
    assert {(s["pretraining"], s["source_seed"]) for s in sources} == {("natural", 0), ("pgd", 0)}
    assert all(s["eval_attack"].startswith("PGD-10 linf eps 0.1") for s in sources)
    assert set(payload["sources"]["per_pretraining"]) == {"natural", "pgd"}
    runs = payload["runs"]
    assert {r["method"] for r in runs} == {"dense", "omp", "imp"}
    # the linear probe reports its convergence; imp reports its draw and its overlap with OMP
    linear = [r for r in runs if r["mode"] == "linear"]
    assert all(r["probe_converged"] and r["train_loss"] >= 0 for r in linear)
    imp = [r for r in runs if r["method"] == "imp"]
    assert all(r["draw_train_loss"] > 0 and 0.5 < r["omp_overlap"] <= 1 for r in imp)
    assert all(0 <= r["empty_channels"] < 1 for r in runs if r["method"] != "dense")
    # which validation images each cell got right, for the nested bootstrap: its mean is the top-1
    from edge_transfer.metrics import read_correct_bits

    assert all(read_correct_bits(r["val_correct"]).mean() == pytest.approx(r["acc"]) for r in runs)


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


def _runs(cells: dict, mode: str = "linear") -> list[dict]:
    """Synthetic study records: (pretraining, method, sparsity) -> accuracies, one per source seed."""
    return [{"pretraining": p, "method": m, "sparsity": s, "mode": mode, "source_seed": k, "acc": acc,
             "mean_class_acc": acc} for (p, m, s), accs in cells.items() for k, acc in enumerate(accs)]


def test_aggregate_means_intervals_and_welch_gaps():
    from scipy import stats

    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate

    natural, pgd = [0.70, 0.72, 0.71, 0.69, 0.73], [0.78, 0.80, 0.79, 0.77, 0.81]
    runs = _runs({("natural", "dense", 0.0): [0.9] * 5, ("pgd", "dense", 0.0): [0.8] * 5,
                  ("natural", "omp", 0.9): natural, ("pgd", "omp", 0.9): pgd,
                  ("natural", "omp", 0.8): [0.80, 0.90, 0.70, 0.85, 0.75], ("pgd", "omp", 0.8): [0.82, 0.72, 0.88, 0.78, 0.80]})
    results, gaps, verdict = aggregate(runs, StudyOptions(sparsities=(0.8, 0.9), modes=("linear",)))
    cell = {(r["pretraining"], r["method"], r["sparsity"]): r for r in results}
    omp = cell[("pgd", "omp", 0.9)]
    assert omp["acc_mean"] == pytest.approx(0.79) and omp["n"] == 5
    assert omp["acc_ci95"] == pytest.approx(stats.t.ppf(0.975, 4) * stats.tstd(pgd) / 5**0.5)
    assert omp["rel_error_increase"] == pytest.approx((0.21 - 0.20) / 0.20)
    gap = {(g["method"], g["sparsity"]): g for g in gaps}
    g90 = gap[("omp", 0.9)]
    assert g90["diff"] == pytest.approx(0.08)
    # the arms are paired by source seed: the paired t-test, Welch's kept beside it
    assert g90["p"] == pytest.approx(stats.ttest_rel(pgd, natural).pvalue) and g90["n_pairs"] == 5
    assert g90["p_welch"] == pytest.approx(stats.ttest_ind(pgd, natural, equal_var=False).pvalue)
    assert g90["p_perm"] == pytest.approx(2 / 32)  # every pair favours pgd: 2 of the 32 sign assignments
    # Holm over the two ticket cells: the smaller p doubled; the dense row keeps its raw p only
    assert g90["p_holm"] == pytest.approx(min(1, 2 * g90["p"]))
    assert gap[("dense", 0.0)]["p_holm"] is None
    primary, secondary = verdict
    assert primary.startswith("PRIMARY, linear transfer, pgd vs natural") and "5 paired seeds" in primary
    assert "pgd tickets transfer better at omp 90% +8.0" in secondary
    assert "no significant difference in the other 1 cell(s)" in secondary


@pytest.mark.parametrize("cells, expected", [
    # one source seed per arm, however large the gap
    ({("natural", "omp", 0.9): [0.50], ("pgd", "omp", 0.9): [0.90]}, "no conclusion: 1 paired source seed(s) per arm"),
    # two seeds: still below the minimum of three
    ({("natural", "omp", 0.9): [0.50, 0.52], ("pgd", "omp", 0.9): [0.90, 0.91]}, "no conclusion: 2 paired source seed(s)"),
    # five seeds, noise far larger than the gap: every interval includes 0
    ({("natural", "omp", 0.9): [0.6, 0.8, 0.7, 0.9, 0.5], ("pgd", "omp", 0.9): [0.7, 0.6, 0.9, 0.8, 0.5]},
     "no conclusion: every 95% interval of the gap includes 0"),
])
def test_verdict_says_no_conclusion_when_the_statistics_do_not_carry_one(cells, expected):
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate

    _, _, verdict = aggregate(_runs(cells), StudyOptions(sparsities=(0.9,), modes=("linear",)))
    assert len(verdict) == 1 and expected in verdict[0], verdict
    assert "transfer better" not in verdict[0]


def test_holm_adjustment():
    from edge_transfer.study.stats import holm

    # m = 4: sorted p 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_sources_warn_when_the_robust_source_is_not_more_robust():
    from edge_transfer.study.report import source_summary

    def source(p, seed, clean, robust):
        return {"pretraining": p, "source_seed": seed, "val_clean": {"top1": clean}, "val_robust": {"top1": robust},
                "eval_attack": "PGD-10"}

    weak = source_summary({"pretrained": [source("natural", 0, 0.54, 0.332), source("pgd", 0, 0.67, 0.316)]})
    assert len(weak["warnings"]) == 1 and "not more robust" in weak["warnings"][0]
    fine = source_summary({"pretrained": [source("natural", k, 0.98, 0.66) for k in range(3)]
                           + [source("pgd", k, 0.98, 0.90 + k / 100) for k in range(3)]})
    assert fine["warnings"] == [] and fine["per_pretraining"]["pgd"]["robust"] == pytest.approx(0.91)
    assert fine["per_pretraining"]["pgd"]["n"] == 3 and fine["per_pretraining"]["natural"]["robust_ci95"] == 0


def test_the_paired_test_sees_a_gap_that_the_unpaired_test_misses():
    """Source seeds differ a lot (between-seed spread 0.4), and within each seed the robust arm
    is 1 point better: the design's pairs see it, Welch's test cannot."""
    from edge_transfer.study.stats import paired, welch

    natural = [0.50, 0.70, 0.90, 0.60, 0.80]
    robust = [a + d for a, d in zip(natural, (0.010, 0.012, 0.009, 0.011, 0.010))]
    g, w = paired(robust, natural), welch(robust, natural)
    assert g.diff == pytest.approx(w.diff) == pytest.approx(0.0104)
    assert g.p < 0.001 and g.low > 0 and w.p > 0.9 and w.low < 0 < w.high
    assert g.p_perm == pytest.approx(2 / 32)  # exact: all 5 differences positive
    with pytest.raises(ValueError, match="one value each per pair"):
        paired([0.1, 0.2], [0.1])


def test_the_interaction_recovers_a_known_slope_and_is_the_primary_verdict():
    """Each arm's relative error increase against its own dense model of the same seed; the
    robust-minus-natural difference falls by 0.5 per unit sparsity in every seed, around a
    seed-specific offset: the slope is -0.5 exactly and the primary line claims it."""
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate
    from edge_transfer.study.stats import interaction

    found = interaction({k: {s: 0.1 * k - 0.5 * s for s in (0.5, 0.9, 0.99)} for k in range(4)})
    assert found.slope.diff == pytest.approx(-0.5) and found.slope.n == 4
    assert found.per_sparsity[0.9].diff == pytest.approx(0.15 - 0.45)
    cells, seeds = {}, range(5)
    for p in ("natural", "pgd"):
        cells[(p, "dense", 0.0)] = [0.9] * 5  # dense error 0.1 in both arms and every seed
    for s in (0.5, 0.9, 0.99):
        natural = [0.9 - 0.1 * (0.2 + s + 0.05 * k) for k in seeds]  # eps = 0.2 + s + 0.05 k
        cells[("natural", "omp", s)] = natural
        # robust eps = natural eps - 0.5 s + 0.01 k (a seed offset): the difference's slope is -0.5
        cells[("pgd", "omp", s)] = [a + 0.1 * (0.5 * s - 0.01 * k) for a, k in zip(natural, seeds)]
    _, _, verdict = aggregate(_runs(cells), StudyOptions(sparsities=(0.5, 0.9, 0.99), modes=("linear",)))
    assert verdict[0].startswith("PRIMARY, linear transfer, pgd vs natural: slope of the gap in relative error "
                                 "increase -0.500 per unit sparsity"), verdict[0]
    assert "pgd tickets lose relatively less accuracy than natural ones" in verdict[0]
    assert "with 5 pairs it cannot (its floor is 0.062)" in verdict[0]  # the permutation check, said honestly
    few = {k: v[:2] for k, v in cells.items()}  # two seeds: the primary test makes no claim
    _, _, verdict = aggregate(_runs(few), StudyOptions(sparsities=(0.5, 0.9, 0.99), modes=("linear",)))
    assert "no conclusion: 2 source seed pair(s) over 3 sparsity level(s)" in verdict[0]


def test_a_cell_whose_fine_tuning_did_not_converge_is_flagged_not_compared():
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate, detail_rows

    cells = {("natural", "omp", 0.9): [0.70, 0.72, 0.71, 0.69, 0.73], ("pgd", "omp", 0.9): [0.90, 0.92, 0.91, 0.89, 0.93]}
    runs = _runs(cells, mode="full")
    runs[0]["converged"] = False  # one natural run ended with a high training loss
    results, gaps, verdict = aggregate(runs, StudyOptions(sparsities=(0.9,), modes=("full",)))
    assert verdict == ["full transfer, pgd vs natural: not compared at omp 90%: 1 fine-tuning run(s) ended with "
                       "training loss above 0.1 (raise --finetune-epochs)"]
    assert gaps[0]["unconverged"] == 1 and gaps[0]["p_holm"] is None
    assert any("(1 not converged)" in str(row) for row in detail_rows({"results": results})[1])


def test_a_pair_label_draws_each_arms_own_scheme_once():
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.graph import Cell, plan

    opts = StudyOptions(methods=("aimp/imp", "almp/imp", "imp"), sparsities=(0.9,), modes=("linear",), source_seeds=1)
    opts.validate()
    cells = plan(opts)
    draws = {p: [c.method for c in cells if c.kind == "draw" and c.pretraining == p] for p in ("natural", "pgd")}
    # the natural arm draws imp once for all three labels; the robust arm its own schemes
    assert draws == {"natural": ["dense", "imp"], "pgd": ["dense", "aimp", "almp", "imp"]}
    evals = {(c.pretraining, c.method): c.deps(opts) for c in cells if c.kind == "eval" and c.method != "dense"}
    assert evals[("pgd", "aimp/imp")] == (Cell("draw", "pgd", 0, "aimp"),)
    assert evals[("natural", "aimp/imp")] == evals[("natural", "almp/imp")] == (Cell("draw", "natural", 0, "imp"),)
    # the labels stay apart in the results, so the report pairs aimp (robust) with imp (natural)
    assert {m for (_p, m) in evals} == {"aimp/imp", "almp/imp", "imp"}


@pytest.mark.parametrize("methods, fragments", [
    (("aimp/",), ["--methods", "aimp/", "ROBUST/NATURAL"]),
    (("aimp/imp/omp",), ["--methods", "ROBUST/NATURAL"]),
    (("aimp/magic",), ["--methods", "magic"]),
])
def test_a_bad_pair_label_is_refused_before_any_cell(methods, fragments, tmp_path):
    from edge_transfer.errors import OptionError
    from edge_transfer.study import StudyOptions

    with pytest.raises(OptionError) as err:
        StudyOptions(methods=methods, output=tmp_path / "s").validate()
    assert all(f in str(err.value) for f in fragments), str(err.value)


def test_an_unknown_batchnorm_start_is_a_one_line_error(tmp_path):
    assert_one_line_error(run_cli("study", "--quick", "--output", tmp_path / "s", "--batchnorm", "running"),
                          "--batchnorm", "source-images")


@pytest.mark.parametrize("batchnorm", ["source", "source-images"])
def test_the_batchnorm_ablation_starts_from_the_statistics_it_names(small_ticket, tmp_path, batchnorm):
    import torch

    from edge_transfer.study import StudyOptions
    from edge_transfer.study.cells import _batchnorm_start
    from edge_transfer.ticket import load_ticket

    opts = StudyOptions(batchnorm=batchnorm, draw_limit=64)
    start = _batchnorm_start(opts, small_ticket, tmp_path, seed=0)

    def means(path):
        return torch.cat([m.running_mean for m in load_ticket(path).model.modules()
                          if isinstance(m, torch.nn.BatchNorm2d)])

    if batchnorm == "source":  # the ticket as drawn: its source's statistics
        assert start == small_ticket
        return
    meta = load_ticket(start).meta
    assert meta.batchnorm["data"] == opts.source and meta.batchnorm["images"] == 64
    assert not torch.allclose(means(start), means(small_ticket))


def test_the_nested_bootstrap_carries_the_validation_sets_sampling_error():
    """Five seeds whose gap is the same 2 points each: the paired t interval has no width,
    but 2 points measured on 400 validation images are uncertain, and the bootstrap says so."""
    import numpy as np

    from edge_transfer.metrics import correct_bits
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate

    rng = np.random.default_rng(1)
    runs = []
    for seed in range(5):
        natural = rng.permutation(400) < 320  # 80.0% right, on other images in every seed
        robust = natural.copy()
        robust[np.flatnonzero(~natural)[:8]] = True  # 8 more right: 82.0%
        for pretraining, right in (("natural", natural), ("pgd", robust)):
            runs.append({"pretraining": pretraining, "method": "omp", "sparsity": 0.9, "mode": "linear",
                         "source_seed": seed, "acc": float(right.mean()), "mean_class_acc": float(right.mean()),
                         "val_correct": correct_bits(right.astype(int), np.ones(400, dtype=int))})
    _, gaps, _ = aggregate(runs, StudyOptions(sparsities=(0.9,), modes=("linear",)))
    g = gaps[0]
    assert g["diff"] == pytest.approx(0.02) and g["low"] == pytest.approx(0.02) == g["high"]
    assert g["boot_low"] < 0.02 < g["boot_high"] and g["boot_high"] - g["boot_low"] > 0.005
    assert g["boot_low"] >= 0  # the robust arm never gets an image wrong that the natural one gets right


def test_correct_bits_round_trip():
    import numpy as np

    from edge_transfer.metrics import correct_bits, read_correct_bits

    preds, labels = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]), np.array([1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 0])
    assert read_correct_bits(correct_bits(preds, labels)).tolist() == (preds == labels).tolist()


def test_the_primary_slope_gets_a_nested_bootstrap_interval_around_its_estimate():
    import numpy as np

    from edge_transfer.metrics import correct_bits
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.report import aggregate

    rng, n, runs = np.random.default_rng(2), 1000, []

    def add(pretraining, method, sparsity, seed, right_count):
        right = rng.permutation(n) < right_count
        runs.append({"pretraining": pretraining, "method": method, "sparsity": sparsity, "mode": "linear",
                     "source_seed": seed, "acc": float(right.mean()), "mean_class_acc": float(right.mean()),
                     "val_correct": correct_bits(right.astype(int), np.ones(n, dtype=int))})

    for seed in range(4):
        for p in ("natural", "pgd"):
            add(p, "dense", 0.0, seed, 900)  # dense error 0.1
        for s in (0.5, 0.9):
            add("natural", "omp", s, seed, round(n * (0.9 - 0.1 * (0.2 + s))))
            add("pgd", "omp", s, seed, round(n * (0.9 - 0.1 * (0.2 + s - 0.5 * s + 0.01 * seed))))
    from edge_transfer.study.report import _primary

    results, _, _ = aggregate(runs, StudyOptions(sparsities=(0.5, 0.9), modes=("linear",)))
    correct = {(r["pretraining"], r["method"], r["sparsity"], r["mode"], r["source_seed"]): r["val_correct"] for r in runs}
    (test,) = _primary(results, StudyOptions(sparsities=(0.5, 0.9), modes=("linear",)), correct)
    g = test["slope"]
    assert g["diff"] == pytest.approx(-0.5, abs=0.02)
    assert g["boot_low"] < g["diff"] < g["boot_high"]
    # the error of 1,000 validation images per cell widens the interval past the seeds' own spread
    assert g["boot_high"] - g["boot_low"] > g["high"] - g["low"]


def test_ltht_draws_after_gmp_and_puts_its_mask_on_the_dense_source_weights(small_ticket, tmp_path):
    """LTH-T (seed 004): the gradual scheme's mask on the source's own weights, one draw per
    arm after the gmp draw it takes the mask from, whether or not gmp is among --methods."""
    import torch

    from edge_transfer.backbones import create_backbone, get_backbone_cfg, prunable_parameters
    from edge_transfer.study import StudyOptions
    from edge_transfer.study.cells import draw_method
    from edge_transfer.study.graph import Cell, plan
    from edge_transfer.ticket import load_ticket

    opts = StudyOptions(methods=("ltht",), sparsities=(0.9,), modes=("full",), source_seeds=1, robust=("natural",),
                        output=tmp_path / "s")
    opts.validate()
    cells = plan(opts)
    assert [c.method for c in cells if c.kind == "draw"] == ["dense", "gmp", "ltht"]
    assert Cell("draw", "natural", 0, "ltht").deps(opts) == (Cell("pretrain", "natural", 0),
                                                             Cell("draw", "natural", 0, "gmp"))

    torch.manual_seed(5)  # a source whose weights are not the donor ticket's (seed 0's init)
    source = create_backbone("resnet18-cifar")
    torch.save(source.state_dict(), tmp_path / "source.pt")
    tickets = draw_method(opts, "ltht", "natural", tmp_path / "source.pt", 0, tmp_path / "work", print,
                          {0.9: small_ticket})
    ltht, donor = load_ticket(tickets[0.9]), load_ticket(small_ticket)
    assert ltht.meta.method_params["mask_from"] == str(small_ticket)
    dense = prunable_parameters(source, get_backbone_cfg("resnet18-cifar"), False)
    for name, mask in donor.masks.items():
        assert torch.equal(ltht.masks[name], mask), name
        kept = ltht.model.get_parameter(name).detach()[mask]
        assert torch.equal(kept, dense[name].detach()[mask]), name  # the source's values, not the donor's
    again = draw_method(opts, "ltht", "natural", tmp_path / "source.pt", 0, tmp_path / "work", print,
                        {0.9: small_ticket})
    assert again == tickets  # drawn once: a rerun finds it
