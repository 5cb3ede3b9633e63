"""Map a function over files in worker processes with a rich progress bar (order preserved)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Input = TypeVar("Input")
Output = TypeVar("Output")


def default_workers() -> int:
    """min(2, CPU count): decoding is I/O and C-bound, two processes already saturate small machines."""
    return max(1, min(2, os.cpu_count() or 1))


def map_in_workers(
    function: Callable[[Input], Output],
    inputs: Sequence[Input],
    workers: int | None = None,
    progress: bool = False,
    description: str = "working",
) -> Iterator[Output]:
    """Yield `function(x)` for each input, in order. `workers <= 1` runs in this process.

    `function` must be a module-level function (it is pickled to the workers) that never raises for a
    bad file: it should return the problem as a value so one file cannot stop the run.
    """
    workers = default_workers() if workers is None else int(workers)
    if progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    else:
        bar = None
    task = bar.add_task(description, total=len(inputs)) if bar else None
    if bar:
        bar.start()
    try:
        if workers <= 1 or len(inputs) < 2:
            results: Iterator[Output] = map(function, inputs)
            for result in results:
                if bar:
                    bar.advance(task)
                yield result
        else:
            chunk = max(1, min(64, len(inputs) // (workers * 8) or 1))
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(function, inputs, chunksize=chunk):
                    if bar:
                        bar.advance(task)
                    yield result
    finally:
        if bar:
            bar.stop()
