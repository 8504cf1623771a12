"""--block 4: whole 1x4 blocks along input channels (sparseml's mask_type [1, 4]), exact block
counts per scope, omp and imp, the refusals, ticket.json and `info`."""

import json
import re
from pathlib import Path

import pytest
import torch

from conftest import assert_one_line_error, run_cli
from edge_transfer.backbones import create_backbone, get_backbone_cfg, prunable_parameters
from edge_transfer.errors import OptionError
from edge_transfer.prune import PruneOptions, draw_ticket, draw_tickets
from edge_transfer.prune._registry import list_methods
from edge_transfer.prune.magnitude import block_counts, magnitude_masks
from edge_transfer.tables import ticket_layer_table, ticket_summary_lines
from edge_transfer.ticket import load_ticket
from edge_transfer.train import TrainSettings

B = 4
TINY = dict(data="embedded:mnist-0to4", epochs=1, image_size=8, limit=64, progress=False)


def _blocks(t):
    """[out, in, *rest] -> [out, in // B, B, *rest]: dim 2 runs over one block's input channels."""
    out, inp, *rest = t.shape
    return t.reshape(out, inp // B, B, *rest)


def _assert_whole_blocks_and_counts(masks: dict, sparsity: float, scope: str):
    for name, m in masks.items():
        grouped = _blocks(m)
        assert torch.equal(grouped.all(2), grouped.any(2)), f"{name}: a block is partly pruned"
    counts = {name: block_counts(m, B) for name, m in masks.items()}
    assert all(c.whole for c in counts.values())
    if scope == "layer":
        for name, c in counts.items():
            assert c.pruned == round(sparsity * c.blocks), name
    else:
        assert sum(c.pruned for c in counts.values()) == round(sparsity * sum(c.blocks for c in counts.values()))


@pytest.fixture(scope="module")
def r18c_weights():
    torch.manual_seed(0)
    model = create_backbone("resnet18-cifar")
    return prunable_parameters(model, get_backbone_cfg("resnet18-cifar"))


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("sparsity", [0.5, 0.8])
def test_omp_blocks_exact_counts_and_l1_order(r18c_weights, scope, sparsity):
    masks = magnitude_masks(r18c_weights, sparsity, scope, block=B)
    _assert_whole_blocks_and_counts(masks, sparsity, scope)
    # L1 criterion: every kept block scores at least as much as every pruned one (within the scope)
    groups = [list(masks)] if scope == "global" else [[n] for n in masks]
    for group in groups:
        scores = [_blocks(r18c_weights[n].detach().abs()).sum(2) for n in group]
        keep = [_blocks(masks[n]).all(2) for n in group]
        kept = torch.cat([s[k] for s, k in zip(scores, keep)])
        gone = torch.cat([s[~k] for s, k in zip(scores, keep)])
        assert gone.max() <= kept.min()


def test_blocks_run_along_input_channels_conv_and_linear():
    # conv [out=2, in=8, 1, 1]: channels 0-3 small, 4-7 large -> the first block of each row goes
    conv = torch.cat([torch.full((2, 4, 1, 1), 0.1), torch.full((2, 4, 1, 1), 1.0)], dim=1)
    mask = magnitude_masks({"c": conv}, 0.5, "layer", block=B)["c"]
    assert mask[:, :4].sum() == 0 and mask[:, 4:].all()
    # linear [out=3, in=8]: one block is 4 consecutive inputs of one output row; ties broken by position
    linear = torch.ones(3, 8)
    mask = magnitude_masks({"l": linear}, 0.5, "layer", block=B)["l"]
    assert mask.tolist() == [[False] * 8, [False] * 4 + [True] * 4, [True] * 8]


def test_block_1_is_the_unstructured_default():
    torch.manual_seed(1)
    weights = {"a": torch.randn(16, 8, 3, 3), "b": torch.randn(10, 7)}
    for scope in ("layer", "global"):
        a, b = magnitude_masks(weights, 0.6, scope), magnitude_masks(weights, 0.6, scope, block=1)
        assert all(torch.equal(a[n], b[n]) for n in weights)
    assert PruneOptions(arch="resnet18-cifar", output="x").block == 1


def test_capabilities_come_from_the_registry():
    assert list_methods(takes_blocks=True) == ["aimp", "imp", "omp"]
    assert {"lmp", "gmp", "acdc", "woodfisher", "rigl"} <= set(list_methods(takes_blocks=False))
    from edge_transfer.cli.main import build_parser

    args = build_parser().parse_args(["prune", "--arch", "resnet18-cifar", "--output", "x"])
    assert args.block == PruneOptions.__dataclass_fields__["block"].default


@pytest.fixture(scope="module")
def block_ticket(tmp_path_factory):
    out = tmp_path_factory.mktemp("block") / "omp-b4"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.8, scope="layer", block=B))
    return out


