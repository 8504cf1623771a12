"""Shared training pieces for the stages that train: pretrain, the training drawing
schemes (imp, aimp, lmp, recipes) and finetune.

- ``TrainSettings``: data, epochs, batch size, optimiser settings, image size (one dataclass
  reused by every training command).
- ``Robustness``: natural, PGD (L-inf / L2) or Gaussian-noise (randomized smoothing) training.
- ``TrainData``: a task's images in pixel space [0, 1]; the model sees them through
  ``pixel_model``, which normalises, so attacks and noise live in pixel space.
- ``train_epoch`` / ``evaluate``: the plain loop, with a progress bar and an after-step hook
  (masks are re-applied there).
"""

from .attacks import Robustness, pgd_attack
from .data import pixel_model, TrainData, TrainSettings, load_train_data
from .loop import evaluate, make_optimizer, reapply_masks, recalibrate_batchnorm, step_lr, train_epoch, train_epochs

__all__ = ["Robustness", "TrainData", "TrainSettings", "evaluate", "load_train_data", "make_optimizer",
           "pgd_attack", "pixel_model", "reapply_masks", "recalibrate_batchnorm", "step_lr", "train_epoch",
           "train_epochs"]
