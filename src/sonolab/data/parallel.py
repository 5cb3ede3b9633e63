"""Map a function over inputs in worker processes with a rich progress bar (order preserved).

Start-up matters for small sets: workers are forked (where the platform can) so they inherit the
parent's imports instead of re-importing librosa & co., they are started before the progress bar's
thread exists, and BLAS inside each worker is limited to one thread (the workers already use the
cores). Callers decide when a set is large enough to be worth workers (`workers_for`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Input = TypeVar("Input")
Output = TypeVar("Output")


def default_workers() -> int:
    """min(2, CPU count): decoding is I/O and C-bound, two processes already saturate small machines."""
    return max(1, min(2, os.cpu_count() or 1))


def workers_for(n_inputs: int, workers: int | None, min_inputs_per_worker: int = 1) -> int:
    """How many processes to use: at most `workers` (default `default_workers()`), and only as many as
    keep `min_inputs_per_worker` inputs each (a small set runs in this process: no start-up cost)."""
    requested = default_workers() if workers is None else max(1, int(workers))
    return max(1, min(requested, n_inputs // max(1, min_inputs_per_worker)))


def _worker_init() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl ships with scikit-learn; without it BLAS keeps its default
        pass


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def map_in_workers(
    function: Callable[[Input], Output],
    inputs: Sequence[Input],
    workers: int | None = None,
    progress: bool = False,
    description: str = "working",
    weights: Sequence[int] | None = None,
    chunksize: int | None = None,
) -> Iterator[Output]:
    """Yield `function(x)` for each input, in order. `workers <= 1` runs in this process.

    `function` must be a module-level function (it is pickled to the workers) that never raises for a
    bad file: it should return the problem as a value so one file cannot stop the run. `weights`
    (e.g. files per chunk) sets how far the progress bar advances per input. `chunksize`: inputs per
    task sent to a worker (default: about 8 tasks per worker; pass 1 when inputs are already chunks).
    """
    workers = default_workers() if workers is None else int(workers)
    steps = list(weights) if weights is not None else [1] * len(inputs)
    pool = None
    if workers > 1 and len(inputs) > 1:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(inputs)), mp_context=_context(), initializer=_worker_init)
        chunk = chunksize or max(1, min(64, len(inputs) // (workers * 8) or 1))
        results: Iterator[Output] = pool.map(function, inputs, chunksize=chunk)  # forks before the bar's thread
    else:
        results = map(function, inputs)
    bar = None
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
        task = bar.add_task(description, total=sum(steps))
        bar.start()
    try:
        for step, result in zip(steps, results):
            if bar:
                bar.advance(task, step)
            yield result
    finally:
        if bar:
            bar.stop()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