def test_drawn_block_ticket_records_and_keeps_blocks(block_ticket):
    ticket = load_ticket(block_ticket)
    assert ticket.meta.block == B and ticket.meta.options["block"] == B
    _assert_whole_blocks_and_counts(ticket.masks, 0.8, "layer")
    # an older ticket without the key reads as unstructured: no block column, no block words
    from edge_transfer.formats import TicketMeta

    meta = TicketMeta.from_json({k: v for k, v in ticket.meta.to_json().items() if k != "block"})
    assert "block" not in " ".join(ticket_summary_lines(meta)) and "blocks pruned" not in ticket_layer_table(meta)[0]


def test_info_shows_the_block_structure(block_ticket, tmp_path):
    proc = run_cli("info", block_ticket, "--json", tmp_path / "info.json")
    assert proc.returncode == 0, proc.stderr
    assert "block 1x4 along input channels: 80.0% of 1x4 blocks pruned, every zero in a whole block: yes" in proc.stdout
    assert "1x4 blocks pruned" in proc.stdout  # the per-layer column
    record = json.loads((tmp_path / "info.json").read_text())["block"]
    assert record["size"] == B and record["every_zero_in_whole_block"] is True


def test_imp_two_rounds_prunes_whole_blocks_and_keeps_them_pruned(tmp_path):
    opts = PruneOptions(arch="resnet18-cifar", output=tmp_path / "unused", method="imp", scope="global", block=B,
                        rounds=2, train=TrainSettings(**TINY))
    first, second = draw_tickets(opts, {0.5: tmp_path / "s50", 0.75: tmp_path / "s75"})
    masks = {}
    for result, sparsity in ((first, 0.5), (second, 0.75)):
        ticket = load_ticket(result.path)
        assert ticket.meta.method_params["rounds"] == {0.5: 1, 0.75: 2}[sparsity] and ticket.meta.block == B
        _assert_whole_blocks_and_counts(ticket.masks, sparsity, "global")
        masks[sparsity] = ticket.masks
    for name, m in masks[0.75].items():  # a block pruned in round 1 stays pruned in round 2
        assert not (m & ~masks[0.5][name]).any(), name


@pytest.mark.parametrize("args, message", [
    (["--block", "3"], "--block must be 1 (unstructured) or 4 (1x4 blocks along input channels), got 3"),
    (["--block", "4", "--method", "lmp", "--data", "embedded:mnist-0to4"],
     "--block 4 needs a method that prunes whole blocks (aimp, imp, omp); lmp does not"),
    (["--block", "4", "--prune-first-conv"],
     "--block 4 needs input channels divisible by 4, but conv1.weight has 3; drop --prune-first-conv or use --block 1"),
])
def test_refusals_are_one_line_and_write_nothing(tmp_path, args, message):
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--output", tmp_path / "t", *args)
    assert_one_line_error(proc, message)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("kwargs, fragment", [
    ({"arch": "mobilenet_v2"}, "has 1 per group (a depthwise or grouped conv); use --block 1 for mobilenet_v2"),
    ({"mask_from": Path("donor")}, "--mask-from takes the whole mask"),
    ({"method": "gmp", "train": TrainSettings(data="embedded:mnist-0to4")}, "gmp does not"),
])
def test_other_refusals(tmp_path, kwargs, fragment):
    opts = {"arch": "resnet18-cifar", "output": tmp_path / "t", "block": B, **kwargs}
    with pytest.raises(OptionError, match=re.escape(fragment)):
        draw_ticket(PruneOptions(**opts))
    assert list(tmp_path.iterdir()) == []
