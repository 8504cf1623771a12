"""Typed errors. Each message says what to do; the CLI prints it on one line and exits 2."""


class EdgeTransferError(ValueError):
    """Base class for every error caused by user input."""


class UnknownNameError(EdgeTransferError):
    """A name (architecture, method, engine) that is not registered."""


class OptionError(EdgeTransferError):
    """An option value outside its valid range."""


class CheckpointError(EdgeTransferError):
    """A checkpoint that cannot be read or does not fit the architecture."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint that needs arbitrary unpickling to load."""


class TicketError(EdgeTransferError):
    """A ticket folder that is missing, incomplete or inconsistent."""


class OutputExistsError(EdgeTransferError):
    """An output folder that already exists (refused unless --force)."""


class OnnxModelError(EdgeTransferError):
    """An ONNX file that is missing, corrupt or unsafe to load."""


class ParityError(EdgeTransferError):
    """Engine outputs that differ from the PyTorch reference past tolerance."""


class SparsityLossError(EdgeTransferError):
    """An exported graph that lost zeros the ticket has."""


class RecipeError(EdgeTransferError):
    """A sparsification recipe that is not valid YAML or names an unknown modifier."""


class DeployError(EdgeTransferError):
    """A deploy source or deployed artifact that cannot be used as given."""


class ClusterError(EdgeTransferError):
    """A dask cluster that cannot be reached or cannot run this edge-transfer as given."""
