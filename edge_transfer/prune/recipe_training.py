"""Training under a sparseml recipe (``recipes.py`` resolves it): the run is a plain loop
(``train_epoch``) with the recipe's hooks around each optimiser step, written out in
``_RecipeStep``. At the end the mask is recomputed from the final weights with
``masks_from_scores`` (zeros rank first), so every ticket has exactly ``round(target * n)``
zeros per scope; ``params`` records how far the recipe's own zeros were from that count.
Registers gmp, acdc, woodfisher and rigl."""

from __future__ import annotations

import copy
import itertools
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import OptionError, RecipeError
from ..thirdparty import import_sparseml
from ..train import make_optimizer, pixel_model, train_epoch
from ._registry import DrawContext, Drawn, register_method
from .magnitude import allocated_masks, allocation_sparsity, masks_from_scores
from .recipes import PARAM_PREFIX, Recipe, method_of, resolve_recipe


def build_modifiers(recipe: Recipe):
    """sparseml's modifier objects for a resolved recipe (constructor errors become RecipeError)."""
    ScheduledModifierManager = import_sparseml("sparseml.pytorch.optim").ScheduledModifierManager
    try:
        return ScheduledModifierManager.from_yaml(recipe.yaml)
    except (TypeError, ValueError, AssertionError, KeyError) as err:
        raise RecipeError(f"{recipe.source}: sparseml refuses its !{recipe.pruner} settings ({err}); fix that field "
                          "in the recipe") from None


def validate_recipe(recipe: Path | str, method: str | None = None) -> str:
    """Check a user recipe before any training: readable, valid YAML, known modifiers, one
    pruning modifier (the one ``method`` drives, if given), fields sparseml accepts, for a
    nominal 10-epoch run. ``recipe``: a Path to a .yaml / .md file, or the YAML text itself.
    Returns the pruning modifier's name."""
    probe = resolve_recipe(method or method_of(recipe), recipe, target=0.5, epochs=10, scope="global",
                           params=["probe.weight"])
    build_modifiers(probe)
    return probe.pruner


def check_recipe_options(opts) -> Recipe:
    """Resolve the run's recipe from PruneOptions up front (before data, model or training):
    raises RecipeError / OptionError naming the fix. Call it from PruneOptions.validate."""
    recipe = resolve_recipe(opts.method, opts.recipe, target=opts.sparsity, epochs=opts.train.epochs,
                            scope=opts.scope, params=["probe.weight"], lr=opts.train.lr)
    build_modifiers(recipe)
    return recipe


class _RecipeStep:
    """The optimiser as ``train_epoch`` sees it, with the recipe's hooks around each step:
    the same calls sparseml's RecipeManagerStepWrapper makes, written out."""

    def __init__(self, optimizer, manager, module, steps_per_epoch: int):
        self.optimizer, self.manager, self.module = optimizer, manager, module
        self.steps_per_epoch = steps_per_epoch
        self.steps = 0

    @property
    def epoch(self) -> float:
        return self.steps / self.steps_per_epoch

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        args = (self.module, self.optimizer, self.epoch, self.steps_per_epoch)
        # OBS and RigL sample gradients inside update() and end with module.zero_grad(), which
        # sets .grad to None: keep this batch's gradients (references) so the step still trains
        grads = [(p, p.grad) for p in self.module.parameters()]
        self.manager.update(*args)  # mask updates due at this epoch (prune / regrow / phase switch)
        for p, grad in grads:
            p.grad = grad
        self.manager.optimizer_pre_step(*args)  # gradient bookkeeping, momentum resets
        self.optimizer.step()
        self.manager.optimizer_post_step(*args)  # re-apply the masks the step moved
        self.steps += 1


