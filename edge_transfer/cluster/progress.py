"""One bar on the client over every submitted cell: done, running, failed."""

from __future__ import annotations

import sys
from typing import Callable


def follow(client, futures: dict, on_finished: Callable[[str, object], None] = lambda _n, _f: None,
           desc: str = "cells") -> int:
    """Wait for every future in ``futures`` (name -> future), calling ``on_finished`` as each
    one ends (in the order they end); returns how many failed."""
    from distributed import wait
    from tqdm import tqdm

    names = {f.key: name for name, f in futures.items()}
    pending, failed = set(futures.values()), 0
    seen = set(client.scheduler_info()["workers"])
    with tqdm(total=len(futures), desc=desc, unit="cell", file=sys.stderr, dynamic_ncols=True) as bar:
        while pending:
            try:
                done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for future in done:
                failed += future.status != "finished"
                with tqdm.external_write_mode(file=sys.stdout):
                    on_finished(names[future.key], future)
            bar.update(len(done))
            workers = client.scheduler_info()["workers"]
            for address in sorted(seen - set(workers)):
                bar.write(f"worker {address} left; the cells it was running go to another worker", file=sys.stderr)
            seen = set(workers)
            bar.set_postfix_str(f"running {_running(client, workers, names)}, failed {failed}")
    return failed


def _running(client, workers: dict, keys) -> int:
    """Cells executing now: the scheduler assigns a worker more tasks than it has threads
    (its queue), so what a worker runs is its assigned cells, up to its threads."""
    threads = {address: w["nthreads"] for address, w in workers.items()}
    return sum(min(sum(k in keys for k in assigned), threads.get(address, 1))
               for address, assigned in client.processing().items())
