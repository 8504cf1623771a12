"""``run_study(StudyOptions) -> StudyResult``: natural vs robust tickets, end to end.

The unit of replication is the source seed: for each pretraining (natural, pgd,
smoothing) and each of ``source_seeds`` seeds a dense source model is pretrained on the
source task (cached by a hash of everything that shapes it), and from it every scheme draws
tickets at every sparsity with that seed (imp/aimp reach all sparsities in one pruning
trajectory; lmp learns its mask on the target task, the others draw on the source task).
Each ticket and the dense model (sparsity 0, the baseline B) is then transferred to the
target task with that seed, both modes on the same training images: ``linear`` is adapt's
--precompute mode (fresh BatchNorm statistics, frozen backbone on an engine, converged
L-BFGS probe), ``full`` is ``finetune`` (fresh statistics, mask held fixed).

Results: flat records (``edge-transfer.study/2``) with accuracy mean and 95% interval over
source seeds, the relative increase in error eps = (err_S - err_B) / err_B against the
dense model of the same pretraining and mode, the robust-minus-natural gap paired by source
seed (paired t interval and test, a sign-flip check; Holm-corrected over the reported cells),
the primary test (that gap's slope over sparsity), and a verdict that says "no conclusion"
unless the statistics carry one; a table, Markdown, JSON and a PNG of accuracy
vs sparsity. Finished evaluations are kept under the output folder, so an interrupted
study resumes where it stopped.
"""

from .options import MODES, StudyOptions, StudyResult  # noqa: F401
from .run import run_study  # noqa: F401
