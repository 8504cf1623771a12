"""The study's figures: aggregate seeds, relative error increase, robust-minus-natural gap;
text/Markdown tables, a PNG of accuracy vs sparsity, and a plain-words headline."""

from __future__ import annotations

from pathlib import Path

HEADLINE_SPARSITY = 0.9


def _mean_std(values: list[float]) -> tuple[float, float]:
    import statistics

    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def aggregate(records: list[dict], opts) -> tuple[list[dict], list[str]]:
    """Flat result records, one per (pretraining, method, sparsity, mode), and headline lines."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["pretraining"], r["method"], r["sparsity"], r["mode"]), []).append(r)
    results = []
    for (pretraining, method, sparsity, mode), rs in groups.items():
        acc_mean, acc_std = _mean_std([r["acc"] for r in rs])
        mca_mean, _ = _mean_std([r["mean_class_acc"] for r in rs])
        results.append({"method": method, "pretraining": pretraining, "sparsity": sparsity, "mode": mode,
                        "acc_mean": acc_mean, "acc_std": acc_std, "mean_class_acc_mean": mca_mean,
                        "seeds": len(rs)})
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    for r in results:
        base = index.get((r["pretraining"], "dense", 0.0, r["mode"]))
        err_b = 1 - base["acc_mean"] if base else None
        err_s = 1 - r["acc_mean"]
        # eps = (err_S - err_B) / err_B; undefined when the dense model makes no error.
        r["rel_error_increase"] = (err_s - err_b) / err_b if err_b else None
        natural = index.get(("natural", r["method"], r["sparsity"], r["mode"]))
        r["robust_minus_natural"] = (r["acc_mean"] - natural["acc_mean"]
                                     if natural is not None and r["pretraining"] != "natural" else None)
    results.sort(key=lambda r: (r["mode"], r["method"] != "dense", r["method"], r["sparsity"], r["pretraining"]))
    return results, _headline(results, opts)


def _headline(results: list[dict], opts) -> list[str]:
    """Robust vs natural at 90% sparsity (or the nearest studied), said as measured: a scheme
    counts as ahead when its gap is positive, and as clearly ahead when the gap also exceeds
    both cells' standard deviation over seeds."""
    lines = []
    target = min(opts.sparsities, key=lambda s: abs(s - HEADLINE_SPARSITY))
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in results}
    for robust in [p for p in opts.robust if p != "natural"]:
        for mode in opts.modes:
            cells = [(r, index[("natural", r["method"], r["sparsity"], mode)]) for r in results
                     if r["pretraining"] == robust and r["mode"] == mode and r["sparsity"] == target
                     and r["robust_minus_natural"] is not None]
            if not cells:
                continue
            gaps = [(r["method"], r["robust_minus_natural"]) for r, _ in cells]
            ahead = sum(g > 0 for _, g in gaps)
            mean_gap = sum(g for _, g in gaps) / len(gaps)
            verdict = ("transfer better" if ahead > len(gaps) / 2 else
                       "do not transfer better" if ahead < len(gaps) / 2 else "are tied with natural tickets")
            if min(r["seeds"] for r, _ in cells) > 1:
                clear = sum(r["robust_minus_natural"] > max(r["acc_std"], n["acc_std"]) for r, n in cells)
                behind = sum(-r["robust_minus_natural"] > max(r["acc_std"], n["acc_std"]) for r, n in cells)
                noise = f"; {clear} ahead and {behind} behind by more than the seed std"
            else:
                noise = "; one seed, so no gap is tested against seed noise"
            lines.append(f"{mode} transfer at {target:.0%} sparsity: {robust} tickets {verdict} on this task "
                         f"({ahead} of {len(gaps)} schemes above natural{noise}; mean gap {100 * mean_gap:+.2f} "
                         "points: " + ", ".join(f"{m} {100 * g:+.2f}" for m, g in gaps) + ")")
    if not lines:
        lines.append("no robust-vs-natural comparison in this study: --robust needs natural and pgd (or smoothing)")
    return lines


