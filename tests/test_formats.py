"""The typed artifact records: what a stage writes reads back unchanged, the previous schema
still reads, and a malformed file is refused with the stage's typed error (one line, exit 2)."""

import json
import shutil

import pytest
from conftest import assert_one_line_error, run_cli

from edge_transfer.errors import OnnxModelError, TicketError
from edge_transfer.formats import EXPORT_SCHEMA, MANIFEST_FILE, TICKET_FILE, ExportManifest, TicketMeta
from edge_transfer.prune import PruneOptions, draw_ticket


@pytest.fixture(scope="module")
def ticket_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("formats") / "t"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.5))
    return out


def _written(folder, name):
    return json.loads((folder / name).read_text())


def test_ticket_record_reads_back_as_written(ticket_dir):
    written = _written(ticket_dir, TICKET_FILE)
    meta = TicketMeta.read(ticket_dir / TICKET_FILE)
    assert meta.to_json() == written and list(meta.to_json()) == list(written)
    assert meta.input_size == (3, 32, 32) and meta.block == 1 and meta.label.startswith("resnet18-cifar omp 50.0%")


def test_previous_ticket_schema_reads_with_defaults(ticket_dir):
    old = {k: v for k, v in _written(ticket_dir, TICKET_FILE).items() if k not in ("block", "finetuned", "dense_baseline")}
    old["schema"] = "edge-transfer.ticket/1"
    old["an_unknown_key"] = 7
    meta = TicketMeta.from_json(old)
    assert meta.block == 1 and meta.finetuned is None and meta.extra == {"an_unknown_key": 7}
    assert meta.to_json()["schema"] == "edge-transfer.ticket/2" and meta.to_json()["an_unknown_key"] == 7


@pytest.mark.parametrize("change, words", [
    (lambda m: [m], "JSON list"),
    (lambda m: {k: v for k, v in m.items() if k != "arch"}, "lacks 'arch'"),
    (lambda m: {**m, "num_classes": "ten"}, "num_classes = 'ten'"),
    (lambda m: {**m, "num_classes": True}, "num_classes = True"),
    (lambda m: {**m, "input_size": [3, 32]}, "input_size"),
    (lambda m: {**m, "achieved_sparsity": 1.5}, "sparsity 1.5"),
    (lambda m: {**m, "schema": "edge-transfer.ticket/9"}, "schema"),
])
def test_malformed_ticket_record_is_refused(ticket_dir, change, words):
    with pytest.raises(TicketError, match="redraw the ticket") as excinfo:
        TicketMeta.from_json(change(_written(ticket_dir, TICKET_FILE)), "ticket.json")
    assert words in str(excinfo.value)


def test_export_manifest_reads_back_and_checks_its_fields(small_export):
    folder = small_export.path
    written = _written(folder, MANIFEST_FILE)
    manifest = ExportManifest.read(folder / MANIFEST_FILE)
    assert manifest.to_json() == written and written["schema"] == EXPORT_SCHEMA
    assert manifest.tag == f"resnet18-cifar-{manifest.ticket.tag}" and manifest.passed
    for bad in ([written], {k: v for k, v in written.items() if k != "arch"}, {**written, "input_size": "3x32x32"},
                {**written, "precision": "int4"}):
        with pytest.raises(OnnxModelError, match="re-export"):
            ExportManifest.from_json(bad, "manifest.json")


@pytest.mark.parametrize("payload", ["[1, 2]", '{"schema": "edge-transfer.ticket/2"}', "\x00\x01 not json"])
def test_info_on_a_malformed_ticket_is_one_line_and_exit_2(ticket_dir, tmp_path, payload):
    bad = tmp_path / "bad"
    shutil.copytree(ticket_dir, bad)
    (bad / TICKET_FILE).write_text(payload)
    assert_one_line_error(run_cli("info", bad), "redraw the ticket")


def test_file_hashes_are_cached_per_file_version_and_never_stale(tmp_path, monkeypatch):
    import hashlib
    import os

    from edge_transfer import fileio

    path = tmp_path / "w.bin"
    path.write_bytes(b"0123456789")
    fresh = fileio.sha256_file(path)
    assert fresh == hashlib.sha256(b"0123456789").hexdigest()
    assert fresh not in fileio._HASHES.values()  # just written: timestamps may not have moved yet
    monkeypatch.setattr(fileio, "_RACY_NS", -1)
    os.utime(path, ns=(10**18, 10**18))
    assert fileio.sha256_file(path) == fresh and fresh in fileio._HASHES.values()
    path.write_bytes(b"0123456788")  # same size, one byte changed
    os.utime(path, ns=(10**18 + 1, 10**18 + 1))
    assert fileio.sha256_file(path) == hashlib.sha256(b"0123456788").hexdigest()
