"""One training epoch as a three-stage pipeline: a data thread prepares batch k+2 while a
backbone thread extracts features of batch k+1 and the caller updates the head on batch
k. Queues hold one item, so at most two batches are in flight."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import asdict, dataclass


@dataclass
class EpochStats:
    images: int = 0
    wall_s: float = 0.0
    data_s: float = 0.0  # loading + preprocessing
    backbone_s: float = 0.0
    head_s: float = 0.0
    loss_sum: float = 0.0  # summed over images

    @property
    def hidden_s(self) -> float:
        """Time saved by overlap: the stages' sum minus the wall time (0 when sequential)."""
        return max(0.0, self.data_s + self.backbone_s + self.head_s - self.wall_s)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(hidden_s=self.hidden_s, train_loss=self.loss_sum / max(self.images, 1),
                 images_per_sec=self.images / self.wall_s if self.wall_s else 0.0)
        del d["loss_sum"]
        return d


_DONE = object()


def _timed(iterator, stats: EpochStats, field: str):
    """Yield from ``iterator``, adding the time spent inside it to ``stats.<field>``."""
    while True:
        t0 = time.perf_counter()
        item = next(iterator, _DONE)
        setattr(stats, field, getattr(stats, field) + time.perf_counter() - t0)
        if item is _DONE:
            return
        yield item


def _in_thread(iterator):
    """Run ``iterator`` in a worker thread, one item ahead; exceptions surface in the reader.

    When the reader stops early (an exception, Ctrl-C), the worker is told to stop and is
    joined before this generator closes: a daemon thread still inside the engine when the
    interpreter exits makes DeepSparse abort the process ("terminate called without an active
    exception", measured with Ctrl-C mid-epoch) instead of exiting with 130.
    """
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def worker():
        try:
            for item in iterator:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as exc:
            put(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:  # an upstream stage's generator: stops its own worker
                close()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def run_epoch(learner, batch_iter, overlap: bool = True, extract=None) -> EpochStats:
    """Train the head over ``batch_iter`` (yielding (images, labels)); returns timings.

    ``extract`` maps a batch's images to features (default: the learner's backbone);
    precomputed-feature training passes the identity. The result is identical with and
    without overlap: batches are produced and applied in order, and only the data stage
    draws random numbers.
    """
    extract = extract or learner.features
    stats = EpochStats()
    start = time.perf_counter()
    data = _timed(iter(batch_iter), stats, "data_s")
    if overlap:
        data = _in_thread(data)

    def backbone(batches):
        for images, labels in batches:
            t0 = time.perf_counter()
            feats = extract(images)
            stats.backbone_s += time.perf_counter() - t0
            yield feats, labels

    features = backbone(data)
    if overlap:
        features = _in_thread(features)
    with contextlib.closing(features):  # on an early exit, the stage threads stop now, not at exit
        for feats, labels in features:
            t0 = time.perf_counter()
            stats.loss_sum += learner.fit_features(feats, labels) * len(labels)
            stats.head_s += time.perf_counter() - t0
            stats.images += len(labels)
    stats.wall_s = time.perf_counter() - start
    return stats
