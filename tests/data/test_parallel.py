"""Worker pool helper: order preserved, small sets stay in-process."""

from __future__ import annotations

import os

from sonolab.data.parallel import map_in_workers, workers_for


def _pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def test_small_sets_stay_in_this_process_and_large_ones_use_workers():
    assert workers_for(300, None, 400) == 1
    assert workers_for(3000, 2, 400) == 2
    assert workers_for(5, 8, 1) == 5
    assert workers_for(0, 2, 1) == 1


def test_results_keep_their_order_with_and_without_workers():
    inputs = list(range(23))
    serial = list(map_in_workers(_pid_and_square, inputs, workers=1))
    parallel = list(map_in_workers(_pid_and_square, inputs, workers=2, progress=True, weights=[2] * len(inputs)))
    assert [square for _, square in serial] == [square for _, square in parallel] == [v * v for v in inputs]
    assert {pid for pid, _ in serial} == {os.getpid()}
    assert os.getpid() not in {pid for pid, _ in parallel}
