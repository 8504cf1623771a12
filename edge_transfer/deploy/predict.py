"""``predict_files``: what ``edge-transfer predict`` runs. Files are decoded one by one
(unreadable ones are skipped and counted), batched, and run on one compiled model."""

from __future__ import annotations

import time

from ..bench.timing import latency_stats_ms
from ..cores import pinned
from ..data.datasets import read_image
from ..errors import OptionError
from .artifact import load
from .options import PredictOptions


def predict_files(opts: PredictOptions) -> dict:
    top_k, batch_size, files = opts.top_k, opts.batch_size, list(opts.files)
    with pinned(opts.cores) as core:
        model = load(opts.artifact, engine=opts.engine, cores=core.cores, batch_size=batch_size)
        if top_k > model.manifest.num_classes:
            raise OptionError(f"--top-k {top_k} is more than the artifact's {model.manifest.num_classes} classes; "
                              f"use --top-k {model.manifest.num_classes} or less")
        images, names, unreadable = [], [], []
        for path in files:
            img, reason = read_image(path)
            if img is None:
                unreadable.append({"file": str(path), "reason": reason})
            else:
                images.append(img.permute(1, 2, 0).numpy())
                names.append(str(path))
        if not images:
            why = f" ({unreadable[0]['file']}: {unreadable[0]['reason']})" if unreadable else ""
            raise OptionError(f"none of the {len(files)} files could be read as an image{why}; give PNG or JPEG files")
        model.compiled  # compile before the clock starts
        rows, latencies = [], []
        start = time.perf_counter()
        for i in range(0, len(images), batch_size):
            t0 = time.perf_counter()
            result = model.predict(images[i : i + batch_size])
            latencies.append(time.perf_counter() - t0)
            rows += [{"file": name, "label": label, "top_k": top}
                     for name, label, top in zip(names[i : i + batch_size], result.labels, result.top_k(top_k))]
        seconds = time.perf_counter() - start
    summary = {"images": len(images), "unreadable": len(unreadable), "unreadable_files": unreadable,
               "seconds": seconds, "images_per_sec": len(images) / seconds, "engine": opts.engine, "cores": core.cores,
               "batch_size": batch_size}
    if batch_size == 1:
        stats = latency_stats_ms(latencies)
        summary.update(latency_ms_p50=stats["latency_ms_p50"], latency_ms_p99=stats["latency_ms_p99"])
    return {"artifact": str(opts.artifact), "predictions": rows, "summary": summary}
