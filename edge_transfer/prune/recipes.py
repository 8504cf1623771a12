"""Drawing schemes driven by sparseml recipes: ``gmp`` (gradual magnitude), ``acdc``
(alternating compressed / decompressed), ``woodfisher`` (OBS with an inverse empirical
Fisher) and ``rigl`` (drop / regrow). Each target sparsity is one training run from the
source weights; the ticket's weights are the recipe-trained weights.

A recipe is a sparseml YAML (``recipe_files/<method>.yaml`` ships one per scheme;
``--recipe`` replaces it). Before sparseml sees it, edge-transfer:

- fills the root variables ``final_sparsity`` (--sparsity) and ``lr`` (--lr) where the
  recipe defines them, then evaluates its ``eval(...)`` fields as written;
- scales every epoch field (start_epoch, end_epoch, update_frequency, cycle_epochs) by
  one factor so the recipe spans exactly --epochs (ACDC's are rounded to whole epochs).
  Scaling the evaluated recipe, rather than filling ``num_epochs``, keeps recipes that mix
  ``eval(num_epochs * f)`` and plain numbers consistent;
- points the one pruning modifier at exactly the prunable weights (``params``), at the
  target sparsity, with --scope (global / layer-wise ranking; RigL: uniform per layer).

This module reads, resolves and checks recipes (no training); ``recipe_training.py`` runs
them and registers the schemes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OptionError, RecipeError
from ..thirdparty import import_sparseml
from .recipe_eval import check_expressions

RECIPE_DIR = Path(__file__).with_name("recipe_files")

# The sparseml pruning modifier each scheme drives; a recipe holds exactly one of them.
PRUNERS = {
    "gmp": ("GlobalMagnitudePruningModifier", "MagnitudePruningModifier", "GMPruningModifier"),
    "acdc": ("ACDCPruningModifier",),
    "woodfisher": ("OBSPruningModifier",),
    "rigl": ("RigLPruningModifier",),
}
# Modifiers that only shape the training schedule. Others (quantization, distillation,
# structured or layer pruning, thinning) would change what a ticket is, so they are refused.
SCHEDULE_MODIFIERS = ("EpochRangeModifier", "LearningRateFunctionModifier", "SetLearningRateModifier",
                      "SetWeightDecayModifier")
_EPOCH_FIELDS = ("start_epoch", "end_epoch", "update_frequency", "cycle_epochs")
PARAM_PREFIX = "model."  # the prunable weights' names under train.pixel_model's wrapper
_SPARSITY_FIELD = {"ACDCPruningModifier": "compression_sparsity"}  # the others: final_sparsity
_GRAD_SAMPLER_KEYS = ("batch_size",)
_OBJECT = "OBJECT."  # how sparseml's class-less YAML view names a modifier: {"OBJECT.<Name>": fields}


@dataclass
class Recipe:
    """One recipe resolved for one run: the YAML sparseml builds and what ticket.json records."""

    source: str  # "shipped recipe_files/gmp.yaml" or the user's path
    sha256: str  # of the recipe text as given
    pruner: str  # the pruning modifier's class name
    yaml: str  # resolved recipe (numbers only, exact params): what sparseml loads
    modifiers: list = field(default_factory=list)  # [{"modifier": name, **fields}], params summarised
    epochs: int = 0
    notes: list = field(default_factory=list)  # what edge-transfer changed, in words


def _sparseml_helpers():
    """sparseml's recipe helpers; importing sparseml takes seconds, so only here."""
    return import_sparseml("sparseml.optim.helpers")


def _known_modifiers() -> set:
    """Names of sparseml's PyTorch modifiers (registered as YAML tags on import)."""
    import yaml

    import_sparseml("sparseml.pytorch.sparsification")  # registers the modifiers' YAML tags
    prefix = "!pytorch."
    return {k[len(prefix):] for k in yaml.SafeLoader.yaml_constructors if isinstance(k, str) and k.startswith(prefix)}


