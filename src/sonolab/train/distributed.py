"""The little the runner needs from torch.distributed: a barrier between the ranks of a DDP run.

Lightning's DDP launcher re-runs the whole command in each extra process; those processes walk the same
trials, folds and seeds. Rank 0 alone writes the run folder and builds caches; the others wait here.
"""

from __future__ import annotations


def barrier() -> None:
    """Wait for every rank, when a process group is up (a no-op otherwise, e.g. without DDP)."""
    import sys

    if "torch" not in sys.modules:  # torch was never imported: no process group can exist
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
