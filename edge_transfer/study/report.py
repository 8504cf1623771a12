"""The study's figures: per cell the mean and 95% interval over source seeds, the relative
error increase, the robust-minus-natural gap over seeds paired as the design pairs them (the
paired t interval and test, a sign-flip check, Welch's p beside it); the primary test declared
before the data (the gap's interaction with sparsity) and the per-cell gaps as secondary,
Holm-corrected; a verdict that says "no conclusion" unless those carry one; text/Markdown
tables and a PNG of accuracy vs sparsity."""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_text
from ..metrics import read_correct_bits
from ..plots import save_figure, two_panels
from ..tables import markdown_table, text_table
from .options import DENSE
from .stats import MIN_SOURCE_SEEDS, excludes_zero, holm, interaction, mean_ci, nested_bootstrap, paired, slope, welch

PRIMARY = ("the interaction (declared before the data, seed 000's claim): how the robust-minus-natural gap in "
           "relative error increase, each arm against its own dense model of the same source seed, changes with "
           "sparsity; per seed the least-squares slope over the sparsities (tickets' methods averaged), tested "
           "across seeds by the paired t-test with a sign-flip permutation check, Holm-corrected over the primary "
           "tests")

ALPHA = 0.05


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def aggregate(records: list[dict], opts) -> tuple[list[dict], list[dict], list[str]]:
    """One result per (pretraining, method, sparsity, mode), one gap per robust cell, and the
    verdict lines."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["pretraining"], r["method"], r["sparsity"], r["mode"]), []).append(r)
    results = []
    for (pretraining, method, sparsity, mode), rs in groups.items():
        rs = sorted(rs, key=lambda r: r.get("source_seed", 0))
        accs = [r["acc"] for r in rs]
        mean, ci = mean_ci(accs)
        results.append({"method": method, "pretraining": pretraining, "sparsity": sparsity, "mode": mode,
                        "n": len(rs), "acc_mean": mean, "acc_ci95": ci, "acc_values": accs,
                        "acc_seeds": [r.get("source_seed", i) for i, r in enumerate(rs)],
                        "mean_class_acc_mean": _mean(r["mean_class_acc"] for r in rs),
                        "train_loss_mean": _mean(r.get("train_loss") for r in rs),
                        "draw_train_loss_mean": _mean(r.get("draw_train_loss") for r in rs),
                        "omp_overlap_mean": _mean(r.get("omp_overlap") for r in rs),
                        "empty_channels_mean": _mean(r.get("empty_channels") for r in rs),
                        # full fine-tuning runs whose final training loss stayed high (finetune.CONVERGED_LOSS)
                        "unconverged": sum(r.get("converged") is False for r in rs)})
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    for r in results:
        base = index.get((r["pretraining"], DENSE, 0.0, r["mode"]))
        err_b = 1 - base["acc_mean"] if base else None
        # eps = (err_S - err_B) / err_B; undefined when the dense model makes no error.
        r["rel_error_increase"] = (1 - r["acc_mean"] - err_b) / err_b if err_b else None
    results.sort(key=lambda r: (r["mode"], r["method"] != DENSE, r["method"], r["sparsity"], r["pretraining"]))
    correct = {(r["pretraining"], r["method"], r["sparsity"], r["mode"], r.get("source_seed", 0)): r["val_correct"]
               for r in records if r.get("val_correct")}
    gaps = _gaps(results, opts, correct)
    primary = _primary(results, opts, correct)
    return results, gaps, primary_lines(primary) + verdict(gaps, opts)


def _by_seed(r: dict) -> dict:
    return dict(zip(r["acc_seeds"], r["acc_values"]))


def _seed_matrices(correct: dict, cells: list[tuple], seeds) -> dict | None:
    """{seed: bool array (cells x validation images)} for the nested bootstrap, or None when a
    cell lacks its per-image record (studies run before it was kept)."""
    import numpy as np

    keys = [(*cell, seed) for seed in seeds for cell in cells]
    if not seeds or any(k not in correct for k in keys):
        return None
    return {seed: np.stack([read_correct_bits(correct[(*cell, seed)]) for cell in cells]) for seed in seeds}


def _gap_bootstrap(correct: dict, robust_cell: tuple, natural_cell: tuple, seeds) -> tuple | None:
    matrices = _seed_matrices(correct, [robust_cell, natural_cell], seeds)
    if matrices is None or len(seeds) < 2:
        return None
    return nested_bootstrap(matrices, lambda rows: sum(r[0] - r[1] for r in rows) / len(rows))


def _slope_bootstrap(correct: dict, robust: str, mode: str, pairs: list[tuple], seeds) -> tuple | None:
    """The nested bootstrap interval of the primary slope: per drawn seed the gap in relative
    error increase per sparsity (methods averaged), its least-squares slope, the mean over seeds."""
    import math

    cells = [(robust, DENSE, 0.0, mode), ("natural", DENSE, 0.0, mode)]
    for method, sparsity in pairs:
        cells += [(robust, method, sparsity, mode), ("natural", method, sparsity, mode)]
    matrices = _seed_matrices(correct, cells, seeds)
    sparsities = sorted({s for _m, s in pairs})
    if matrices is None or len(seeds) < 2 or len(sparsities) < 2:
        return None

    def statistic(rows) -> float:
        slopes = []
        for row in rows:
            eb, en = 1 - row[0], 1 - row[1]
            if not eb or not en:
                return math.nan
            by_sparsity: dict = {}
            for i, (_method, sparsity) in enumerate(pairs):
                r, n = 1 - row[2 + 2 * i], 1 - row[3 + 2 * i]
                by_sparsity.setdefault(sparsity, []).append((r - eb) / eb - (n - en) / en)
            slopes.append(slope(sparsities, [sum(v) / len(v) for _s, v in sorted(by_sparsity.items())]))
        return sum(slopes) / len(slopes)

    return nested_bootstrap(matrices, statistic)


def _primary(results: list[dict], opts, correct: dict | None = None) -> list[dict]:
    """The primary test per robust pretraining and mode (see PRIMARY), Holm-corrected together."""
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    tests = []
    for robust in [p for p in opts.robust if p != "natural"]:
        for mode in opts.modes:
            dense = {arm: index.get((arm, DENSE, 0.0, mode)) for arm in (robust, "natural")}
            if None in dense.values():
                continue
            dense_err = {arm: {k: 1 - a for k, a in _by_seed(r).items()} for arm, r in dense.items()}
            diffs: dict = {}  # seed -> sparsity -> [per-method differences]
            for (arm, method, sparsity, m), r in index.items():
                natural = index.get(("natural", method, sparsity, mode))
                if arm != robust or m != mode or method == DENSE or natural is None:
                    continue
                mine, theirs = _by_seed(r), _by_seed(natural)
                for k in set(mine) & set(theirs):
                    eb, en = dense_err[robust].get(k), dense_err["natural"].get(k)
                    if eb and en:  # eps is undefined against a dense model without error
                        d = ((1 - mine[k]) - eb) / eb - ((1 - theirs[k]) - en) / en
                        diffs.setdefault(k, {}).setdefault(sparsity, []).append(d)
            means = {k: {s: sum(v) / len(v) for s, v in row.items()} for k, row in diffs.items()}
            found = interaction(means)
            sparsities = sorted({s for row in means.values() for s in row})
            complete = sorted(k for k, row in means.items() if all(s in row for s in sparsities))
            pairs = sorted({(method, sparsity) for (arm, method, sparsity, m) in index
                            if arm == robust and m == mode and method != DENSE
                            and ("natural", method, sparsity, mode) in index})
            boot = _slope_bootstrap(correct or {}, robust, mode, pairs, complete)
            tests.append({"robust": robust, "mode": mode, "slope": None if found.slope is None else
                          {**vars(found.slope), "boot_low": boot and boot[0], "boot_high": boot and boot[1]},
                          "per_sparsity": {str(s): vars(g) for s, g in found.per_sparsity.items()},
                          "sparsities": sorted(found.per_sparsity)})
    family = [t for t in tests if t["slope"] and t["slope"]["p"] is not None]
    for t, adjusted in zip(family, holm([t["slope"]["p"] for t in family])):
        t["slope"]["p_holm"] = adjusted
    return tests


def primary_lines(tests: list[dict]) -> list[str]:
    """The primary result first, in words: a claim only with MIN_SOURCE_SEEDS pairs, at least two
    sparsities, and a Holm-corrected p below ALPHA that the sign-flip check agrees with."""
    lines = []
    for t in tests:
        head = f"PRIMARY, {t['mode']} transfer, {t['robust']} vs natural: slope of the gap in relative error increase"
        g = t["slope"]
        if g is None or g["n"] < MIN_SOURCE_SEEDS or g["low"] is None:
            n = g["n"] if g else max((c["n"] for c in t["per_sparsity"].values()), default=0)
            lines.append(f"{head}: no conclusion: {n} source seed pair(s) over {len(t['sparsities'])} sparsity "
                         f"level(s); it needs at least {MIN_SOURCE_SEEDS} pairs and 2 levels")
            continue
        boot = "" if g.get("boot_low") is None else \
            f"; nested bootstrap over seeds and validation images [{g['boot_low']:+.3f}, {g['boot_high']:+.3f}]"
        figure = (f"{g['diff']:+.3f} per unit sparsity [{g['low']:+.3f}, {g['high']:+.3f}] over {g['n']} paired "
                  f"seeds (t p {g['p']:.2g}, Holm {g['p_holm']:.2g}; sign-flip p {g['p_perm']:.2g}{boot})")
        if g["p_holm"] < ALPHA:
            direction = "less" if g["diff"] < 0 else "more"
            # the exact sign-flip p cannot fall below 2 / 2^n: with 5 pairs its floor is 0.0625
            check = "" if g["p_perm"] < ALPHA else (
                f"; the sign-flip check ({g['p_perm']:.2g}) does not reach {ALPHA}"
                + (f", and with {g['n']} pairs it cannot (its floor is {2 / 2 ** g['n']:.2g})"
                   if 2 / 2 ** g["n"] >= ALPHA else ""))
            lines.append(f"{head} {figure}: as sparsity grows, {t['robust']} tickets lose relatively {direction} "
                         f"accuracy than natural ones{check}")
        else:
            why = "the interval includes 0" if not excludes_zero(g["low"], g["high"]) else \
                "Holm's correction over the primary tests does not carry it"
            lines.append(f"{head} {figure}: no conclusion: {why}")
    return lines


def _gaps(results: list[dict], opts, correct: dict | None = None) -> list[dict]:
    """Robust minus natural per (method, sparsity, mode). Holm's family: every ticket cell of
    one robust pretraining (the dense rows are context, reported with their raw p)."""
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    gaps = []
    for r in results:
        natural = index.get(("natural", r["method"], r["sparsity"], r["mode"]))
        if r["pretraining"] == "natural" or natural is None:
            continue
        mine, theirs = _by_seed(r), _by_seed(natural)
        seeds = sorted(set(mine) & set(theirs))
        g = paired([mine[k] for k in seeds], [theirs[k] for k in seeds])
        unpaired = welch(r["acc_values"], natural["acc_values"])
        cell = (r["method"], r["sparsity"], r["mode"])
        boot = _gap_bootstrap(correct or {}, (r["pretraining"], *cell), ("natural", *cell), seeds)
        gaps.append({"robust": r["pretraining"], "method": r["method"], "sparsity": r["sparsity"], "mode": r["mode"],
                     "diff": g.diff, "low": g.low, "high": g.high, "p": g.p, "p_perm": g.p_perm, "p_holm": None,
                     "n_pairs": g.n, "p_welch": unpaired.p, "boot_low": boot and boot[0], "boot_high": boot and boot[1], "n_robust": r["n"], "n_natural": natural["n"],
                     "unconverged": r.get("unconverged", 0) + natural.get("unconverged", 0)})
    for robust in {g["robust"] for g in gaps}:
        family = [g for g in gaps if g["robust"] == robust and g["method"] != DENSE and g["p"] is not None
                  and not g["unconverged"]]
        for g, adjusted in zip(family, holm([g["p"] for g in family])):
            g["p_holm"] = adjusted
    return gaps


def _cell(g: dict) -> str:
    text = f"{g['method']} {g['sparsity']:.0%} {100 * g['diff']:+.1f}"
    if g["low"] is not None:
        text += f" [{100 * g['low']:+.1f}, {100 * g['high']:+.1f}]"
    if g["p_holm"] is not None:
        text += f" p_Holm {g['p_holm']:.2g}"
    return text


def verdict(gaps: list[dict], opts) -> list[str]:
    """Per robust pretraining and mode: a claim only where a gap survives Holm's correction
    with at least MIN_SOURCE_SEEDS source seeds per arm; "no conclusion" otherwise."""
    lines = []
    for robust in [p for p in opts.robust if p != "natural"]:
        for mode in opts.modes:
            cells = [g for g in gaps if g["robust"] == robust and g["mode"] == mode and g["method"] != DENSE]
            flagged = [g for g in cells if g["unconverged"]]
            if flagged:  # the budget, not the ticket, decided these accuracies: not compared
                lines.append(f"{mode} transfer, {robust} vs natural: not compared at "
                             + "; ".join(f"{g['method']} {g['sparsity']:.0%}" for g in flagged)
                             + f": {sum(g['unconverged'] for g in flagged)} fine-tuning run(s) ended with training loss "
                             "above 0.1 (raise --finetune-epochs)")
                cells = [g for g in cells if not g["unconverged"]]
            if not cells:
                continue
            observed = "; ".join(_cell(g) for g in cells)
            n = min(g["n_pairs"] for g in cells)
            head = f"secondary, per cell, {mode} transfer, {robust} vs natural tickets"
            if n < MIN_SOURCE_SEEDS:
                lines.append(f"{head}: no conclusion: {n} paired source seed(s) per arm, and a claim needs at least "
                             f"{MIN_SOURCE_SEEDS} independent pretrainings (--source-seeds); gaps seen, untested: "
                             f"{observed} points")
                continue
            better = [g for g in cells if g["p_holm"] is not None and g["p_holm"] < ALPHA and g["diff"] > 0]
            worse = [g for g in cells if g["p_holm"] is not None and g["p_holm"] < ALPHA and g["diff"] < 0]
            if not better and not worse:
                why = ("every 95% interval of the gap includes 0" if not any(excludes_zero(g["low"], g["high"]) for g in cells)
                       else f"no gap is significant after Holm's correction over the {robust} cells")
                lines.append(f"{head}: no conclusion: {why} ({n} paired source seeds; gap in points "
                             f"[paired 95% CI]: {observed})")
                continue
            parts = []
            if better:
                parts.append(f"{robust} tickets transfer better at " + "; ".join(_cell(g) for g in better))
            if worse:
                parts.append(f"{robust} tickets transfer worse at " + "; ".join(_cell(g) for g in worse))
            rest = len(cells) - len(better) - len(worse)
            lines.append(f"{head}: " + ", and ".join(parts) + f" (points [paired 95% CI], paired t-test Holm-corrected, "
                         f"{n} paired source seeds); no significant difference in the other {rest} cell(s)")
    if not lines:
        lines.append("no robust-vs-natural comparison in this study: --robust needs natural and pgd (or smoothing)")
    return lines


def source_summary(payload: dict) -> dict:
    """The sources' clean and robust accuracy per pretraining (mean and 95% interval over
    source seeds), and a warning when a robust pretraining did not make its sources more
    robust than the natural ones: then the comparison does not test robust tickets."""
    by = {}
    for rec in payload["pretrained"]:
        by.setdefault(rec["pretraining"], []).append(rec)
    out, warnings = {"per_pretraining": {}}, []
    for p, recs in by.items():
        clean, robust = (mean_ci([r[k]["top1"] for r in recs]) for k in ("val_clean", "val_robust"))
        out["per_pretraining"][p] = {"clean": clean[0], "clean_ci95": clean[1], "robust": robust[0],
                                     "robust_ci95": robust[1], "n": len(recs), "attack": recs[0]["eval_attack"]}
    natural = out["per_pretraining"].get("natural")
    for p, s in out["per_pretraining"].items():
        if p != "natural" and natural is not None and s["robust"] <= natural["robust"]:
            warnings.append(f"WARNING: the {p} sources are not more robust than the natural ones (robust top-1 "
                            f"{s['robust']:.3f} vs {natural['robust']:.3f} under {s['attack']}): this study does not "
                            "compare robust with natural tickets")
    out["warnings"] = warnings
    return out


def _pm(mean: float, ci: float | None) -> str:
    return f"{100 * mean:.2f}" + ("" if ci is None else f" ± {100 * ci:.2f}")


def table_rows(payload: dict) -> tuple[list[str], list[list]]:
    """One row per (mode, method, sparsity): per pretraining the mean top-1 ± 95% interval
    half-width; per robust pretraining the gap to natural with its interval and Holm's p."""
    pretrainings = payload["settings"]["robust"]
    robusts = [p for p in pretrainings if p != "natural" and "natural" in pretrainings]
    headers = ["mode", "method", "sparsity"] + [f"{p} top-1 (%)" for p in pretrainings]
    for p in robusts:
        headers += [f"{p}-natural [95% CI]", "[bootstrap]", "p (Holm)"]
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in payload["results"]}
    gaps = {(g["robust"], g["method"], g["sparsity"], g["mode"]): g for g in payload["gaps"]}
    keys = sorted({(r["mode"], r["method"], r["sparsity"]) for r in payload["results"]},
                  key=lambda k: (k[0], k[1] != DENSE, k[1], k[2]))
    rows = []
    for mode, method, sparsity in keys:
        row = [mode, method, f"{sparsity:.0%}"]
        for p in pretrainings:
            r = index.get((p, method, sparsity, mode))
            row.append("-" if r is None else _pm(r["acc_mean"], r["acc_ci95"]))
        for p in robusts:
            g = gaps.get((p, method, sparsity, mode))
            if g is None:
                row += ["-", "-", "-"]
                continue
            interval = "" if g["low"] is None else f" [{100 * g['low']:+.2f}, {100 * g['high']:+.2f}]"
            row.append(f"{100 * g['diff']:+.2f}{interval}")
            row.append("-" if g.get("boot_low") is None else f"[{100 * g['boot_low']:+.2f}, {100 * g['boot_high']:+.2f}]")
            p_value = g["p_holm"] if g["p_holm"] is not None else g["p"]
            row.append("-" if p_value is None else f"{p_value:.2g}" + ("" if g["p_holm"] is not None else " (raw)"))
        rows.append(row)
    return headers, rows


