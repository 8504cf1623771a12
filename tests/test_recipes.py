"""The sparseml recipe schemes (gmp, acdc, woodfisher, rigl) on a tiny CNN and synthetic data:
exact sparsity per scope, masks that follow the trained weights' zeros, trained weights,
and recipe errors that name the fix before any training."""

import copy
import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn

from edge_transfer.errors import OptionError, RecipeError
from edge_transfer.prune import PruneOptions
from edge_transfer.prune._registry import DrawContext, get_method
from edge_transfer.prune.recipe_training import check_recipe_options, validate_recipe
from edge_transfer.prune import list_methods
from edge_transfer.prune.recipes import PRUNERS, RECIPE_DIR, resolve_recipe

RECIPE_METHODS = list_methods(takes_recipe=True)  # every registered scheme a sparseml recipe drives
from edge_transfer.train import TrainData, TrainSettings

TARGETS = [0.5, 0.8]


class TinyNet(nn.Module):
    """Stem and head stay dense (as in the backbones); conv1, conv2 and fc are prunable."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 32)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.head(torch.relu(self.fc(x.mean((2, 3)))))


@dataclass
class TinyCfg:
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.25, 0.25, 0.25)
    head: str = "head"


def tiny_data(n=48, num_classes=3) -> TrainData:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, num_classes, (n,), generator=g)
    x = (torch.rand(n, 3, 8, 8, generator=g) * 0.5 + y.view(-1, 1, 1, 1) * 0.25).clamp(0, 1)
    return TrainData(name="synthetic", num_classes=num_classes, classes=[str(c) for c in range(num_classes)],
                     input_size=(3, 8, 8), train_images=n, val_images=0, _task=None, _train=(x, y))


def make_ctx(method, scope="global", epochs=2, recipe=None, batch_size=8, n=48):
    torch.manual_seed(0)
    model = TinyNet()
    weights = {f"{name}.weight": m.weight for name, m in model.named_modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)) and name not in ("stem", "head")}
    opts = PruneOptions(arch="resnet18-cifar", output="unused", method=method, scope=scope, recipe=recipe,
                        train=TrainSettings(data="synthetic", epochs=epochs, batch_size=batch_size, lr=0.05,
                                            progress=False))
    return DrawContext(model=model, cfg=TinyCfg(), weights=weights, opts=opts, data=tiny_data(n))


def draw(ctx, targets):
    """Run the scheme; snapshot the model's weights at each yield (as the caller copies them)."""
    return [(d, copy.deepcopy(ctx.model.state_dict())) for d in get_method(ctx.opts.method).fn(ctx, targets)]


@pytest.fixture(autouse=True)
def one_thread_in_tmp_cwd(tmp_path, monkeypatch):
    """Tiny models run faster on one thread (2-core machines); tmp cwd shows stray files."""
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("method", RECIPE_METHODS)
def test_scheme_draws_exact_trained_tickets(method, scope, tmp_path):
    ctx = make_ctx(method, scope)
    source = copy.deepcopy(ctx.model.state_dict())
    drawn = draw(ctx, TARGETS)
    assert [d.target for d, _ in drawn] == TARGETS
    for d, state in drawn:
        assert set(d.masks) == set(ctx.weights)
        pruned = {n: int((~m).sum()) for n, m in d.masks.items()}
        if scope == "layer":
            assert pruned == {n: round(d.target * w.numel()) for n, w in ctx.weights.items()}
        else:
            assert sum(pruned.values()) == round(d.target * sum(w.numel() for w in ctx.weights.values()))
        # the mask is the trained weights' zero pattern, topped up / trimmed to the exact count
        zeros = {n: state[n] == 0 for n in d.masks}
        mismatched = sum(int(((~d.masks[n]) != zeros[n]).sum()) for n in d.masks)
        p = d.params
        assert mismatched == p["topped_up"] + p["kept_zeros"]
        assert p["exact_zeros"] == sum(pruned.values())
        assert p["recipe_zeros"] == sum(int(z.sum()) for z in zeros.values())
        total = sum(m.numel() for m in d.masks.values())
        if method == "rigl":  # a regrown connection starts at 0 and may stay there: a few extra zeros
            assert p["topped_up"] + p["kept_zeros"] <= 0.01 * total
        else:
            assert p["topped_up"] == p["kept_zeros"] == 0
        # the ticket's weights are the recipe-trained ones
        kept = {n: d.masks[n] for n in d.masks}
        assert all(not torch.equal(state[n][kept[n]], source[n][kept[n]]) for n in kept)
        assert not torch.equal(state["head.weight"], source["head.weight"])
        # ticket.json material
        json.dumps(p)
        assert p["recipe"].endswith(f"{method}.yaml") and len(p["recipe_sha256"]) == 64
        assert p["epochs"] == 2 and len(p["history"]) == 2
        pruner = next(m for m in p["modifiers"] if m["modifier"] == p["pruning_modifier"])
        assert pruner["end_epoch"] <= 2
    assert not (tmp_path / "sparse_logs").exists()


