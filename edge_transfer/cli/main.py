"""``edge-transfer`` entry point: parses arguments into a subcommand and turns typed
errors into one-line messages with exit code 2. Heavy libraries are imported only
inside the subcommands' ``run`` so ``--help`` is instant."""

from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__, interrupts
from ..errors import EdgeTransferError
from . import _args

# subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "pretrain": ("pretrain", "train a dense source model: natural, PGD adversarial or randomized smoothing"),
    "prune": ("prune", "draw a ticket (pruned subnetwork) from a checkpoint or random init"),
    "info": ("info", "print a ticket's per-layer sparsity, MACs and ideal speedup"),
    "export": ("export_cmd", "export a ticket to ONNX with parity checks and a zero audit"),
    "quantize": ("quantize", "INT8 ticket: calibrate (and optionally QAT), export QDQ and DeepSparse forms, validate"),
    "bench": ("bench", "benchmark tickets against every dense peer (FP32 and INT8) on DeepSparse, ONNX Runtime, OpenVINO, PyTorch"),
    "profile": ("profile", "per-layer speed profile of the device (DeepSparse), for prune --target-speedup"),
    "adapt": ("adapt", "online linear fine-tuning: sparse backbone engine -> trainable linear head"),
    "finetune": ("finetune", "full fine-tuning of a ticket on a task with its mask held fixed"),
    "deploy": ("deploy", "one validated artifact (backbone + head, labels, preprocessing) from an adapt run"),
    "predict": ("predict", "classify image files or folders with a deployed artifact"),
    "learn": ("learn", "keep learning on the device from a deployed artifact; writes a new one"),
    "study": ("study", "natural vs robust tickets: pretrain, draw every scheme, evaluate linear and full transfer"),
    "demo": ("demo", "draw, export and validate demo tickets and write a report"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit 2, like every other input error (no usage block:
    ``--help`` shows it on request)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edge-transfer", description="Pruned CNN tickets on edge CPUs: draw, export, benchmark, adapt.")
    parser.add_argument("--version", action="version", version=f"edge-transfer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(f".{module_name}", __package__)
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run, _kept_on_interrupt=getattr(module, "kept_on_interrupt", None))
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal

    args = build_parser().parse_args(argv)
    handled = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started with SIGINT ignored
        handled.append(signal.SIGINT)
    previous = {s: signal.signal(s, interrupts.on_signal) for s in handled}
    interrupts.received.clear()
    try:
        _args.check_outputs_apart(args)
        _args.unmark(args)
        return args._run(args) or 0
    except BaseException as exc:
        # A signal raised inside native code can come back as another exception (measured: Ctrl-C
        # during `import deepsparse` surfaced as pydantic-core's Rust PanicException, or as an
        # engine load error), so the signal that arrived decides, not the exception's type.
        if not interrupts.received and not isinstance(exc, (KeyboardInterrupt, interrupts.Terminated)):
            if isinstance(exc, EdgeTransferError):
                print(f"edge-transfer {args.command}: error: {exc}", file=sys.stderr)
                return 2
            raise
        terminated = isinstance(exc, interrupts.Terminated) or signal.SIGTERM in interrupts.received
        what = "terminated" if terminated else "interrupted"
        kept = args._kept_on_interrupt(args) if args._kept_on_interrupt else None  # what a command keeps on purpose
        print(f"edge-transfer {args.command}: {what}; " + (kept or "nothing partial was written"), file=sys.stderr)
        return 143 if terminated else 130
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
