"""The converged linear probe on cached features: standardise, then multinomial logistic
regression by L-BFGS, its L2 strength chosen on a held-out part of the training split.

A ticket's pooled features can be nearly constant across images (90% OMP resnet18-cifar:
mean 0.27, spread between images 0.007), and a fixed-rate SGD probe on them measures how
well the optimiser copes with the scaling rather than what the features hold. Standardising
with the training split's statistics is an invertible affine map (the same set of linear
classifiers), and L-BFGS on the standardised problem converges; the final training loss is
reported as the evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .learner import feature_std
from ..errors import OptionError
from ..metrics import accuracy, correct_bits

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # inverse L2 strength, chosen on the held-out part
HOLDOUT_FRACTION = 0.2
MAX_ITER = 1000


@dataclass
class ProbeFit:
    weight: object  # (num_classes, dim) float32, on standardised features
    bias: object  # (num_classes,)
    mean: object  # (dim,) float64: training-feature statistics
    var: object  # (dim,) float64
    count: int
    C: float
    train_loss: float  # mean cross-entropy of the final fit on the whole training split
    converged: bool
    iterations: int
    holdout_acc: dict = field(default_factory=dict)  # C -> accuracy on the held-out part
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"solver": "lbfgs", "C": self.C, "train_loss": self.train_loss, "converged": self.converged,
                "iterations": self.iterations, "holdout_acc": {f"{c:g}": a for c, a in self.holdout_acc.items()},
                "train_images": self.count, "seconds": self.seconds}


def _standardise(features, mean, var):
    return (features - mean) / feature_std(var, 1)


def _fit(x, y, C: float, seed: int):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, solver="lbfgs", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged


def _full_matrix(model, num_classes: int, dim: int):
    """sklearn's coefficients as one row per task class. Binary problems come as one row
    (the logit of class 1), split symmetrically; a class absent from training gets a bias
    that never wins."""
    import numpy as np

    weight = np.zeros((num_classes, dim))
    bias = np.full(num_classes, -1e4)
    classes = model.classes_.astype(int)
    if len(classes) == 2 and model.coef_.shape[0] == 1:
        coef, intercept = model.coef_[0], model.intercept_[0]
        weight[classes[0]], bias[classes[0]] = -coef / 2, -intercept / 2
        weight[classes[1]], bias[classes[1]] = coef / 2, intercept / 2
    else:
        weight[classes], bias[classes] = model.coef_, model.intercept_
    return weight.astype("float32"), bias.astype("float32")


def fit_probe(features, labels, num_classes: int, seed: int = 0) -> ProbeFit:
    """Fit the probe on training features; the held-out part (a stratified 20%) picks C,
    then the fit is redone on the whole training split with that C."""
    import numpy as np
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise OptionError("the training split has images of only one class; a linear probe needs at least two")
    mean, var = features.mean(0), features.var(0)
    x = _standardise(features, mean, var)
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    x_fit, x_hold, y_fit, y_hold = train_test_split(x, labels, test_size=HOLDOUT_FRACTION, random_state=seed,
                                                    stratify=stratify)
    holdout = {}
    for C in C_GRID:
        model, _ = _fit(x_fit, y_fit, C, seed)
        holdout[C] = float((model.predict(x_hold) == y_hold).mean())
    best = max(C_GRID, key=lambda c: (holdout[c], -abs(np.log10(c))))  # ties: the middle of the grid
    model, converged = _fit(x, labels, best, seed)
    weight, bias = _full_matrix(model, num_classes, x.shape[1])
    loss = float(log_loss(labels, model.predict_proba(x), labels=model.classes_))
    return ProbeFit(weight=weight, bias=bias, mean=mean, var=var, count=len(labels), C=best, train_loss=loss,
                    converged=converged, iterations=int(np.max(model.n_iter_)), holdout_acc=holdout,
                    seconds=time.perf_counter() - started)


def probe_record(name: str, learner, train_features, train_labels, val_features, val_labels, num_classes: int,
                 seed: int, log) -> dict:
    """Linear evaluation: the converged probe on cached training features, loaded as
    ``learner``'s head; one record in adapt's per-epoch format, with the fit's evidence."""
    fit = fit_probe(train_features, train_labels, num_classes, seed)
    learner.load_probe(fit)
    preds = learner.predict_features(val_features)
    acc = accuracy(preds, val_labels, num_classes)
    n = len(train_labels)
    log(f"{name:6s} L-BFGS probe: C {fit.C:g}, final train loss {fit.train_loss:.4f}"
        f"{'' if fit.converged else ' (NOT converged)'} in {fit.iterations} iterations, {fit.seconds:.1f}s; "
        f"val top-1 {acc['top1']:.3f}")
    return {"epoch": 1, "variant": name, "lr": 0.0, "images": n, "wall_s": fit.seconds, "data_s": 0.0,
            "backbone_s": 0.0, "head_s": fit.seconds, "hidden_s": 0.0, "train_loss": fit.train_loss,
            "images_per_sec": n / fit.seconds if fit.seconds else 0.0, "probe": fit.to_dict(),
            "val_top1": acc["top1"], "val_mean_class_acc": acc["mean_class_acc"],
            "val_correct": correct_bits(preds, val_labels)}