def _grad_sampler(ctx: DrawContext):
    """What OBS and RigL call to get gradient batches: ``data_loader_builder(kwargs)``
    returns a callable; each call (one per pruning step) yields ``([x], {}, y)`` in a fresh order."""
    import torch.nn.functional as F

    tr = ctx.opts.train
    calls = itertools.count(1)

    def data_loader_builder(kwargs: dict | None = None, **more):
        # OBS passes its grad_sampler_kwargs as one dict, RigL as keyword arguments
        batch_size = int({**(kwargs or {}), **more}.get("batch_size", tr.batch_size))

        def batches():
            # as many batches as the sampler asks for (it stops at num_grads): small data sets repeat
            while True:
                seen = 0
                for x, y in ctx.data.train_batches(batch_size, tr.seed * 7919 + next(calls)):
                    seen += 1
                    yield [x], {}, y
                if not seen:
                    return

        # a callable, not a generator: sparseml keeps the loader for the whole run
        return batches

    return {"data_loader_builder": data_loader_builder, "loss_function": F.cross_entropy}


def _sparsity(weights: dict) -> float:
    total = sum(w.numel() for w in weights.values())
    return sum(int((w == 0).sum()) for w in weights.values()) / total


def _exact_masks(weights: dict, target: float, scope: str, allocation: dict | None = None) -> tuple[dict, dict]:
    """The ticket's mask from the final weights (zeros first, then smallest |w|; with an
    allocation, each layer to its own sparsity) and how it differs from the recipe's own zeros."""
    if allocation is None:
        masks = masks_from_scores({n: w.detach().abs() for n, w in weights.items()}, target, scope)
    else:
        masks = allocated_masks(weights, allocation)
    zeros = {n: w.detach() == 0 for n, w in weights.items()}
    figures = {
        "recipe_zeros": sum(int(z.sum()) for z in zeros.values()),
        "exact_zeros": sum(int((~m).sum()) for m in masks.values()),
        "topped_up": sum(int((~masks[n] & ~zeros[n]).sum()) for n in masks),  # nonzero weights edge-transfer pruned
        "kept_zeros": sum(int((masks[n] & zeros[n]).sum()) for n in masks),  # recipe zeros past the count, kept
    }
    return masks, figures


def _silent_loggers():
    """A logger manager that logs nothing. sparseml's default PythonLogger writes a
    ``sparse_logs/`` folder into the current directory, and an *empty* manager counts as
    falsy there (``loggers or []``) and gets that default back: so one disabled logger."""
    utils = import_sparseml("sparseml.pytorch.utils")
    LambdaLogger, LoggerManager = utils.LambdaLogger, utils.LoggerManager
    return LoggerManager([LambdaLogger(lambda *_a, **_k: True, name="silent", enabled=False)], log_python=False)


@contextmanager
def _sparseml_warnings_only():
    """sparseml sets its logger to INFO on import and logs every mask update; keep its
    warnings, drop the chatter while a recipe trains (the progress bar shows the sparsity)."""
    logger = logging.getLogger("sparseml")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _run(ctx: DrawContext, recipe: Recipe, target: float) -> list[dict]:
    """Train ``ctx.model`` under ``recipe`` for ``recipe.epochs`` epochs; returns per-epoch figures."""
    import torch

    tr = ctx.opts.train
    steps = ctx.data.steps_per_epoch(tr.batch_size)
    if recipe.pruner == "OBSPruningModifier" and steps < 2:
        # sparseml's OBS skips every pruning step when steps_per_epoch == 1 (it takes that for one-shot)
        raise OptionError(f"woodfisher needs at least 2 batches per epoch, --data has {steps} at --batch-size "
                          f"{tr.batch_size}: lower --batch-size")
    torch.manual_seed(tr.seed)
    net = pixel_model(ctx.model, ctx.cfg.mean, ctx.cfg.std)
    manager = build_modifiers(recipe)
    optimizer = make_optimizer(net.parameters(), tr.lr, tr.momentum, tr.weight_decay)
    manager.initialize(net, epoch=0.0, loggers=_silent_loggers(), grad_sampler=_grad_sampler(ctx))
    step = _RecipeStep(optimizer, manager, net, steps)
    history = []
    try:
        for epoch in range(recipe.epochs):
            stats = train_epoch(net, step, ctx.data.train_batches(tr.batch_size, tr.seed * 100_003 + epoch), None,
                                steps=steps, progress=tr.progress,
                                desc=f"{ctx.opts.method} {target:.0%} epoch {epoch + 1}/{recipe.epochs}",
                                postfix=lambda: {"sparsity": f"{_sparsity(ctx.weights):.1%}"})
            history.append({"epoch": epoch + 1, "train_loss": round(stats["loss"], 5),
                            "train_acc": round(stats["acc"], 5), "sparsity": round(_sparsity(ctx.weights), 5)})
        # the update the next step would make: closes schedules that end exactly at the last epoch
        manager.update(net, optimizer, float(recipe.epochs), steps)
    finally:
        manager.finalize(net)  # applies the final masks and removes sparseml's hooks from the model
    return history


