"""Test-only engines: one whose outputs are wrong, one that counts calls and sleeps."""

import threading
import time

import numpy as np

from edge_transfer.engines.ort import ORTEngine


class OffByOneEngine(ORTEngine):
    """ONNX Runtime, but every output is shifted by 1: a broken engine."""

    name = "offbyone"

    def compile(self, *args, **kwargs):
        inner = super().compile(*args, **kwargs)

        class Wrapped:
            settings = inner.settings

            def run(self, inputs):
                return [out + 1.0 for out in inner.run(inputs)]

        return Wrapped()


class SleepModel:
    """A compiled model that takes `seconds` per call and records concurrency."""

    def __init__(self, seconds=0.01):
        self.seconds = seconds
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        self.settings = {}

    def run(self, inputs):
        with self._lock:
            self.calls += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.seconds)
        with self._lock:
            self.active -= 1
        return [np.zeros(1)]


class _FixedSpeedEngine(ORTEngine):
    """ONNX Runtime's outputs after a fixed sleep per call: an engine of known speed."""

    seconds = 0.0

    def compile(self, *args, **kwargs):
        inner = super().compile(*args, **kwargs)
        seconds = self.seconds

        class Wrapped:
            settings = inner.settings

            def run(self, inputs):
                time.sleep(seconds)
                return inner.run(inputs)

        return Wrapped()


class FastEngine(_FixedSpeedEngine):
    name = "fast"
    seconds = 0.002


class SlowEngine(_FixedSpeedEngine):
    name = "slow"
    seconds = 0.02


class ByFileEngine(ORTEngine):
    """A known speed per graph: 6 ms per call for a dense baseline (a path with a ``dense``
    folder), 2 ms for anything else; the outputs are ONNX Runtime's, computed once per input
    shape and replayed, so the timing is the sleep alone."""

    name = "byfile"
    seconds = {"dense": 0.006, "sparse": 0.002}

    def compile(self, path, *args, **kwargs):
        from pathlib import Path

        inner = super().compile(path, *args, **kwargs)
        seconds = self.seconds["dense" if "dense" in Path(path).parent.parts or Path(path).stem == "dense"
                               else "sparse"]

        class Wrapped:
            settings = inner.settings
            _outputs = {}

            def run(self, inputs):
                key = tuple(x.shape for x in inputs)
                if key not in self._outputs:
                    self._outputs[key] = inner.run(inputs)
                time.sleep(seconds)
                return self._outputs[key]

        return Wrapped()
