"""The drawing-scheme registry. A scheme is a generator

    fn(ctx: DrawContext, targets: list[float]) -> Iterator[Drawn]

that yields one ``Drawn`` per target sparsity, in ascending order. When it yields, the
model in ``ctx.model`` holds the ticket's weights (the caller copies it and applies the
mask); the scheme may go on training afterwards. Schemes that draw several targets from
one run (imp/aimp's pruning trajectory) yield each as it is reached; the others loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import UnknownNameError


@dataclass
class DrawContext:
    model: object  # nn.Module: the source model (checkpoint or random init), modified in place
    cfg: object  # BackboneCfg
    weights: dict  # prunable parameter name -> Parameter of ``model``
    opts: object  # PruneOptions
    data: object | None = None  # train.TrainData for schemes that train, else None
    log: Callable[[str], None] = lambda _m: None


@dataclass
class Drawn:
    target: float
    masks: dict  # name -> bool tensor, True = kept; exactly round(target * n) units (weights or blocks) False per scope
    params: dict = field(default_factory=dict)  # hyperparameters and figures for ticket.json


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[[DrawContext, list], Iterator[Drawn]]
    trains: bool  # needs --data / --epochs
    summary: str
    shares_trajectory: bool = False  # one run reaches every target in turn (imp, aimp)
    takes_blocks: bool = False  # honours --block: prunes whole 1xB blocks along input channels (omp, imp, aimp)
    draws_on: str = "source"  # the task whose images a training scheme draws on: source, or target (lmp's masks)
    deterministic: bool = False  # the same checkpoint always gives the same ticket (no seed enters)
    takes_recipe: bool = False  # driven by a sparseml recipe (--recipe overrides the built-in one)
    takes_allocation: bool = False  # prunes each layer to its own sparsity (--allocation, --target-speedup)
    # may stand in for --mask-from (LTH-T): the one-shot default, which a donor's mask replaces;
    # a scheme that draws its own mask cannot be combined with one
    takes_mask_from: bool = False


_METHODS: dict[str, Method] = {}


def register_method(name: str, trains: bool, summary: str, shares_trajectory: bool = False,
                    takes_blocks: bool = False, draws_on: str = "source", deterministic: bool = False,
                    takes_recipe: bool = False, takes_allocation: bool = False, takes_mask_from: bool = False):
    if draws_on not in ("source", "target"):
        raise ValueError(f"draws_on must be 'source' or 'target', got {draws_on!r}")

    def wrap(fn):
        _METHODS[name] = Method(name, fn, trains, summary, shares_trajectory, takes_blocks, draws_on, deterministic,
                                takes_recipe, takes_allocation, takes_mask_from)
        return fn

    return wrap


def get_method(name: str) -> Method:
    if name not in _METHODS:
        raise UnknownNameError(f"unknown --method {name!r}; choose one of: {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def list_methods(takes_blocks: bool | None = None, takes_recipe: bool | None = None,
                 takes_allocation: bool | None = None) -> list[str]:
    """Registered scheme names, sorted; ``takes_blocks=True`` keeps those that honour --block,
    ``takes_recipe=True`` those a sparseml recipe drives, ``takes_allocation=True`` those that
    prune each layer to its own sparsity."""
    return sorted(n for n, m in _METHODS.items() if takes_blocks in (None, m.takes_blocks)
                  and takes_recipe in (None, m.takes_recipe) and takes_allocation in (None, m.takes_allocation))


def methods_help() -> str:
    """One clause per scheme, for --method's help."""
    return "; ".join(f"{m.name}: {m.summary}" for m in sorted(_METHODS.values(), key=lambda m: m.name))