def table_rows(payload: dict) -> tuple[list[str], list[list]]:
    """One row per (mode, method, sparsity); per pretraining: accuracy mean ± std and eps."""
    pretrainings = payload["settings"]["robust"]
    headers = ["mode", "method", "sparsity"]
    for p in pretrainings:
        headers += [f"{p} top-1 (%)", f"{p} eps"]
    headers += [f"{p}-natural" for p in pretrainings if p != "natural" and "natural" in pretrainings]
    index = {(r["pretraining"], r["method"], r["sparsity"], r["mode"]): r for r in payload["results"]}
    keys = sorted({(r["mode"], r["method"], r["sparsity"]) for r in payload["results"]},
                  key=lambda k: (k[0], k[1] != "dense", k[1], k[2]))
    rows = []
    for mode, method, sparsity in keys:
        row = [mode, method, f"{sparsity:.0%}"]
        for p in pretrainings:
            r = index.get((p, method, sparsity, mode))
            if r is None:
                row += ["-", "-"]
                continue
            row.append(f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}")
            eps = r["rel_error_increase"]
            row.append("-" if method == "dense" or eps is None else f"{eps:+.2f}")
        for p in pretrainings:
            if p != "natural" and "natural" in pretrainings:
                r = index.get((p, method, sparsity, mode))
                gap = r["robust_minus_natural"] if r else None
                row.append("-" if gap is None else f"{100 * gap:+.2f}")
        rows.append(row)
    return headers, rows


def summary_lines(payload: dict) -> list[str]:
    from ..tables import text_table

    s = payload["settings"]
    lines = [text_table(*table_rows(payload)),
             f"top-1 on {s['target']} val ({s['seeds']} seed(s): mean ± std); eps = (err_S - err_B) / err_B against "
             "the dense model of the same pretraining and mode; last columns: robust minus natural, in points"]
    for p, rec in payload["pretrained"].items():
        lines.append(f"source {p}: val clean top-1 {rec['val_clean']['top1']:.3f}, robust top-1 "
                     f"{rec['val_robust']['top1']:.3f} under {rec['eval_attack']}")
    lines += payload["headline"]
    lines.append(f"study took {payload['seconds'] / 60:.1f} min")
    return lines


def markdown(payload: dict) -> str:
    from ..tables import markdown_table

    s = payload["settings"]
    out = [f"# Transfer study: {s['arch']}, {s['source']} -> {s['target']}", "",
           f"Pretrainings {', '.join(s['robust'])}; methods {', '.join(s['methods'])}; sparsities "
           f"{', '.join(f'{x:g}' for x in s['sparsities'])}; {s['seeds']} seed(s); {s['image_size']} px images; "
           f"scope {s['scope']}; linear = adapt --precompute on {s['engine']}, full = finetune with the mask fixed.",
           "", "## Headline", ""] + [f"- {line}" for line in payload["headline"]] + ["", "## Sources", ""]
    for p, rec in payload["pretrained"].items():
        out.append(f"- {p}: val clean top-1 {rec['val_clean']['top1']:.3f}, robust top-1 "
                   f"{rec['val_robust']['top1']:.3f} ({rec['eval_attack']})")
    out += ["", "## Results", "", markdown_table(*table_rows(payload)), "",
            "eps = (err_S - err_B) / err_B against the dense model of the same pretraining and mode.", "",
            f"Took {payload['seconds'] / 60:.1f} min. ![accuracy vs sparsity](study.png)", ""]
    return "\n".join(out)


def plot(path: Path, payload: dict) -> None:
    from ..plots import save_figure, two_panels

    modes = payload["settings"]["modes"]
    fig, axes = two_panels()
    axes = list(axes)[: max(len(modes), 1)] if len(modes) > 1 else [axes[0]]
    if len(modes) == 1:
        fig.delaxes(list(fig.axes)[1])
    styles = {"natural": "-", "pgd": "--", "smoothing": ":"}
    for ax, mode in zip(axes, modes):
        for colour, method in enumerate(payload["settings"]["methods"]):
            for p in payload["settings"]["robust"]:
                pts = sorted((r["sparsity"], r["acc_mean"]) for r in payload["results"]
                             if r["mode"] == mode and r["pretraining"] == p and r["method"] in (method, "dense"))
                if pts:
                    # one colour per scheme, the line style tells the pretraining apart
                    ax.plot([x for x, _ in pts], [100 * y for _, y in pts], styles.get(p, "-"), marker="o",
                            color=f"C{colour}", label=f"{method} ({p})")
        ax.set_title(f"{mode} transfer to {payload['settings']['target']}")
        ax.set_xlabel("sparsity")
        ax.set_ylabel("top-1 (%)")
    save_figure(fig, axes, path)


def write_reports(folder: Path, payload: dict) -> None:
    from ..fileio import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "report.md", markdown(payload))
    plot(folder / "study.png", payload)
