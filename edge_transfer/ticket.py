"""The ticket format: a folder that every later stage (export, bench, adapt) consumes.

    ticket.json          metadata (formats.TicketMeta), schema ``edge-transfer.ticket/2``
    weights.safetensors  full state_dict with the mask applied (pruned weights exactly 0)
    masks.safetensors    one bool tensor per pruned layer (True = kept)
    dense.safetensors    the source values of the pruned tensors, so the dense
                         baseline (same weights, mask not applied) can be rebuilt
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .backbones import create_backbone, get_backbone_cfg, split_backbone
from .errors import TicketError
from .fileio import sha256_file
from .formats import TICKET_FILE, TicketMeta

WEIGHTS_FILE = "weights.safetensors"
MASKS_FILE = "masks.safetensors"
DENSE_FILE = "dense.safetensors"
TENSOR_FILES = (WEIGHTS_FILE, MASKS_FILE, DENSE_FILE)


@dataclass
class Ticket:
    path: Path
    meta: TicketMeta
    model: "object"  # nn.Module in eval mode, masked weights
    masks: dict  # parameter name -> bool tensor

    @property
    def arch(self) -> str:
        return self.meta.arch

    @property
    def label(self) -> str:
        return self.meta.label

    def dense_model(self):
        """The dense baseline: same architecture and weights, mask not applied."""
        import copy

        from safetensors.torch import load_file

        dense = copy.deepcopy(self.model)
        source = load_file(str(self.path / DENSE_FILE))
        state = dense.state_dict()
        state.update(source)
        dense.load_state_dict(state)
        return dense.eval()


def save_ticket(folder: Path, model, masks: dict, dense_values: dict, meta: TicketMeta) -> TicketMeta:
    """Write a ticket into ``folder`` (an empty temp folder from ``atomic_output_dir``);
    returns ``meta`` with the sha256 of each tensor file, as written into ticket.json."""
    import dataclasses

    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_FILE))
    save_file({k: v.contiguous() for k, v in masks.items()}, str(folder / MASKS_FILE))
    save_file({k: v.detach().contiguous() for k, v in dense_values.items()}, str(folder / DENSE_FILE))
    meta = dataclasses.replace(meta, files={name: sha256_file(folder / name) for name in TENSOR_FILES})
    meta.write(folder / TICKET_FILE)
    return meta


def load_ticket_meta(path: Path, verify_hashes: bool = True) -> TicketMeta:
    if not path.is_dir():
        raise TicketError(f"ticket folder {path} not found; draw one with `edge-transfer prune ... --output {path}`")
    if not (path / TICKET_FILE).is_file():
        raise TicketError(f"{path} has no {TICKET_FILE}; it is not a ticket folder (draw one with `edge-transfer prune`)")
    meta = TicketMeta.read(path / TICKET_FILE)
    for name in TENSOR_FILES:
        if not (path / name).is_file():
            raise TicketError(f"ticket {path} is missing {name}; redraw it with `edge-transfer prune`")
    if verify_hashes and meta.files:
        if not set(TENSOR_FILES) <= set(meta.files):
            raise TicketError(f"{path / TICKET_FILE} lists the files {sorted(meta.files)}, not all of "
                              f"{list(TENSOR_FILES)}; {meta.FIX}")
        meta.check_files(path, TICKET_FILE)
    return meta


def load_ticket(path: Path) -> Ticket:
    """Load a ticket and re-check that every masked weight is exactly zero."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = load_ticket_meta(path)
    try:
        state = load_file(str(path / WEIGHTS_FILE))
        masks = {k: v.bool() for k, v in load_file(str(path / MASKS_FILE)).items()}
    except (SafetensorError, OSError) as exc:
        raise TicketError(f"ticket {path} has an unreadable tensor file ({exc}); redraw it") from None
    model = create_backbone(meta.arch, num_classes=meta.num_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TicketError(f"weights in {path} do not fit {meta.arch} ({str(exc).splitlines()[0]}); redraw the ticket") from None
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        weight = params.get(name)
        if weight is None or weight.shape != mask.shape:
            raise TicketError(f"mask {name} in {path} does not match the model; redraw the ticket")
        leaked = int((weight.detach()[~mask] != 0).sum())
        if leaked:
            raise TicketError(
                f"{leaked} masked weights of {name} in {path} are not zero; the ticket was modified: redraw it"
            )
    return Ticket(path=path, meta=meta, model=model.eval(), masks=masks)


@dataclass(frozen=True)
class ModuleFactory:
    """Builds a ticket's nn.Module on call, for engines that run PyTorch itself.

    Picklable (a path, not a module), so a child process can rebuild it.
    """

    ticket_path: str
    variant: str = "ticket"  # ticket | dense (the mask not applied)
    backbone: bool = False  # pooled features instead of logits

    def __call__(self):
        ticket = load_ticket(Path(self.ticket_path))
        model = ticket.dense_model() if self.variant == "dense" else ticket.model
        if self.backbone:
            model, _ = split_backbone(model, get_backbone_cfg(ticket.arch))
        return model.eval()
