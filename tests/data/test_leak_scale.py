"""benchmarks/leak_scale.py: each planted long-clip pair is put in the stage that loses it."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_content_index import SR, fp, melody

from sonolab.data.content_index import SearchSettings
from sonolab.data.copy_kinds import make_copy

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from benchmark_modules import load_benchmark  # noqa: E402


def _leak_scale():
    return load_benchmark("leak_scale")


@pytest.fixture(scope="module")
def clips():
    """Four 5 s sources and a gain copy of the first (the last clip): planted pair (0, 4)."""
    sources = [melody(seed, duration_s=5.0) for seed in (11, 12, 13, 14)]
    copy = make_copy(sources[0], SR, ("gain",), np.random.default_rng(0))
    return [fp(f"clip{k}", audio) for k, audio in enumerate([*sources, copy.samples])]


def test_a_plain_copy_is_flagged_and_each_loss_has_its_stage(clips):
    leak_scale = _leak_scale()
    planted = {(0, 4): "copy"}
    search = SearchSettings()
    stage, votes, score = leak_scale.stages(clips, planted, search)[(0, 4)]
    assert stage == "found" and votes >= search.min_votes and score >= search.threshold
    # pruned after the shortlist: no clip keeps any candidate and no pair has enough votes
    pruned = replace(search, triplet_candidates_per_item=0, triplet_more_votes=10**9)
    assert leak_scale.stages(clips, planted, pruned)[(0, 4)][0] == "top-pairs"
    # no candidate per query clip: there only with a wider cap
    capped = replace(search, candidates_per_item=0, short_candidates_per_item=0)
    assert leak_scale.stages(clips, planted, capped)[(0, 4)][0] == "not-shortlisted/cap"
    # confirmed, but under a threshold no score reaches (and neither the alignment's consistency nor the score above
    # the backgrounds is asked)
    strict = replace(search, threshold=1.5, short_threshold=1.5, consistency_min_score=1.5, background_min_score=1.5)
    assert leak_scale.stages(clips, planted, strict)[(0, 4)][:1] == ("score",)
    # ... which the alignment's consistency flags: a gain copy holds its alignment along the whole clip
    assert leak_scale.stages(clips, planted, replace(strict, consistency_min_score=0.5))[(0, 4)][:1] == ("found",)
    # ... and so does its score above both clips' backgrounds, which a gain copy keeps
    assert leak_scale.stages(clips, planted, replace(strict, background_min_score=0.6))[(0, 4)][:1] == ("found",)
