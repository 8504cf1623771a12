"""OMP exactness, the ticket format's round trip and its integrity check."""

import json

import pytest
import torch

from edge_transfer.backbones import get_backbone_cfg, prunable_parameters
from edge_transfer.errors import OptionError, OutputExistsError, TicketError, UnknownNameError
from edge_transfer.prune import PruneOptions, draw_ticket
from edge_transfer.prune.magnitude import magnitude_masks
from edge_transfer.formats import TICKET_SCHEMA
from edge_transfer.ticket import load_ticket


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.95])
def test_magnitude_masks_hit_target_exactly(scope, sparsity):
    torch.manual_seed(0)
    weights = {"a": torch.randn(64, 32, 3, 3), "b": torch.randn(10, 7) * 5, "c": torch.randn(3, 3, 1, 1)}
    masks = magnitude_masks(weights, sparsity, scope)
    pruned = {k: int((~m).sum()) for k, m in masks.items()}
    total = sum(w.numel() for w in weights.values())
    if scope == "layer":
        for k, w in weights.items():
            assert abs(pruned[k] - sparsity * w.numel()) <= 1
    assert abs(sum(pruned.values()) - sparsity * total) <= len(weights)
    # Magnitude criterion: every kept weight is at least as large as every pruned one
    # (within a layer for scope=layer, across layers for scope=global).
    groups = [list(weights)] if scope == "global" else [[k] for k in weights]
    for group in groups:
        kept = torch.cat([weights[k].abs()[masks[k]] for k in group])
        gone = torch.cat([weights[k].abs()[~masks[k]] for k in group])
        if len(kept) and len(gone):
            assert gone.max() <= kept.min()


def test_ties_are_broken_to_the_exact_count():
    weights = {"w": torch.zeros(1000)}  # every magnitude equal
    assert int((~magnitude_masks(weights, 0.37, "global")["w"]).sum()) == 370


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_ticket_round_trip(tmp_path, scope):
    out = tmp_path / "t"
    result = draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.8, scope=scope))
    meta = json.loads((out / "ticket.json").read_text())
    assert meta["schema"] == TICKET_SCHEMA
    for key in ("arch", "method", "target_sparsity", "achieved_sparsity", "scope", "layers", "input_size", "mean",
                "std", "source", "robust", "untrained", "seed", "tool_version"):
        assert key in meta, key
    assert meta["untrained"] is True and meta["source"]["checkpoint"] is None
    prunable = [layer for layer in meta["layers"] if layer["prunable"]]
    assert abs(meta["achieved_sparsity"] - 0.8) * sum(layer["params"] for layer in prunable) <= len(prunable)
    for layer in meta["layers"]:
        assert {"name", "shape", "params", "zeros", "sparsity"} <= set(layer)
    ticket = load_ticket(out)
    cfg = get_backbone_cfg("resnet18-cifar")
    # Stored zeros are what the ticket.json says, layer by layer; head and stem stay dense.
    params = dict(ticket.model.named_parameters())
    for layer in meta["layers"]:
        assert int((params[layer["name"]] == 0).sum()) == layer["zeros"]
    assert int((ticket.model.fc.weight == 0).sum()) == 0 and int((ticket.model.conv1.weight == 0).sum()) == 0
    assert set(ticket.masks) == set(prunable_parameters(ticket.model, cfg))
    # The dense baseline has the same weights where the mask keeps them, and no pruned zeros.
    dense = dict(ticket.dense_model().named_parameters())
    for name, mask in ticket.masks.items():
        torch.testing.assert_close(dense[name][mask], params[name][mask], rtol=0, atol=0)
        assert int((dense[name] == 0).sum()) == 0
    assert result.achieved_sparsity == meta["achieved_sparsity"]


def test_prune_first_conv_flag(tmp_path):
    meta = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "t", sparsity=0.5, prune_first_conv=True)).meta
    stem = next(layer for layer in meta.layers if layer["name"] == "conv1.weight")
    assert stem["prunable"] and stem["zeros"] > 0


