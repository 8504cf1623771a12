"""Deploy what was learned: one artifact per adapted model, and the device side of it.

- ``deploy(DeployOptions)`` (build.py): an adapt run (or a fine-tuned ticket) becomes one
  folder: ``model.onnx`` (backbone, head with the feature standardisation folded in,
  softmax; outputs ``probabilities`` and ``features``), ``head.safetensors`` (the head and its
  feature statistics, so learning goes on), ``labels.json`` and ``deploy.json``
  (preprocessing, source, sha256 of every file, and the validation: parity with PyTorch,
  the zero audit, val top-1 and agreement with the run, batch-1 latency against the same
  artifact on the dense backbone).
- ``load(DIR)`` (artifact.py): ``predict`` images, ``learner()`` to keep learning on the
  device, ``save(DIR2, learner)``; ``learn(LearnOptions)`` (learned.py) is the CLI's loop.
"""

from .artifact import DeployedModel, Predictions, load
from .build import deploy
from .learned import learn
from .options import DeployOptions, DeployResult, LearnOptions, LearnResult, PredictOptions

__all__ = ["DeployOptions", "DeployResult", "DeployedModel", "LearnOptions", "LearnResult", "PredictOptions",
           "Predictions", "deploy", "learn", "load"]
