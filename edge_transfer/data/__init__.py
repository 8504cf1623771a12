"""Datasets for adaptation and training: the embedded MNIST tasks and ImageFolder directories.

``load_task(spec, val_spec, input_size, seed) -> Task`` is the entry point; a spec is
``embedded:mnist-5to9`` / ``embedded:mnist-0to4`` or a folder of class sub-folders.
"""

from .datasets import EMBEDDED_TASKS, ImageDataset, Task, load_task
from .batches import batches, dataset_stats

__all__ = ["EMBEDDED_TASKS", "ImageDataset", "Task", "batches", "dataset_stats", "load_task"]
