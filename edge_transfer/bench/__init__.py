"""``run_bench(BenchOptions) -> BenchResult``: time tickets against every dense peer a
user could deploy instead, on every engine with the same cores, correctness checked
before timing.

Rules (each one tested): every engine gets the same pinned cores; warm-up by time and
count; timed iterations until both --time and --min-iterations are met; configurations
run --repeats times in a shuffled order; every dense model of the run (FP32 and INT8,
every engine that runs it) is timed; each ticket row gets two speedups, computed per
repeat pair (median, min, max): over the same engine's dense FP32 model, and over the
fastest dense peer of the run at that batch (the headline).
"""

from .options import SCENARIOS, BenchOptions, BenchResult  # noqa: F401
from ..tolerances import REDUCED_PRECISION_TOLERANCE  # noqa: F401
from .run import run_bench, tolerance_for  # noqa: F401