def detail_rows(payload: dict) -> tuple[list[str], list[list]]:
    """Convergence and draw evidence per cell: the transfer's final training loss (probe or
    fine-tune), eps, and the draw's own training loss, mask overlap with OMP and share of
    output channels pruned whole."""
    headers = ["mode", "method", "sparsity", "pretraining", "n", "final train loss", "eps", "draw train loss",
               "overlap with omp", "channels pruned whole"]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    rows = [[r["mode"], r["method"], f"{r['sparsity']:.0%}", r["pretraining"], r["n"],
             fmt(r["train_loss_mean"], ".4f") + (f" ({r['unconverged']} not converged)" if r.get("unconverged") else ""),
             "-" if r["method"] == DENSE else fmt(r["rel_error_increase"], "+.2f"),
             fmt(r["draw_train_loss_mean"], ".3f"), fmt(r["omp_overlap_mean"], ".3f"),
             fmt(r.get("empty_channels_mean"), ".1%")] for r in payload["results"]]
    return headers, rows


def _source_lines(payload: dict) -> list[str]:
    lines = []
    for p, s in payload["sources"]["per_pretraining"].items():
        lines.append(f"source {p} ({s['n']} seed(s)): val clean top-1 {_pm(s['clean'], s['clean_ci95'])}%, robust "
                     f"top-1 {_pm(s['robust'], s['robust_ci95'])}% under {s['attack']}")
    return lines


