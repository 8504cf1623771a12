"""adapt's summary: medians over epochs, the sparse-vs-dense speedups of the same run, and
the probe's evidence when the head was fitted by L-BFGS."""

from __future__ import annotations

import statistics

from ..errors import OptionError


def summarise(records: list[dict], bench: dict, task, epochs: int) -> dict:
    def of(name):
        return [r for r in records if r["variant"] == name]

    sparse = of("sparse")
    if not sparse:
        raise OptionError(f"nothing to do: the saved run already finished {epochs} epochs; raise --epochs to continue")
    out = {
        "epochs_run": len(sparse),
        "epoch_seconds_median": statistics.median(r["wall_s"] for r in sparse),
        "images_per_sec_median": statistics.median(r["images_per_sec"] for r in sparse),
        "hidden_fraction": sum(r["hidden_s"] for r in sparse) / max(sum(r["wall_s"] for r in sparse), 1e-12),
        "val_top1": sparse[-1]["val_top1"],
        "val_mean_class_acc": sparse[-1]["val_mean_class_acc"],
        "unreadable_images": len(task.train.unreadable | task.val.unreadable),
        "train_loss": sparse[-1]["train_loss"],
    }
    if "probe" in sparse[-1]:
        out["probe"] = sparse[-1]["probe"]
        out["val_correct"] = sparse[-1].get("val_correct")
    dense = of("dense")
    if dense and "probe" in dense[-1]:  # one fit each: there is no epoch to time
        out.update({"dense_val_top1": dense[-1]["val_top1"], "dense_val_mean_class_acc": dense[-1]["val_mean_class_acc"],
                    "dense_probe": dense[-1]["probe"], **bench})
    elif dense:
        ratios = [d["wall_s"] / s["wall_s"] for s, d in zip(sparse, dense)]
        out.update({
            "dense_epoch_seconds_median": statistics.median(r["wall_s"] for r in dense),
            "epoch_speedup": statistics.median(ratios),
            "epoch_speedup_min": min(ratios),
            "epoch_speedup_max": max(ratios),
            "dense_val_top1": dense[-1]["val_top1"],
            "dense_val_mean_class_acc": dense[-1]["val_mean_class_acc"],
            **bench,
        })
        if bench:
            out["epoch_vs_backbone_speedup"] = out["epoch_speedup"] / bench["backbone_speedup"]
    return out