def test_tampered_ticket_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    out = tmp_path / "t"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.5))
    state = load_file(str(out / "weights.safetensors"))
    masks = load_file(str(out / "masks.safetensors"))
    w = state["layer2.0.conv1.weight"]
    w[~masks["layer2.0.conv1.weight"].bool()] = 0.5  # "un-prune" the masked weights
    save_file(state, str(out / "weights.safetensors"))
    with pytest.raises(TicketError, match="does not match the sha256"):
        load_ticket(out)
    # a ticket without recorded hashes (drawn before ticket/2) is still checked zero by zero
    meta = json.loads((out / "ticket.json").read_text())
    meta.pop("files")
    (out / "ticket.json").write_text(json.dumps(meta))
    with pytest.raises(TicketError, match="not zero"):
        load_ticket(out)


def test_a_flipped_byte_in_a_kept_weight_is_caught(tmp_path):
    out = tmp_path / "t"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, sparsity=0.5))
    data = bytearray((out / "weights.safetensors").read_bytes())
    data[-3] ^= 0x01  # the last tensor's bytes: a kept weight changes, no zero moves
    (out / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(TicketError, match="weights.safetensors does not match the sha256 in ticket.json"):
        load_ticket(out)


def test_checkpoint_weights_are_recorded(tmp_path):
    from edge_transfer.backbones import create_backbone

    ckpt = tmp_path / "src.pth"
    torch.save(create_backbone("resnet18-cifar").state_dict(), ckpt)
    meta = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "t", checkpoint=ckpt, pretraining="pgd")).meta
    assert meta.untrained is False and meta.robust is True
    assert meta.source["sha256"] and meta.source["pretraining"] == "pgd"


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"arch": "resnet9"}, UnknownNameError),
        ({"sparsity": 1.0}, OptionError),
        ({"sparsity": -0.1}, OptionError),
        ({"method": "snip"}, UnknownNameError),
        ({"scope": "channel"}, OptionError),
    ],
)
def test_bad_options_write_nothing(tmp_path, kwargs, error):
    opts = {"arch": "resnet18-cifar", "output": tmp_path / "t", **kwargs}
    with pytest.raises(error):
        draw_ticket(PruneOptions(**opts))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_and_kept(tmp_path):
    out = tmp_path / "t"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="--force"):
        draw_ticket(PruneOptions(arch="resnet18-cifar", output=out))
    assert (out / "precious.txt").read_text() == "keep me"
    draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, force=True))
    assert not (out / "precious.txt").exists() and (out / "ticket.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["t"]  # no temp or backup folders left


def test_atomic_writes_use_the_umask(tmp_path):
    import os
    import stat

    from edge_transfer.fileio import atomic_write_text

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "t", sparsity=0.5))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "t").stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in (tmp_path / "t").iterdir())


def test_method_registry_declares_its_capabilities():
    """Contract over every registered scheme (not a hand list): capabilities are declared on
    the registry entry (the next test holds the deterministic ones to it)."""
    from edge_transfer.prune._registry import get_method, list_methods

    names = list_methods()
    assert {"omp", "imp", "aimp", "lmp", "gmp"} <= set(names)
    for name in names:
        m = get_method(name)
        assert m.draws_on in ("source", "target") and isinstance(m.deterministic, bool), name
        assert not (m.deterministic and m.trains), f"{name}: a training scheme depends on its seed"
    assert get_method("lmp").draws_on == "target" and get_method("omp").deterministic


def _deterministic_methods():
    from edge_transfer.prune._registry import get_method, list_methods

    return [n for n in list_methods() if get_method(n).deterministic]


@pytest.mark.parametrize("name", _deterministic_methods())
def test_deterministic_schemes_ignore_the_seed(tmp_path, name):
    from safetensors.torch import load_file

    from edge_transfer.backbones import create_backbone

    torch.manual_seed(0)
    torch.save(create_backbone("resnet18-cifar", num_classes=10).state_dict(), tmp_path / "src.pt")
    masks = []
    for seed in (0, 1):  # the same weights, another draw seed
        out = tmp_path / f"s{seed}"
        draw_ticket(PruneOptions(arch="resnet18-cifar", output=out, method=name, sparsity=0.9, scope="layer", seed=seed,
                                 checkpoint=tmp_path / "src.pt"))
        masks.append(load_file(str(out / "masks.safetensors")))
    assert masks[0].keys() == masks[1].keys() and all(torch.equal(masks[0][k], masks[1][k]) for k in masks[0])
