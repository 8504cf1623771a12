"""edge-transfer: draw, export, benchmark and adapt pruned CNN tickets on edge CPUs."""

import os as _os

# An edge tool never phones home: DeepSparse and SparseML read this when they
# are first imported, so it must be set before any submodule imports them.
_os.environ.setdefault("NM_DISABLE_ANALYTICS", "1")

__version__ = "0.1.0"