def _read(recipe: Path | str | None, method: str | None) -> tuple[str, str]:
    """(recipe text, label): a Path is read from disk, a str is the YAML itself,
    None is the recipe shipped for ``method``."""
    if recipe is None:
        path = RECIPE_DIR / f"{method}.yaml"
        return path.read_text(), f"shipped {path.parent.name}/{path.name}"
    if isinstance(recipe, str):
        return recipe, "inline recipe"
    path = Path(recipe)
    if not path.is_file():
        raise RecipeError(f"--recipe {path} does not exist or is not a file; give the path of a sparseml recipe "
                          ".yaml (or drop --recipe to use the shipped one)")
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".md":  # a SparseZoo recipe card: the recipe is its YAML front matter
        text = _sparseml_helpers().load_recipe_yaml_str(text + "\n")
    return text, str(path)


def _load(text: str, label: str) -> dict:
    """Parse a recipe into sparseml's class-less view (modifiers as {"OBJECT.Name": fields})."""
    import yaml

    try:
        container = _sparseml_helpers().load_recipe_yaml_str_no_classes(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise RecipeError(f"{label} is not valid YAML{at} ({problem}); fix the recipe's syntax "
                          "(modifiers are written `- !GMPruningModifier` with their fields indented below)") from None
    if not isinstance(container, dict) or not any("modifiers" in str(k) for k in container):
        if isinstance(container, dict) and any(isinstance(v, dict) and any("modifiers" in str(k) for k in v)
                                               for v in container.values()):
            raise RecipeError(f"{label} is a staged recipe; put all modifiers in one top-level `modifiers:` list "
                              "(edge-transfer runs one stage)")
        raise RecipeError(f"{label} has no `modifiers:` list; a sparseml recipe lists its modifiers under a key "
                          "containing 'modifiers', e.g. `pruning_modifiers:`")
    return container


def _entries(container: dict, label: str) -> list[tuple[str, dict]]:
    """Every modifier as (name, fields), normalised in place to the flat form
    {"OBJECT.Name": None, **fields} (sparseml writes fields either nested or beside the tag)."""
    out = []
    for key, items in container.items():
        if "modifiers" not in str(key):
            continue
        if not isinstance(items, list):
            raise RecipeError(f"{label}: `{key}` must be a list of modifiers (`- !GMPruningModifier` items)")
        for i, item in enumerate(items):
            tags = [k for k in item if str(k).startswith(_OBJECT)] if isinstance(item, dict) else []
            if len(tags) != 1:
                raise RecipeError(f"{label}: item {i + 1} of `{key}` is not a modifier; write each item as "
                                  "`- !ModifierName` followed by its fields")
            tag = tags[0]
            fields = {k: v for k, v in item.items() if k != tag}
            if isinstance(item[tag], dict):
                fields = {**item[tag], **fields}
            items[i] = {tag: None, **fields}
            out.append((tag[len(_OBJECT):].removeprefix("pytorch."), items[i]))
    return out


def _check_names(entries: list, label: str, method: str | None) -> str:
    """Refuse unknown and unsupported modifiers; return the one pruning modifier's name."""
    known = _known_modifiers()
    allowed_pruners = PRUNERS[method] if method else tuple(n for names in PRUNERS.values() for n in names)
    for name, _ in entries:
        if name not in known:
            raise RecipeError(f"{label} names an unknown modifier !{name}; a drawing recipe holds one pruning "
                              f"modifier ({', '.join(allowed_pruners)}) plus schedule modifiers "
                              f"({', '.join(SCHEDULE_MODIFIERS)})")
    pruners = [name for name, _ in entries if name not in SCHEDULE_MODIFIERS]
    for name in pruners:
        if not any(name in names for names in PRUNERS.values()):
            raise RecipeError(f"{label}: !{name} is not supported in a drawing recipe; keep one pruning modifier "
                              f"({', '.join(n for names in PRUNERS.values() for n in names)}) plus schedule "
                              f"modifiers ({', '.join(SCHEDULE_MODIFIERS)})")
    if not pruners:
        raise RecipeError(f"{label} prunes nothing: add a pruning modifier, e.g. !{allowed_pruners[0]} "
                          f"(see {RECIPE_DIR}/{method or 'gmp'}.yaml)")
    if len(pruners) > 1:
        raise RecipeError(f"{label} has {len(pruners)} pruning modifiers ({', '.join(pruners)}); keep one: "
                          "edge-transfer points it at all prunable weights and the target sparsity")
    if pruners[0] not in allowed_pruners:
        fitting = next(m for m, names in PRUNERS.items() if pruners[0] in names)
        raise RecipeError(f"--method {method} drives {' / '.join(allowed_pruners)}, but {label} prunes with "
                          f"!{pruners[0]}; use --method {fitting}")
    return pruners[0]


def _fill_variables(container: dict, values: dict) -> list[str]:
    filled = []
    for name, value in values.items():
        if name in container and value is not None:
            container[name] = value
            filled.append(name)
    return filled


def _evaluate(container: dict, label: str) -> dict:
    """Resolve the recipe's ``eval(...)`` fields with sparseml's restricted evaluator, after
    checking that each is bounded arithmetic."""
    check_expressions(container, label)
    helpers = _sparseml_helpers()
    try:
        text = helpers.evaluate_recipe_yaml_str_equations(helpers.rewrite_recipe_yaml_string_with_classes(container))
    except Exception as err:  # sparseml raises RuntimeError / ValueError / its own UnknownVariableException
        raise RecipeError(f"{label}: cannot evaluate its eval(...) fields ({err}); define every variable they use "
                          "at the recipe's top level") from None
    return _load(text, label)


def _span(entries: list) -> float:
    """The recipe's length in epochs: the latest start or end of any modifier."""
    ends = [float(fields[k]) for _, fields in entries for k in ("start_epoch", "end_epoch")
            if isinstance(fields.get(k), (int, float)) and fields[k] >= 0]
    return max(ends, default=0.0)


def _rescale(entries: list, epochs: int, label: str) -> float:
    span = _span(entries)
    if span <= 0:
        raise RecipeError(f"{label} has no epoch range; add `- !EpochRangeModifier` with start_epoch: 0 and "
                          "end_epoch: eval(num_epochs)")
    factor = epochs / span
    for _, fields in entries:
        for key in _EPOCH_FIELDS:
            value = fields.get(key)
            # -1 means "unset" in sparseml (e.g. update every step); leave it so
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                fields[key] = round(float(value) * factor, 6)
    return factor


def _whole_epochs(fields: dict, epochs: int) -> None:
    """ACDC's phases are whole epochs: round start/end/update_frequency and keep at least
    one dense and one compressed phase inside the run."""
    if epochs < 2:
        raise OptionError(f"acdc alternates dense and compressed phases of whole epochs: give --epochs 2 or more "
                          f"(got {epochs})")
    start = min(max(0, round(fields["start_epoch"])), epochs - 2)
    end = min(epochs, max(round(fields["end_epoch"]), start + 2))
    freq = min(max(1, round(fields["update_frequency"])), (end - start) // 2)
    fields.update(start_epoch=start, end_epoch=end, update_frequency=freq)


def _rigl_final_sparsity(weights: dict, target: float, strategy: str) -> float:
    """The final_sparsity to give RigL so its per-layer distribution prunes ``target`` overall.
    sparseml's erdos_renyi(_kernel) clips layers it would make denser than dense to 0% and
    does not hand their share to the others, so the total overshoots (81.7% for 80% on
    resnet18-cifar); bisect on sparseml's own distribution instead."""
    RigLPruningParamsScorer = import_sparseml(
        "sparseml.pytorch.sparsification.pruning.modifier_pruning_rigl").RigLPruningParamsScorer

    params = list(weights.values())
    wanted = round(target * sum(p.numel() for p in params))

    def zeros(sparsity: float) -> float:
        spread = RigLPruningParamsScorer(params, sparsity, strategy).get_sparsity_distribution()
        return sum(float(s) * p.numel() for s, p in zip(spread, params))

    if zeros(target) < wanted + 0.5:
        return target  # nothing clipped
    low, high = 0.0, target
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if zeros(middle) < wanted else (low, middle)
    return round(high, 6)


def _point_allocation(name: str, fields: dict, allocation: dict, params: list) -> tuple[str, list]:
    """Aim a gmp pruner at each layer's own sparsity: sparseml's per-layer form (final_sparsity
    as {sparsity: [params]}, params empty); layers allocated 0 stay dense."""
    by_level: dict = {}
    for param in params:
        level = allocation.get(param.removeprefix(PARAM_PREFIX), 0.0)
        if level > 0:
            by_level.setdefault(round(float(level), 6), []).append(param)
    notes = [f"!{name} -> !MagnitudePruningModifier with {len(by_level)} per-layer final sparsities (the allocation)"]
    fields.pop("global_sparsity", None)
    fields["final_sparsity"] = by_level
    fields["params"] = []
    lowest = min(by_level, default=0.0)
    if isinstance(fields.get("init_sparsity"), (int, float)) and fields["init_sparsity"] > lowest:
        notes.append(f"init_sparsity {fields['init_sparsity']} -> {lowest} (the lowest allocated sparsity)")
        fields["init_sparsity"] = lowest
    return "MagnitudePruningModifier", notes


def _point_pruner(name: str, fields: dict, target: float, scope: str, params: list, label: str,
                  weights: dict | None) -> tuple[str, list]:
    """Aim the pruning modifier (its ``fields`` without the tag) at ``params`` and ``target``
    with ``scope``; returns the (possibly swapped) modifier name and notes on what changed."""
    notes = []
    if name in PRUNERS["gmp"]:
        # GMPruningModifier's global_sparsity flag is deprecated in sparseml: pick the class instead
        wanted = "GlobalMagnitudePruningModifier" if scope == "global" else "MagnitudePruningModifier"
        if name != wanted:
            notes.append(f"!{name} -> !{wanted} for --scope {scope}")
        name = wanted
        fields.pop("global_sparsity", None)
    elif name == "RigLPruningModifier":
        fields["global_sparsity"] = False  # RigL ranks per layer; its sparsity_strategy spreads the total
        if fields.pop("init_sparsity", None) is not None:
            notes.append("dropped RigL's init_sparsity (it starts at final_sparsity)")
        if scope == "layer" and fields.get("sparsity_strategy", "erdos_renyi_kernel") != "uniform":
            notes.append(f"sparsity_strategy {fields.get('sparsity_strategy', 'erdos_renyi_kernel')} -> uniform "
                         "for --scope layer")
            fields["sparsity_strategy"] = "uniform"
        fields.setdefault("sparsity_strategy", "erdos_renyi_kernel")
    else:
        fields["global_sparsity"] = scope == "global"
    key = _SPARSITY_FIELD.get(name, "final_sparsity")
    if fields.get(key) != target:
        notes.append(f"{key} {fields.get(key)!r} -> {target}")
    fields[key] = target
    if name == "RigLPruningModifier" and fields["sparsity_strategy"] != "uniform" and weights:
        fields[key] = _rigl_final_sparsity(weights, target, fields["sparsity_strategy"])
        if fields[key] != target:
            notes.append(f"final_sparsity {target} -> {fields[key]} so {fields['sparsity_strategy']}'s clipped "
                         f"layers still total {target}")
    if isinstance(fields.get("init_sparsity"), (int, float)) and fields["init_sparsity"] > target:
        notes.append(f"init_sparsity {fields['init_sparsity']} -> {target} (above the target)")
        fields["init_sparsity"] = target
    fields["params"] = list(params)
    extra = set(fields.get("grad_sampler_kwargs") or {}) - set(_GRAD_SAMPLER_KEYS)
    if extra:
        raise RecipeError(f"{label}: grad_sampler_kwargs supports {', '.join(_GRAD_SAMPLER_KEYS)} only; remove "
                          f"{', '.join(sorted(extra))} (gradients are sampled from --data)")
    if "grad_sampler_kwargs" in fields and fields["grad_sampler_kwargs"] is None:
        fields["grad_sampler_kwargs"] = {}
    return name, notes


def resolve_recipe(method: str, recipe: Path | str | None, *, target: float, epochs: int, scope: str, params: list,
                   lr: float | None = None, weights: dict | None = None, allocation: dict | None = None) -> Recipe:
    """Read, check and resolve a recipe for one run of ``epochs`` epochs: ``recipe`` is a Path,
    the YAML text itself, or None for the one shipped for ``method``. ``weights`` (the
    prunable tensors, optional) lets RigL's non-uniform spread be aimed at the exact total.
    ``allocation`` (layer -> sparsity; gmp only) prunes each layer to its own sparsity, and
    ``target`` is then the model's overall sparsity under it."""
    if not 0 < target < 1:
        # sparseml's gradual pruners refuse a final sparsity of 0; a 0% ticket is the dense model
        raise OptionError(f"--method {method} trains towards a sparsity in (0, 1), got {target}; for the dense "
                          "model use --method omp --sparsity 0")
    text, label = _read(recipe, method)
    container = _load(text, label)
    pruner = _check_names(_entries(container, label), label, method)
    filled = _fill_variables(container, {"final_sparsity": target, "lr": lr})
    container = _evaluate(container, label)
    entries = _entries(container, label)
    notes = [f"filled {', '.join(filled)}"] if filled else []
    factor = _rescale(entries, epochs, label)
    if abs(factor - 1) > 1e-9:
        notes.append(f"epoch fields scaled x{factor:.4g} to span {epochs} epochs")
    if "num_epochs" in container:
        container["num_epochs"] = epochs  # already evaluated; keeps the resolved YAML truthful
    recorded = []
    for name, item in entries:
        fields = {k: v for k, v in item.items() if not str(k).startswith(_OBJECT)}
        if name == pruner:
            if name == "ACDCPruningModifier":
                _whole_epochs(fields, epochs)
            if allocation is not None and name in PRUNERS["gmp"]:
                name, changed = _point_allocation(name, fields, allocation, params)
            else:
                name, changed = _point_pruner(name, fields, target, scope, params, label, weights)
            pruner = name
            notes += changed
            item.clear()  # rewritten in place: the tag may change (GMP's class follows --scope)
            item.update({_OBJECT + name: None, **fields})
        if fields.get("params"):
            fields["params"] = f"{len(params)} prunable weights (the ticket's masks)"
        if isinstance(fields.get("final_sparsity"), dict):
            fields["final_sparsity"] = {str(k): len(v) for k, v in fields["final_sparsity"].items()}  # level: layers
        recorded.append({"modifier": name, **fields})
    resolved = _sparseml_helpers().rewrite_recipe_yaml_string_with_classes(container)
    return Recipe(source=label, sha256=hashlib.sha256(text.encode()).hexdigest(), pruner=pruner, yaml=resolved,
                  modifiers=recorded, epochs=epochs, notes=notes)


def method_of(recipe: Path | str) -> str:
    """The scheme a recipe's pruning modifier belongs to (for validation without --method)."""
    text, label = _read(recipe, None)
    pruner = _check_names(_entries(_load(text, label), label), label, None)
    return next(m for m, names in PRUNERS.items() if pruner in names)
