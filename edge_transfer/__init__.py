"""edge-transfer: draw, export, benchmark and adapt pruned CNN tickets on edge CPUs.

The pipeline, one entry function per stage, each ``entry(Options) -> Result``:

    pretrain.pretrain         a source model (natural, PGD or smoothing)   -> checkpoint .pt
    prune.draw_ticket         a ticket: mask + weights (omp, imp, aimp, lmp, sparseml recipes)
                                                                            -> ticket folder (TicketMeta)
    finetune.finetune         full fine-tuning with the mask held fixed     -> ticket folder
    export.export_ticket      ONNX classifier + backbone, parity, zero audit -> export folder (ExportManifest)
    quantize.quantize         sparse INT8 forms (QDQ, DeepSparse), accuracy gate -> export folder
    bench.run_bench           every engine x batch x cores, against the fastest dense peer
    adapt.adapt               online linear learning on a frozen backbone  -> adapt run folder
    study.run_study           natural vs robust tickets, linear and full transfer, with statistics
    demo.run_demo             all of it on embedded data, in minutes

Shared: ``formats`` (artifact files and typed records), ``backbones`` / ``engines`` /
``prune._registry`` (registries with declared capabilities), ``train`` (settings, the epoch
loop, attacks), ``data``, ``errors`` (typed, each says what to do), ``fileio`` (atomic writes).
"""

import os as _os

# An edge tool never phones home: DeepSparse and SparseML read this when they
# are first imported, so it must be set before any submodule imports them.
_os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
# openvino_telemetry sends a usage event on `import openvino` unless it believes it runs in
# CI; TF_BUILD is the CI marker that only it reads here (CI=true would change torch and pip).
_os.environ["TF_BUILD"] = _os.environ.get("TF_BUILD") or "True"

__version__ = "0.2.0"
