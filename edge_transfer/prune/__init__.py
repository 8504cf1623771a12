"""Draw a ticket: load (or randomly initialise) a source model, run a drawing scheme, write
the folder.

Entry points: ``draw_ticket(PruneOptions) -> PruneResult`` and, for several sparsities
from one run (imp/aimp share their pruning trajectory), ``draw_tickets(opts, {s: path})``.
Schemes live in the registry of ``_registry.py``: omp (magnitude.py), imp/aimp (iterative.py),
lmp (lmp.py), str (soft_threshold.py), gmp/acdc/woodfisher/rigl (sparseml recipes: recipes.py
reads them, recipe_training.py runs them).
"""

from ._registry import DrawContext, Drawn, get_method, list_methods, register_method  # noqa: F401
from .options import (BLOCKS, DEFAULT_PRUNE_RATIO_PER_ROUND, PRETRAINING, SCOPES, PruneOptions,  # noqa: F401
                      PruneResult)
from .draw import draw_ticket, draw_tickets  # noqa: F401
from . import iterative, lmp, magnitude, recipe_training, recipes, soft_threshold  # noqa: E402,F401  (register every scheme)
