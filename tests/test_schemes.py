"""Drawing schemes that train (imp, aimp, lmp, str), --mask-from, pretrain and fixed-mask finetune,
on resnet18-cifar at 8 px with 64-128 training images (seconds each on 2 cores)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_one_line_error, run_cli
from edge_transfer.prune import PruneOptions, draw_ticket, draw_tickets
from edge_transfer.prune.iterative import sparsity_schedule
from edge_transfer.ticket import load_ticket
from edge_transfer.train import Robustness, TrainSettings

TINY = dict(data="embedded:mnist-0to4", epochs=1, image_size=8, limit=64, progress=False)


def _tiny_pretrained(tmp_path_factory, arch: str) -> Path:
    from edge_transfer.pretrain import PretrainOptions, pretrain

    path = tmp_path_factory.mktemp("sources") / f"natural-{arch}.pt"
    pretrain(PretrainOptions(arch=arch, output=path,
                             train=TrainSettings(**{**TINY, "limit": 128}, lr=0.05), eval_pgd_steps=2))
    return path


@pytest.fixture(scope="session")
def tiny_source(tmp_path_factory):
    return _tiny_pretrained(tmp_path_factory, "resnet18-cifar")


@pytest.fixture(scope="session")
def tiny_resnet20(tmp_path_factory):
    """A 0.27M-parameter source: for schemes whose cost grows with the weights (sorts, tickets)."""
    return _tiny_pretrained(tmp_path_factory, "resnet20-cifar")


def _opts(source, method, arch="resnet18-cifar", **kw):
    kw.setdefault("scope", "layer")
    kw.setdefault("output", Path("unused"))
    return PruneOptions(arch=arch, method=method, checkpoint=source,
                        pretraining="natural", train=TrainSettings(**TINY), **kw)


def _assert_exact(ticket_dir: Path, sparsity: float, scope: str):
    ticket = load_ticket(ticket_dir)  # also re-checks that masked weights are 0
    masks = ticket.masks
    if scope == "layer":
        for name, m in masks.items():
            assert int((~m).sum()) == round(sparsity * m.numel()), name
    else:
        total = sum(m.numel() for m in masks.values())
        assert sum(int((~m).sum()) for m in masks.values()) == round(sparsity * total)
    assert ticket.meta.target_sparsity == sparsity
    return ticket


def test_schedule_lands_on_every_target():
    assert sparsity_schedule([0.5, 0.9], 0.5) == [(0.5, True), (0.75, False), (0.875, False), (0.9, True)]
    levels = sparsity_schedule([0.9], 0.2)
    assert levels[-1] == (0.9, True) and len(levels) == 11  # 1 - 0.8^10 = 0.893 < 0.9 <= 1 - 0.8^11
    opts = PruneOptions(arch="resnet18-cifar", output=Path("x"), rounds=4)
    ratio = opts.per_round_ratio(0.9)
    assert [lvl for lvl, _ in sparsity_schedule([0.9], ratio)] == pytest.approx([1 - (1 - ratio) ** r for r in (1, 2, 3, 4)])
    assert sparsity_schedule([0.0], 0.2) == [(0.0, True)]


@pytest.mark.parametrize("method, scope", [("imp", "layer"), ("aimp", "global")])
def test_iterative_schemes_hit_every_target_and_rewind(tiny_source, tmp_path, method, scope, monkeypatch):
    from edge_transfer.train import attacks

    calls = []
    real_attack = attacks.pgd_attack

    def counting_attack(*args, **kwargs):
        calls.append(1)
        return real_attack(*args, **kwargs)

    monkeypatch.setattr(attacks, "pgd_attack", counting_attack)
    opts = _opts(tiny_source, method, scope=scope, prune_ratio_per_round=0.5,
                 robust=Robustness(kind="pgd", eps=0.1, steps=2))
    results = draw_tickets(opts, {0.5: tmp_path / "s50", 0.8: tmp_path / "s80"})
    # aimp attacks every training batch of its 3 rounds (64 images, batch 64); imp never does
    assert len(calls) == (3 if method == "aimp" else 0)
    source = torch.load(tiny_source, weights_only=True)
    for r, s in zip(results, (0.5, 0.8)):
        ticket = _assert_exact(r.path, s, scope)
        params = ticket.meta.method_params
        assert params["rounds"] == {0.5: 1, 0.8: 3}[s]  # 0.5 -> 0.75 -> 0.8
        assert (params["inner_maximisation"] is not None) == (method == "aimp")
        state = ticket.model.state_dict()
        for name, mask in ticket.masks.items():  # rewound: survivors hold the source values
            assert torch.equal(state[name][mask], source[name][mask]), name
        assert ticket.meta.training["data"] == "embedded:mnist-0to4"
        assert ticket.meta.wall_seconds > 0


def test_lmp_learns_scores_and_never_touches_the_weights(tiny_source, tmp_path):
    opts = _opts(tiny_source, "lmp", score_lr=0.05)
    opts.train.data = "embedded:mnist-5to9"  # lmp's data is the downstream task
    ticket = _assert_exact(draw_ticket(replace_output(opts, tmp_path / "lmp"), ).path, 0.9, "layer")
    source = torch.load(tiny_source, weights_only=True)
    state = ticket.model.state_dict()
    for name, mask in ticket.masks.items():
        assert torch.equal(state[name][mask], source[name][mask]), name
        assert name.endswith("weight")
    for name in state:  # BatchNorm and every non-head tensor unchanged too
        if not name.startswith("fc.") and not name.endswith("num_batches_tracked"):
            kept = state[name] if name not in ticket.masks else state[name][ticket.masks[name]]
            ref = source[name] if name not in ticket.masks else source[name][ticket.masks[name]]
            assert torch.equal(kept, ref), name
    # the mask moved away from its magnitude start: scores were learned
    assert ticket.meta.method_params["mask_entries_moved"] > 0
    omp = draw_ticket(replace_output(_opts(tiny_source, "omp", sparsity=0.9), tmp_path / "omp"))
    omp_masks = load_file(str(omp.path / "masks.safetensors"))
    assert any(not torch.equal(omp_masks[n].bool(), m) for n, m in ticket.masks.items())


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_str_hits_every_target_with_soft_thresholded_weights(tiny_resnet20, tmp_path, scope):
    from edge_transfer.prune.magnitude import magnitude_masks

    results = draw_tickets(_opts(tiny_resnet20, "str", arch="resnet20-cifar", scope=scope),
                           {0.5: tmp_path / "s50", 0.8: tmp_path / "s80"})
    source = torch.load(tiny_resnet20, weights_only=True)
    for r, s in zip(results, (0.5, 0.8)):
        ticket = _assert_exact(r.path, s, scope)
        params = ticket.meta.method_params
        assert params["str_sparsity"] > 0 and params["projected"] > 0 and params["train_loss"] > 0
        assert params["kept_zeros"] == 0 and ticket.meta.achieved_sparsity == pytest.approx(s, abs=1e-4)  # per-layer rounding
        state = ticket.model.state_dict()
        # kept weights trained and soft-thresholded: none keeps its source value, bar a few float
        # coincidences (a step that moved |w| by exactly the threshold: 15 of 11M, measured)
        same = sum(int((state[n][m] == source[n][m]).sum()) for n, m in ticket.masks.items())
        assert same <= max(2, 1e-5 * sum(int(m.sum()) for m in ticket.masks.values()))
        omp = magnitude_masks({n: source[n] for n in ticket.masks}, s, scope)
        assert any(not torch.equal(omp[n], m) for n, m in ticket.masks.items())


def test_str_projection_keeps_w_eff_or_lowers_the_threshold():
    from edge_transfer.prune.soft_threshold import _projected

    torch.manual_seed(0)
    weights = {"a": torch.randn(40, 10), "b": torch.randn(30, 5) * 3}
    for scope in ("layer", "global"):
        # threshold 0.5 zeroes ~38% of "a" and ~13% of "b": 0.6 is a top-up, 0.1 an overshoot
        s = {n: torch.tensor(0.0) for n in weights}
        for target in (0.6, 0.1):
            masks, values, figures = _projected(weights, s, target, scope)
            counts = {n: int((~m).sum()) for n, m in masks.items()}
            if scope == "layer":
                assert counts == {n: round(target * w.numel()) for n, w in weights.items()}
            else:
                assert sum(counts.values()) == round(target * 550)
            assert figures["kept_zeros"] == 0 and figures["projected"] > 0
            assert all(int((values[n] != 0).sum()) == int(masks[n].sum()) for n in weights)
            for n, w in weights.items():
                kept = masks[n]
                eff = torch.sign(w) * torch.relu(w.abs() - 0.5)
                if target == 0.6:  # STR pruned too few: the ticket is W_eff, its smallest removed
                    assert torch.equal(values[n][kept], eff[kept]) and figures["threshold_lowered_by"] == 0
                else:  # too many: one lower threshold for the unit, every kept weight non-zero
                    lowered = 0.5 - (w.abs() - values[n].abs())[kept]
                    assert figures["threshold_lowered_by"] > 0
                    assert torch.allclose(lowered, lowered[0].expand_as(lowered), atol=1e-6)


def test_str_controller_decays_only_while_the_sparsity_lags_the_ramp():
    from edge_transfer.prune.soft_threshold import GAIN, MAX_DECAY, decay_step, ramp

    assert [ramp(t, 4, 0.8) for t in (0, 2, 4, 9)] == [0.0, 0.4, 0.8, 0.8]
    assert decay_step(0.4, 0.5, 0.8) == 0.0  # ahead of the ramp: the loss alone moves s
    assert decay_step(0.4, 0.0, 0.8) == MAX_DECAY  # far behind: full decay
    assert decay_step(0.4, 0.4 - 0.8 / GAIN / 2, 0.8) == pytest.approx(MAX_DECAY / 2)
    assert decay_step(0.0, 0.0, 0.0) == 0.0


def replace_output(opts, output, **kw):
    from dataclasses import replace

    return replace(opts, output=output, **kw)


def test_mask_from_applies_another_tickets_mask(tiny_source, tmp_path):
    donor = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "donor", sparsity=0.8, seed=3))
    out = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "lth", checkpoint=tiny_source,
                                   mask_from=donor.path))
    ticket = load_ticket(out.path)
    donor_masks = load_file(str(donor.path / "masks.safetensors"))
    source = torch.load(tiny_source, weights_only=True)
    for name, mask in ticket.masks.items():
        assert torch.equal(mask, donor_masks[name].bool())
        assert torch.equal(ticket.model.state_dict()[name], source[name] * mask)
    assert ticket.meta.method == "mask-from" and ticket.meta.achieved_sparsity == pytest.approx(0.8, abs=1e-6)


def test_finetune_keeps_every_masked_weight_zero(tmp_path, tiny_source):
    ticket = draw_ticket(_opts(tiny_source, "omp", sparsity=0.9, output=tmp_path / "t"))
    proc = run_cli("finetune", ticket.path, "--data", "embedded:mnist-5to9", "--epochs", "2", "--image-size", "8",
                   "--train-limit", "128", "--lr", "0.05", "--no-progress", "--output", tmp_path / "ft",
                   "--json", tmp_path / "ft.json")
    assert proc.returncode == 0, proc.stderr
    assert "pruned weights still zero: True" in proc.stdout
    tuned = load_ticket(tmp_path / "ft")  # raises if any masked weight is non-zero
    before = load_ticket(ticket.path)
    moved = 0
    for name, mask in tuned.masks.items():
        w = tuned.model.state_dict()[name]
        assert int((w[~mask] != 0).sum()) == 0
        moved += int((w[mask] != before.model.state_dict()[name][mask]).sum())
    assert moved > 0  # the kept weights did train
    import json

    record = json.loads((tmp_path / "ft.json").read_text())
    assert record["masked_weights_nonzero"] == 0 and 0 <= record["val_top1"] <= 1
    assert tuned.meta.num_classes == 5 and tuned.meta.finetuned["data"]["spec"] == "embedded:mnist-5to9"


def test_pretrain_cli_writes_a_checkpoint_prune_loads(tmp_path):
    ckpt = tmp_path / "pgd.safetensors"
    proc = run_cli("pretrain", "--arch", "resnet18-cifar", "--data", "embedded:mnist-0to4", "--robust", "pgd",
                   "--eps", "0.05", "--pgd-steps", "1", "--epochs", "1", "--image-size", "8", "--train-limit", "64",
                   "--eval-pgd-steps", "1", "--no-progress", "--output", ckpt)
    assert proc.returncode == 0, proc.stderr
    assert "robust top-1" in proc.stdout and "PGD-1 linf eps 0.05" in proc.stdout
    import json

    record = json.loads(Path(str(ckpt) + ".json").read_text())
    assert record["pretraining"] == "pgd" and record["robust"]["kind"] == "pgd" and record["robust"]["steps"] == 1
    assert 0 <= record["val_robust"]["top1"] <= 1 and 0 <= record["val_clean"]["top1"] <= 1
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--checkpoint", ckpt, "--pretraining", "pgd",
                   "--sparsity", "0.5", "--output", tmp_path / "t")
    assert proc.returncode == 0, proc.stderr
    assert load_ticket(tmp_path / "t").meta.robust is True
    again = run_cli("pretrain", "--arch", "resnet18-cifar", "--data", "embedded:mnist-0to4", "--output", ckpt)
    assert_one_line_error(again, "already exists", "--force")


@pytest.mark.parametrize("args, fragments", [
    (["--method", "magic"], ["invalid choice", "omp"]),
    (["--method", "imp", "--data", "embedded:mnist-0to4", "--rounds", "3", "--prune-ratio-per-round", "0.2"],
     ["not both"]),
    (["--method", "aimp", "--data", "embedded:mnist-0to4", "--eps", "-0.1"], ["--eps", ">= 0"]),
    (["--method", "imp"], ["--data"]),
    (["--method", "str"], ["--data"]),
    (["--sparsity", "1.0"], ["--sparsity", "[0, 1)"]),
])
def test_prune_bad_input(tmp_path, args, fragments):
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--output", tmp_path / "t", *args)
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / "t").exists()


def test_mask_from_other_arch_and_one_class_folder_are_refused(tmp_path):
    donor = draw_ticket(PruneOptions(arch="resnet18-cifar", output=tmp_path / "donor", sparsity=0.5))
    proc = run_cli("prune", "--arch", "resnet18", "--mask-from", donor.path, "--output", tmp_path / "t")
    assert_one_line_error(proc, "resnet18-cifar ticket", "--arch resnet18")
    folder = tmp_path / "data" / "only"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.new("L", (8, 8)).save(folder / "a.png")
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--method", "lmp", "--data", tmp_path / "data",
                   "--output", tmp_path / "t2")
    assert_one_line_error(proc, "1 class", "at least 2")


@pytest.mark.parametrize("text, fragment", [("modifiers:\n  - !GMPruningModifier\n    start_epoch: [0\n", "not valid YAML"),
                                            ("modifiers:\n  - !FooModifier\n    start_epoch: 0\n", "FooModifier")])
def test_bad_recipe_is_a_one_line_error(tmp_path, text, fragment):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--method", "gmp", "--data", "embedded:mnist-0to4",
                   "--recipe", recipe, "--output", tmp_path / "t")
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "t").exists()


def test_no_rewind_keeps_the_trained_weights_and_rounds_set_the_ratio(tiny_source, tmp_path):
    opts = _opts(tiny_source, "imp", rounds=2, rewind=False)
    ticket = _assert_exact(draw_ticket(replace_output(opts, tmp_path / "t", sparsity=0.75)).path, 0.75, "layer")
    params = ticket.meta.method_params
    assert params["rounds"] == 2 and params["prune_ratio_per_round"] == pytest.approx(0.5)
    source = torch.load(tiny_source, weights_only=True)
    state = ticket.model.state_dict()
    moved = sum(int((state[n][m] != source[n][m]).sum()) for n, m in ticket.masks.items())
    assert moved > 0 and params["rewind"] is False  # survivors keep their trained values


@pytest.mark.parametrize("args, fragment", [(["--momentum", "-1"], "--momentum"), (["--weight-decay", "-1"], "--weight-decay"),
                                            (["--score-lr", "-1"], "--score-lr")])
def test_bad_training_settings_are_one_line_errors(tmp_path, args, fragment):
    proc = run_cli("prune", "--arch", "resnet18-cifar", "--method", "lmp", "--data", "embedded:mnist-5to9",
                   "--output", tmp_path / "t", *args)
    assert_one_line_error(proc, fragment)
