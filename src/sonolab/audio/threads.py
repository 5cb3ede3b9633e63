"""Threads for the DSP of `eq apply`: scipy's `sosfilt` and sonolab's compiled (numba `nogil`) kernels
release the GIL, so channels and signal chunks run on several cores in one process.

A thread pool rather than processes: the work per call is tens of milliseconds on arrays of tens of MB,
which processes would spend copying. `SONOLAB_DSP_THREADS` caps the threads (1 turns it off); `eq apply`
on a folder runs one process per file and sets it to 1 in each, so cores are not oversubscribed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

import numpy as np
from scipy import signal

THREADS_VARIABLE = "SONOLAB_DSP_THREADS"
MAX_THREADS = 8
MIN_SAMPLES_PER_THREAD = 1 << 16
"""Below this many samples per thread the pool's overhead (~50 us a task) is not worth it."""

Item = TypeVar("Item")
Result = TypeVar("Result")


def dsp_threads() -> int:
    """Threads the DSP may use: `SONOLAB_DSP_THREADS` if set, else the cores this process may run on."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if value:
        try:
            return max(1, min(MAX_THREADS, int(value)))
        except ValueError as error:
            raise ValueError(f"{THREADS_VARIABLE}={value!r} is not a whole number of threads; set it to e.g. 1 or 2") from error
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores))


@lru_cache(maxsize=None)
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sonolab-dsp")


def threads_for(samples: int) -> int:
    """How many threads a job over `samples` samples should use (1: run it in the caller)."""
    return max(1, min(dsp_threads(), samples // MIN_SAMPLES_PER_THREAD))


def map_in_threads(function: Callable[[Item], Result], items: Iterable[Item], threads: int) -> list[Result]:
    """`[function(item) for item in items]`, on `threads` threads when that is more than 1 (same order)."""
    items = list(items)
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    return list(_pool(threads).map(function, items))


def chunk_bounds(total: int, parts: int, multiple: int = 1) -> Sequence[tuple[int, int]]:
    """`parts` consecutive (start, stop) ranges covering [0, total); every start is a multiple of `multiple`."""
    parts = max(1, parts)
    step = -(-total // parts)
    step = -(-step // multiple) * multiple
    return [(start, min(total, start + step)) for start in range(0, total, step)] if total > 0 else []


def map_in_chunks(function: Callable[[tuple[int, int]], Result], length: int, samples: int, multiple: int = 1) -> list[Result]:
    """`function((start, stop))` over consecutive chunks of [0, `length`) (starts on multiples of `multiple`), one
    chunk per thread that a job of `samples` samples warrants (`threads_for`); the results in order."""
    threads = threads_for(samples)
    return map_in_threads(function, chunk_bounds(length, threads, multiple), threads)


def filter_channels(sections: np.ndarray, audio: np.ndarray, state: np.ndarray | None = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """`scipy.signal.sosfilt(sections, audio, axis=-1[, zi=state])`, one thread per channel of a long
    `(channels, samples)` signal (sosfilt releases the GIL; each channel is filtered exactly as in one call)."""
    threads = threads_for(audio.size) if audio.ndim == 2 else 1
    if threads <= 1 or audio.shape[0] < 2:
        return signal.sosfilt(sections, audio, axis=-1) if state is None else signal.sosfilt(sections, audio, axis=-1, zi=state)
    output = np.empty(audio.shape, dtype=np.result_type(sections, audio))
    final = None if state is None else np.empty_like(state)

    def run(channel: int) -> None:
        if final is None:
            output[channel] = signal.sosfilt(sections, audio[channel])
        else:
            output[channel], final[:, channel, :] = signal.sosfilt(sections, audio[channel], zi=state[:, channel, :])

    map_in_threads(run, range(audio.shape[0]), threads)
    return output if final is None else (output, final)


def copy_in_threads(destination: np.ndarray, source: np.ndarray) -> None:
    """`destination[...] = source` for `(channels, samples)` arrays, in chunks of samples on several threads
    (numpy releases the GIL while it copies; a fresh destination's page faults are shared out too)."""

    def run(bounds: tuple[int, int]) -> None:
        destination[:, bounds[0] : bounds[1]] = source[:, bounds[0] : bounds[1]]

    map_in_chunks(run, source.shape[-1], source.size)
