"""edge-transfer: draw, export, benchmark and adapt pruned CNN tickets on edge CPUs."""

import os as _os

# An edge tool never phones home: DeepSparse and SparseML read this when they
# are first imported, so it must be set before any submodule imports them.
_os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")
# openvino_telemetry sends a usage event on `import openvino` unless it believes it runs in
# CI; TF_BUILD is the CI marker that only it reads here (CI=true would change torch and pip).
_os.environ["TF_BUILD"] = _os.environ.get("TF_BUILD") or "True"

__version__ = "0.2.0"
