"""Adapt results as Markdown and a PNG (accuracy and epoch time per epoch, sparse vs dense)."""

from __future__ import annotations

from pathlib import Path

from ..tables import markdown_table
from ..plots import save_figure, two_panels
from ..fileio import atomic_write_text


def summary_lines(payload: dict) -> list[str]:
    s, st = payload["summary"], payload["settings"]
    tr = st["train"]
    b = payload["backbone"]["sparse"]
    lines = [
        f"backbone: {b['label']} on {st['engine']}, {st['cores_used']} cores, batch {tr['batch_size']}"
        + (" (precomputed features)" if st["precompute"] else f", augment {'on' if tr['augment'] else 'off'}"),
        f"data: {tr['data']} ({st['train_images']} train / {st['val_images']} val images, {st['num_classes']} classes)"
        + (f"; {s['unreadable_images']} unreadable images skipped" if s["unreadable_images"] else ""),
        (f"linear probe fitted in {s['probe']['seconds']:.1f}s" if "probe" in s else
         f"epochs {s['epochs_run']}: median epoch {s['epoch_seconds_median']:.2f}s ({s['images_per_sec_median']:.0f} img/s), "
         f"overlap hid {s['hidden_fraction']:.0%} of the wall time")
        + f"; val top-1 {s['val_top1']:.3f}, mean per-class {s['val_mean_class_acc']:.3f}",
    ]
    if "probe" in s:
        p = s["probe"]
        lines.append(f"probe: L-BFGS logistic regression on standardised features, C {p['C']:g} (chosen on a held-out "
                     f"20% of train), final train loss {p['train_loss']:.4f}, "
                     + ("converged" if p["converged"] else "NOT converged") + f" in {p['iterations']} iterations")
    bn = s.get("batchnorm")
    if bn:
        lines.append("BatchNorm statistics: " + (f"re-estimated on {bn['images']} training images" if bn["recalibrated"]
                                                 else f"the source's ({bn['reason']})"))
    if "dense_probe" in s:
        lines.append(f"dense baseline: val top-1 {s['dense_val_top1']:.3f} (probe train loss "
                     f"{s['dense_probe']['train_loss']:.4f})")
    if "epoch_speedup" in s:
        lines.append(
            f"dense baseline: median epoch {s['dense_epoch_seconds_median']:.2f}s, val top-1 {s['dense_val_top1']:.3f}; "
            f"epoch speedup {s['epoch_speedup']:.2f}x [{s['epoch_speedup_min']:.2f}-{s['epoch_speedup_max']:.2f}]"
            + (f", backbone inference speedup {s['backbone_speedup']:.2f}x "
               f"[{s['backbone_speedup_min']:.2f}-{s['backbone_speedup_max']:.2f}] in the same run "
               f"(epoch/backbone = {s['epoch_vs_backbone_speedup']:.0%})" if "backbone_speedup" in s else "")
        )
    if b["untrained"]:
        lines.append("NOTE: untrained backbone weights: timings are real, accuracy reflects random features")
    return lines


def markdown(payload: dict) -> str:
    headers = ["epoch", "backbone", "lr", "wall s", "img/s", "backbone s", "head s", "data s", "hidden s", "loss", "val top-1", "val mean-class"]
    rows = [[r["epoch"], r["variant"], f"{r['lr']:.4g}", f"{r['wall_s']:.2f}", f"{r['images_per_sec']:.0f}",
             f"{r['backbone_s']:.2f}", f"{r['head_s']:.3f}", f"{r['data_s']:.2f}", f"{r['hidden_s']:.2f}",
             f"{r['train_loss']:.3f}", f"{r['val_top1']:.3f}", f"{r['val_mean_class_acc']:.3f}"] for r in payload["epochs"]]
    return "\n".join(["# edge-transfer adapt", "", *[f"- {line}" for line in summary_lines(payload)], "",
                      markdown_table(headers, rows), ""])


def plot(path: Path, payload: dict) -> None:
    fig, (ax_acc, ax_t) = two_panels(11, 4)
    for name in ("sparse", "dense"):
        rows = [r for r in payload["epochs"] if r["variant"] == name]
        if rows:
            label = payload["backbone"][name]["label"]
            ax_acc.plot([r["epoch"] for r in rows], [r["val_top1"] for r in rows], marker=".", label=label)
            ax_t.plot([r["epoch"] for r in rows], [r["wall_s"] for r in rows], marker=".", label=label)
    ax_acc.set(xlabel="epoch", ylabel="val top-1", title="accuracy")
    ax_t.set(xlabel="epoch", ylabel="seconds", title="epoch wall time")
    save_figure(fig, (ax_acc, ax_t), path)


def write_reports(folder: Path, payload: dict) -> None:
    atomic_write_text(folder / "report.md", markdown(payload))
    plot(folder / "adapt.png", payload)
