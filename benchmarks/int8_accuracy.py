"""What INT8 costs in accuracy: a trained resnet18-cifar ticket on the embedded target task.

Pretrains resnet18-cifar on embedded:mnist-0to4 (16 px), draws OMP tickets per layer at
each --sparsities, fine-tunes each on embedded:mnist-5to9 (the target task, new 5-class
head), then quantizes each fine-tuned ticket to INT8 calibrated on the target's training
images, and reports FP32 vs INT8 top-1 on the target's held-out split (ONNX Runtime on the
QDQ form; DeepSparse's form passed parity against the same fake-quantized model).

    .venv/bin/python benchmarks/int8_accuracy.py [--sparsities 0.8,0.9,0.95] [--epochs 3]

Writes ``int8_accuracy.{json,md}`` under --out. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HEADERS = ["ticket", "sparsity", "FP32 top-1", "INT8 top-1", "change (points)", "agreement", "held-out images",
           "INT8 zeros kept"]


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--sparsities", type=_floats, default=(0.0, 0.8, 0.9, 0.95))
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs on the target task")
    parser.add_argument("--samples", type=int, default=256, help="calibration images")
    args = parser.parse_args()

    from edge_transfer.fileio import atomic_write_text, write_json
    from edge_transfer.finetune import FinetuneOptions, finetune
    from edge_transfer.formats import ticket_tag
    from edge_transfer.pretrain import PretrainOptions, default_train_settings, pretrain
    from edge_transfer.prune import PruneOptions, draw_ticket
    from edge_transfer.quantize import QuantizeOptions, quantize
    from edge_transfer.system import system_info
    from edge_transfer.tables import markdown_table, text_table
    from edge_transfer.train import TrainSettings

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    size, arch, target = 16, "resnet18-cifar", "embedded:mnist-5to9"
    start = time.perf_counter()
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d = default_train_settings()
        source = pretrain(PretrainOptions(arch=arch, output=tmp / "source.pt", train=TrainSettings(
            data="embedded:mnist-0to4", epochs=args.pretrain_epochs, lr=d.lr, weight_decay=d.weight_decay,
            image_size=size, progress=False)), log=log)
        for sparsity in args.sparsities:
            tag = f"{arch}-{ticket_tag('omp', sparsity)}"
            ticket = draw_ticket(PruneOptions(arch=arch, output=tmp / tag, sparsity=sparsity, scope="layer",
                                              checkpoint=source.path, pretraining="natural",
                                              train=TrainSettings(image_size=size)))
            tuned = finetune(FinetuneOptions(ticket=ticket.path, output=tmp / f"{tag}-target", train=TrainSettings(
                data=target, epochs=args.epochs, lr=0.01, image_size=size, progress=False)))
            log(f"{tag}: fine-tuned on {target}, top-1 {tuned.top1:.3f}")
            q = quantize(QuantizeOptions(source=tuned.path, output=tmp / f"{tag}-int8", calibration=target,
                                         samples=args.samples, with_dense=False, progress=False))
            a = q.accuracy
            zeros = q.manifest.validation["lost_zeros"] == 0
            rows.append([tag, f"{ticket.meta.achieved_sparsity:.1%}", f"{a['fp32_top1']:.2%}", f"{a['int8_top1']:.2%}",
                         f"{a['change_points']:+.2f}", f"{a['top1_agreement']:.2%}", a["images"],
                         "yes" if zeros else "NO"])
            records.append({"ticket": tag, "sparsity": ticket.meta.achieved_sparsity, "finetune_top1": tuned.top1,
                            "accuracy": a, "int8_zeros_kept": zeros})
            log(text_table(HEADERS, rows[-1:]))
    system = system_info()
    seconds = time.perf_counter() - start
    print(text_table(HEADERS, rows))
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "int8_accuracy.json", {"system": system, "command": " ".join(sys.argv), "seconds": seconds,
                                                 "source_val_clean": source.record["val_clean"], "results": records})
    atomic_write_text(args.out / "int8_accuracy.md",
                      f"# INT8 accuracy of trained tickets on the target task\n\n{arch} pretrained on "
                      f"embedded:mnist-0to4 ({args.pretrain_epochs} epochs, {size} px, val top-1 "
                      f"{source.record['val_clean']['top1']:.3f}); OMP per layer; fine-tuned {args.epochs} epochs on "
                      f"{target}; INT8 calibrated on {args.samples} of its training images. "
                      f"{system['cpu_model']}, ISA {system.get('isa')}. {seconds:.0f} s.\n\n"
                      + markdown_table(HEADERS, rows) + "\n")
    print(f"wrote {args.out}/int8_accuracy.{{json,md}} in {seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
