"""Online-learning speedup (the sparse-transfer seed paper's Section 3.6) on this machine.

For each architecture, OMP tickets at 0.8/0.9/0.95 (untrained weights: speed only, drawn
per layer) are adapted online with DeepSparse against their dense baseline, epochs of the
two interleaved, batch 64, all cores. Reported per ticket: the epoch-time speedup and the
pure backbone inference speedup measured in the same run, and their ratio (goal: >= 90%).

    .venv/bin/python benchmarks/online_learning.py [--epochs 3] [--out benchmarks/results]

resnet18-cifar trains on the embedded target task (2,000 images at 32 px); resnet50 on
320 of those images written out as a 224 px ImageFolder. Writes online_learning.json and
online_learning.md. Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

SPARSITIES = (0.8, 0.9, 0.95)


def small_folder(root: Path, per_class: int) -> Path:
    """The first ``per_class`` training images of each target digit, as PNG files."""
    from PIL import Image

    from edge_transfer.data import load_task

    task = load_task("embedded:mnist-5to9")
    counts: dict[int, int] = {}
    for i in range(len(task.train)):
        label = task.train.label(i)
        if counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / task.train.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(task.train.image(i)[0].numpy()).save(folder / f"{i}.png")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--archs", default="resnet18-cifar,resnet50")
    parser.add_argument("--engine", default="deepsparse")
    args = parser.parse_args()

    from dataclasses import replace

    from edge_transfer.adapt import AdaptOptions, adapt
    from edge_transfer.adapt.options import default_train_settings
    from edge_transfer.fileio import atomic_write_text, write_json
    from edge_transfer.bench.made import speed_only_tickets
    from edge_transfer.system import system_info
    from edge_transfer.tables import markdown_table, text_table

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    rows, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data224 = str(small_folder(tmp / "digits", per_class=64))
        for arch in args.archs.split(","):
            data = "embedded:mnist-5to9" if arch.endswith("-cifar") else data224
            for folder in speed_only_tickets(tmp, arch, SPARSITIES, log).values():
                tag = folder.name
                log(f"== {tag}")
                train = replace(default_train_settings(), data=data, epochs=args.epochs, batch_size=64)
                result = adapt(AdaptOptions(source=folder, train=train, output=tmp / f"run-{tag}",
                                            compare_dense=True, engine=args.engine), log=log)
                sm = result.summary
                runs.append({"ticket": tag, "data": data if data.startswith("embedded") else "320 embedded images at 224 px",
                             **sm})
                rows.append([tag, f"{sm['dense_epoch_seconds_median']:.2f}", f"{sm['epoch_seconds_median']:.2f}",
                             f"{sm['epoch_speedup']:.2f}x [{sm['epoch_speedup_min']:.2f}-{sm['epoch_speedup_max']:.2f}]",
                             f"{sm['backbone_speedup']:.2f}x [{sm['backbone_speedup_min']:.2f}-{sm['backbone_speedup_max']:.2f}]",
                             f"{sm['epoch_vs_backbone_speedup']:.0%}", f"{sm['hidden_fraction']:.0%}"])
    headers = ["ticket (untrained: speed only)", "dense epoch s", "sparse epoch s", "epoch speedup", "backbone speedup",
               "epoch/backbone", "overlap hid"]
    print(text_table(headers, rows))
    system = system_info()
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "online_learning.json", {"schema": "edge-transfer.online-learning/1", "system": system,
                                                    "epochs": args.epochs, "engine": args.engine, "results": runs})
    machine = f"{system['cpu_model']}, {system['usable_cores']} cores, ISA {system.get('isa')}, deepsparse {system['deepsparse']}"
    atomic_write_text(args.out / "online_learning.md", "\n".join([
        "# Online learning speedup", "", f"Machine: {machine}. Engine {args.engine}, batch 64, {args.epochs} epochs, "
        "median over epochs [min-max].", "", markdown_table(headers, rows), ""]))
    print(f"wrote {args.out}/online_learning.{{json,md}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
