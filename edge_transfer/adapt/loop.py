"""One training epoch with feature extraction of batch k+1 overlapping the head update on
batch k: a producer thread loads and runs the backbone, the caller updates the head."""

from __future__ import annotations

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


def run_epoch(learner, batch_iter, overlap: bool = True, extract=None) -> EpochStats:
    """Train the head over ``batch_iter`` (yielding (images, labels)); returns timings.

    ``extract`` maps a batch's images to features (default: the learner's backbone);
    precomputed-feature training passes the identity.

    The result is identical with and without overlap: batches are produced and applied in
    the same order, and only the producer draws random numbers.
    """
    stats = EpochStats()
    clock = time.perf_counter
    start = clock()

    def produce():
        while True:
            t0 = clock()
            item = next(batch_iter, None)
            t1 = clock()
            if item is None:
                return
            images, labels = item
            feats = (extract or learner.features)(images)
            stats.data_s += t1 - t0
            stats.backbone_s += clock() - t1
            yield feats, labels

    def consume(feats, labels):
        t0 = clock()
        stats.loss_sum += learner.fit_features(feats, labels) * len(labels)
        stats.head_s += clock() - t0
        stats.images += len(labels)

    if not overlap:
        for feats, labels in produce():
            consume(feats, labels)
    else:
        # maxsize=1: the producer runs at most one batch ahead (bounded memory).
        q: queue.Queue = queue.Queue(maxsize=1)

        def worker():
            try:
                for item in produce():
                    q.put(item)
                q.put(_DONE)
            except BaseException as exc:  # re-raised in the caller
                q.put(exc)

        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        while (item := q.get()) is not _DONE:
            if isinstance(item, BaseException):
                thread.join()
                raise item
            consume(*item)
        thread.join()
    stats.wall_s = clock() - start
    return stats
