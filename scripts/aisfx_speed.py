"""Throughput of the aisfx embedding on CPU: 5 s clips per second, one by one and batched.

Run on one core (the BLAS and OpenMP pools too, or an oversubscribed machine measures thread contention):

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 0 \
        env PYTHONPATH=src python scripts/aisfx_speed.py --clips 24
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sonolab.audio.aisfx_input import aisfx_input
from sonolab.models.aisfx import embed_blocks, embed_clips, load_aisfx_network


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--sample-rate-hz", type=int, default=44100)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    rate = arguments.sample_rate_hz
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(5 * rate)).astype(np.float32) for _ in range(arguments.clips)]
    load_aisfx_network()
    embed_blocks(clips[0], rate)  # warm-up
    rows = []
    start = time.perf_counter()
    for clip in clips:
        aisfx_input(clip, rate)
    rows.append(("input only (resample, mel, log)", time.perf_counter() - start))
    start = time.perf_counter()
    for clip in clips:
        embed_blocks(clip, rate)
    rows.append(("embed_blocks, hop 50 (3 blocks per clip)", time.perf_counter() - start))
    start = time.perf_counter()
    embed_clips(clips, rate)
    rows.append(("embed_clips, hop 50, batch 32", time.perf_counter() - start))
    start = time.perf_counter()
    embed_clips(clips, rate, hop_frames=100)
    rows.append(("embed_clips, hop 100 (2 blocks per clip)", time.perf_counter() - start))
    print(f"{arguments.clips} clips of 5 s at {rate} Hz, torch threads {arguments.threads}")
    for name, seconds in rows:
        print(f"  {name:45s} {arguments.clips / seconds:6.2f} clips/s ({seconds / arguments.clips * 1000:.0f} ms per clip)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
