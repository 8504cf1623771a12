"""Accept a ticket folder or an export folder wherever an exported model is needed."""

from __future__ import annotations

from pathlib import Path

from ..engines import REFERENCE_ENGINE
from ..errors import OnnxModelError, TicketError
from ..formats import DENSE_DIR, MANIFEST_FILE, TICKET_FILE, ExportManifest, is_export, is_ticket
from .export import export_ticket
from .options import ExportOptions


def ensure_export(path: Path, workdir: Path, with_dense: bool, log=lambda _m: None,
                  validate_engines: tuple[str, ...] = (REFERENCE_ENGINE,)) -> Path:
    """Return an export folder for ``path``: itself if it is one, else the ticket exported
    into ``workdir`` (a folder named after the ticket). ``validate_engines`` is export's
    parity check; callers that check every engine themselves pass ()."""
    path = Path(path)
    if is_export(path):
        if with_dense and not is_export(path / DENSE_DIR):
            raise OnnxModelError(f"{path} has no dense/ baseline; re-export with `edge-transfer export ... --with-dense`")
        return path
    if is_ticket(path):
        out = workdir / path.resolve().name
        while out.exists():
            out = out.with_name(out.name + "_")
        log(f"exporting ticket {path} to a temporary folder" + (" (with the dense baseline)" if with_dense else ""))
        export_ticket(ExportOptions(ticket=path, output=out, with_dense=with_dense, validate_engines=validate_engines))
        return out
    if not path.exists():
        raise TicketError(f"{path} not found; give a ticket folder (edge-transfer prune) or an export folder (edge-transfer export)")
    raise TicketError(f"{path} is neither a ticket folder ({TICKET_FILE}) nor an export folder ({MANIFEST_FILE})")


def read_manifest(folder: Path, verify_hashes: bool = True) -> ExportManifest:
    """The folder's manifest, schema-checked; every file it lists must exist, and with
    ``verify_hashes`` match its recorded sha256."""
    folder = Path(folder)
    manifest = ExportManifest.read(folder / MANIFEST_FILE)
    manifest.check_files(folder, MANIFEST_FILE, verify_hashes)
    return manifest