def _compares_arms(settings: dict) -> bool:
    """Whether the study has a robust arm beside the natural one (else its tables have no gap)."""
    return "natural" in settings["robust"] and len(settings["robust"]) > 1


def summary_lines(payload: dict) -> list[str]:
    s = payload["settings"]
    legend = f"top-1 on {s['target']} val: mean ± 95% CI half-width over {s['source_seeds']} source seed(s)"
    if _compares_arms(s):
        legend += ("; gap: robust minus natural in points over seeds paired by source seed, paired 95% CI; p: paired "
                   "t-test, Holm-corrected over the ticket cells (secondary; the primary test is the interaction)")
    lines = [text_table(*table_rows(payload)), legend,
             *_source_lines(payload), *payload["headline"], f"study took {payload['seconds'] / 60:.1f} min"]
    return lines


def markdown(payload: dict) -> str:
    s = payload["settings"]
    out = [f"# Transfer study: {s['arch']}, {s['source']} -> {s['target']}", "",
           f"Pretrainings {', '.join(s['robust'])}, {s['source_seeds']} independent source seed(s) each; methods "
           f"{', '.join(s['methods'])}; sparsities {', '.join(f'{x:g}' for x in s['sparsities'])}; {s['image_size']} px; "
           f"scope {s['scope']}; {s['train_limit'] or 'all'} target training images for both modes. Linear = adapt "
           f"--precompute on {s['engine']} (fresh BatchNorm statistics, standardised features, L-BFGS logistic "
           f"regression); full = finetune for {s['finetune_epochs']} epoch(s) after one head-only epoch (LP-FT, one decay at 3/4; fresh statistics, mask fixed; a cell whose final training loss stays above 0.1 is flagged, not compared).",
           "", "## Verdict", "", f"Primary hypothesis: {PRIMARY}.", ""] + [f"- {line}" for line in payload["headline"]]
    out += ["", "## Sources", ""] + [f"- {line}" for line in _source_lines(payload)]
    legend = "Top-1: mean ± 95% CI half-width over source seeds."
    if _compares_arms(s):
        legend += (" Gap: robust minus natural, points, over pairs that share a source seed (initialisation, batch "
                   "order, transfer seed), paired 95% CI; [bootstrap]: the 95% interval of a nested bootstrap (source "
                   "seeds, then validation images inside each seed, the same images for both arms), which also carries "
                   "the validation set's sampling error; p: paired t-test, Holm-corrected over the ticket cells of each "
                   "robust pretraining (secondary). Primary: " + PRIMARY + ".")
    out += ["", "## Results", "", markdown_table(*table_rows(payload)), "", legend, "",
            "## Convergence and draws", "", markdown_table(*detail_rows(payload)), "",
            "eps = (err_S - err_B) / err_B against the dense model of the same pretraining and mode.", "",
            f"Took {payload['seconds'] / 60:.1f} min. ![accuracy vs sparsity](study.png)", ""]
    return "\n".join(out)


