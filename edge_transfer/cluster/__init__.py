"""Fan-outs on dask.distributed: the study's cells and the fleet bench. ``local:N`` starts
worker processes on this machine; an address connects to a scheduler started with the
standard ``dask scheduler`` / ``dask worker`` commands."""

from .connect import ClusterSpec, check_shared_folder, local_cores, open_cluster  # noqa: F401