def _recipe_scheme(ctx: DrawContext, targets: list):
    opts = ctx.opts
    names = [PARAM_PREFIX + n for n in ctx.weights]
    labels = {t: t for t in targets}
    if opts.allocation is not None:  # one ticket, each layer to its own sparsity
        labels = {allocation_sparsity(ctx.weights, opts.allocation): targets[0]}
        targets = list(labels)
    recipes = {t: resolve_recipe(opts.method, opts.recipe, target=t, epochs=opts.train.epochs, scope=opts.scope,
                                 params=names, lr=opts.train.lr, weights=ctx.weights, allocation=opts.allocation)
               for t in targets}
    for recipe in recipes.values():  # every target's recipe is checked before the first one trains
        build_modifiers(recipe)
    source_state = copy.deepcopy(ctx.model.state_dict())
    for target in targets:
        t0 = time.perf_counter()
        ctx.model.load_state_dict(source_state)
        recipe = recipes[target]
        with _sparseml_warnings_only():
            history = _run(ctx, recipe, target)
        masks, figures = _exact_masks(ctx.weights, target, opts.scope, opts.allocation)
        seconds = round(time.perf_counter() - t0, 2)
        ctx.log(f"{opts.method} {target:.0%}: recipe left {figures['recipe_zeros']:,} zeros, ticket has "
                f"{figures['exact_zeros']:,} ({figures['topped_up']:,} topped up; "
                f"train loss {history[-1]['train_loss']:.3f}, {seconds:.1f}s)")
        yield Drawn(labels[target], masks, {**({"scope": "layer"} if opts.allocation is not None else {}),
            "recipe": recipe.source, "recipe_sha256": recipe.sha256, "pruning_modifier": recipe.pruner,
            "modifiers": recipe.modifiers, "recipe_changes": recipe.notes, "epochs": recipe.epochs,
            **figures, "history": history, "seconds": seconds})


@register_method("gmp", trains=True, takes_recipe=True, takes_allocation=True,
                 summary="gradual magnitude pruning, cubic schedule then fine-tuning (sparseml recipe)")
def _gmp(ctx: DrawContext, targets: list):
    yield from _recipe_scheme(ctx, targets)


@register_method("acdc", trains=True, takes_recipe=True, summary="AC/DC: alternating dense and compressed phases (sparseml recipe)")
def _acdc(ctx: DrawContext, targets: list):
    yield from _recipe_scheme(ctx, targets)


@register_method("woodfisher", trains=True, takes_recipe=True,
                 summary="WoodFisher / OBS: second-order pruning with weight compensation (sparseml recipe)")
def _woodfisher(ctx: DrawContext, targets: list):
    yield from _recipe_scheme(ctx, targets)


@register_method("rigl", trains=True, takes_recipe=True, summary="RigL: sparse training with magnitude drop and gradient regrowth "
                 "(sparseml recipe)")
def _rigl(ctx: DrawContext, targets: list):
    yield from _recipe_scheme(ctx, targets)