def plot(path: Path, payload: dict) -> None:
    modes = payload["settings"]["modes"]
    fig, axes = two_panels()
    axes = list(axes)[: max(len(modes), 1)] if len(modes) > 1 else [axes[0]]
    if len(modes) == 1:
        fig.delaxes(list(fig.axes)[1])
    styles = {"natural": "-", "pgd": "--", "smoothing": ":"}
    for ax, mode in zip(axes, modes):
        for colour, method in enumerate(payload["settings"]["methods"]):
            for p in payload["settings"]["robust"]:
                pts = sorted((r["sparsity"], r["acc_mean"], r["acc_ci95"] or 0.0) for r in payload["results"]
                             if r["mode"] == mode and r["pretraining"] == p and r["method"] in (method, DENSE))
                if pts:
                    # one colour per scheme, the line style tells the pretraining apart; bars: 95% CI
                    ax.errorbar([x for x, _, _ in pts], [100 * y for _, y, _ in pts], yerr=[100 * c for _, _, c in pts],
                                fmt=styles.get(p, "-"), marker="o", capsize=3, color=f"C{colour}", label=f"{method} ({p})")
        ax.set_title(f"{mode} transfer to {payload['settings']['target']}")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("top-1 (%)")
    save_figure(fig, axes, path)


def write_reports(folder: Path, payload: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "report.md", markdown(payload))
    plot(folder / "study.png", payload)