def test_each_target_is_a_run_from_the_source_weights():
    both = draw(make_ctx("gmp"), [0.5, 0.8])[1][1]
    alone = draw(make_ctx("gmp"), [0.8])[0][1]
    for name in both:
        torch.testing.assert_close(both[name], alone[name], rtol=0, atol=0)


def test_user_recipe_is_rescaled_and_aimed_at_the_prunable_weights(tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("""
modifiers:
  - !EpochRangeModifier
    start_epoch: 0.0
    end_epoch: 10.0
  - !GMPruningModifier
    init_sparsity: 0.05
    final_sparsity: 0.6
    start_epoch: 1.0
    end_epoch: 8.0
    update_frequency: 0.5
    global_sparsity: true
    params: ["re:.*conv.*"]
""")
    resolved = resolve_recipe("gmp", recipe, target=0.8, epochs=2, scope="layer", params=["model.fc.weight"])
    assert resolved.pruner == "MagnitudePruningModifier"  # --scope layer picks the layer-wise class
    pruner = next(m for m in resolved.modifiers if m["modifier"] == resolved.pruner)
    assert (pruner["start_epoch"], pruner["end_epoch"], pruner["update_frequency"]) == (0.2, 1.6, 0.1)
    assert pruner["final_sparsity"] == 0.8
    assert "model.fc.weight" in resolved.yaml and "re:.*conv" not in resolved.yaml

    ctx = make_ctx("gmp", "layer", recipe=recipe)
    (d, _), = draw(ctx, [0.8])
    assert d.params["recipe"] == str(recipe)
    assert any("MagnitudePruningModifier" in note for note in d.params["recipe_changes"])
    assert all(int((~m).sum()) == round(0.8 * m.numel()) for m in d.masks.values())


def test_acdc_phases_are_whole_epochs_and_need_two():
    opts = make_ctx("acdc", epochs=3).opts
    pruner = check_recipe_options(opts).modifiers[0]
    assert pruner["modifier"] == "ACDCPruningModifier"
    assert all(isinstance(pruner[k], int) for k in ("start_epoch", "end_epoch", "update_frequency"))
    opts.train.epochs = 1
    with pytest.raises(OptionError, match="--epochs 2"):
        check_recipe_options(opts)


def test_woodfisher_needs_two_batches_per_epoch():
    ctx = make_ctx("woodfisher", batch_size=64)
    with pytest.raises(OptionError, match="--batch-size"):
        draw(ctx, [0.5])


@pytest.mark.parametrize("method", RECIPE_METHODS)
def test_shipped_recipes_validate(method):
    assert (RECIPE_DIR / f"{method}.yaml").is_file()
    assert validate_recipe(RECIPE_DIR / f"{method}.yaml", method)


GMP = """
modifiers:
  - !GMPruningModifier
    init_sparsity: 0.05
    final_sparsity: 0.5
    start_epoch: 0.0
    end_epoch: 3.0
    update_frequency: 1.0
    params: __ALL_PRUNABLE__
"""


@pytest.mark.parametrize("text, fragment", [
    ("modifiers:\n  - !GMPruningModifier\n    start_epoch: [0\n", "not valid YAML"),
    ("modifiers:\n  - !FooModifier\n    start_epoch: 0\n", "unknown modifier !FooModifier"),
    ("modifiers:\n  - !EpochRangeModifier\n    start_epoch: 0\n    end_epoch: 3\n", "prunes nothing"),
    ("modifiers:\n  - !QuantizationModifier\n    start_epoch: 0\n", "not supported"),
    ("stage1:\n  modifiers:\n    - !EpochRangeModifier\n      end_epoch: 3\n", "staged recipe"),
    (GMP.replace("params:", "bogus: 1\n    params:"), "bogus"),
    (GMP.replace("3.0", "eval(nope)"), "nope"),
])
def test_bad_recipes_are_refused_naming_the_fix(text, fragment):
    with pytest.raises(RecipeError, match=fragment):
        validate_recipe(text)


def test_recipe_for_another_method_is_refused():
    with pytest.raises(RecipeError, match="use --method gmp"):
        validate_recipe(GMP, "rigl")


def test_bad_user_recipe_fails_before_training(tmp_path):
    missing = make_ctx("gmp", recipe=tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="does not exist"):
        draw(missing, [0.5])
    bad = tmp_path / "bad.yaml"
    bad.write_text("modifiers:\n  - !FooModifier\n    start_epoch: 0\n")
    ctx = make_ctx("gmp", recipe=bad)
    before = copy.deepcopy(ctx.model.state_dict())
    with pytest.raises(RecipeError, match="FooModifier"):
        draw(ctx, [0.5])
    for name, value in ctx.model.state_dict().items():
        assert torch.equal(value, before[name])


def test_zero_sparsity_is_refused():
    with pytest.raises(OptionError, match="--method omp --sparsity 0"):
        draw(make_ctx("gmp"), [0.0])


def test_every_recipe_scheme_has_one_pruner_spec_and_a_recipe_file():
    assert RECIPE_METHODS and set(RECIPE_METHODS) == set(PRUNERS)
    for method in RECIPE_METHODS:
        assert (RECIPE_DIR / f"{method}.yaml").is_file() and get_method(method).trains
    assert not set(list_methods(takes_recipe=False)) & set(PRUNERS)


ALLOCATION = {"conv1.weight": 0.5, "conv2.weight": 0.9, "fc.weight": 0.0}  # fc stays dense


@pytest.mark.parametrize("method", list_methods(takes_allocation=True))
def test_every_allocating_scheme_lands_each_layer_on_its_own_sparsity(method):
    """A speed-target allocation (prune --allocation / --target-speedup) drawn by every scheme
    that takes one: each layer carries exactly round(s * n) zeros, and the training schemes
    reach it by their own schedule (imp: rounds; gmp: sparseml's per-layer final sparsities)."""
    ctx = make_ctx(method)
    ctx.opts.allocation = ALLOCATION
    ctx.opts.rounds = 2
    source = copy.deepcopy(ctx.model.state_dict())
    (d, state), = draw(ctx, [None])
    assert d.target is None and d.params.get("scope", "layer") == "layer"
    assert {n: int((~m).sum()) for n, m in d.masks.items()} == \
        {n: round(ALLOCATION[n] * w.numel()) for n, w in ctx.weights.items()}
    if method == "gmp":  # the recipe itself pruned per layer: no zeros to top up or trim
        assert d.params["topped_up"] == d.params["kept_zeros"] == 0
        pruner = next(m for m in d.params["modifiers"] if m["modifier"] == d.params["pruning_modifier"])
        assert pruner["final_sparsity"] == {"0.5": 1, "0.9": 1}
        assert not torch.equal(state["head.weight"], source["head.weight"])  # trained under the recipe
    if method in ("imp", "aimp"):  # two rounds (rewound to the source after each), the first part of the way
        first = d.params["history"][0]["sparsity"]
        assert d.params["rounds"] == 2 and 0 < first < d.params["history"][1]["sparsity"]
