"""The batched confirmation of long clips (`correlations`, `_stretched_rows`, a step of `_align` scored at
once, `_reverb_retry_by_bin`) gives the scores and alignments of the previous one-point-at-a-time path."""

from __future__ import annotations

import numpy as np
import pytest
from test_content_index import SETTINGS, SR, fp, melody

import sonolab.data.content_index as ci
from sonolab.data.content_index import SearchSettings, find_copies
from sonolab.data.copy_kinds import make_copy

SEARCH = SearchSettings()


@pytest.fixture(scope="module")
def pair():
    """A 5 s source and a stretched, noisy copy of it (pooled spectrograms, as the coarse search sees them)."""
    source = melody(70, duration_s=5.0)
    copy = make_copy(source, SR, ("stretch", "noise_10_20db"), np.random.default_rng(3))
    a_db, b_db = (ci.fingerprint_decibels(fp(name, audio)) for name, audio in (("a", source), ("b", copy.samples)))
    return ci._pool_time(a_db, SEARCH.pool), ci._pool_time(b_db, SEARCH.pool)


def _prepared_from_rows(rows: np.ndarray) -> ci.Prepared:
    loud, level, squared = (np.ascontiguousarray(rows[:, k].T) for k in (1, 2, 3))
    return ci.Prepared(level, loud, level, squared)


def test_stretched_rows_are_the_prepared_rows_of_the_stretched_spectrogram(pair):
    a_db, _ = pair
    for ratio, shift in ((1.0, 0.0), (0.87, 0.25), (1.13, 0.5)):
        expected = ci.prepare(ci._stretch(a_db, ratio, shift), SEARCH).rows
        assert np.array_equal(ci._stretched_rows(np.ascontiguousarray(a_db.T), ratio, shift, SEARCH), expected)


@pytest.mark.parametrize("pitch", [-4, 0, 3])
def test_a_batch_of_lags_scores_as_one_correlation_per_lag(pair, pitch):
    """Every lag from no overlap through full overlap to no overlap, wider than the padding (split in parts)."""
    a_db, b_db = pair
    rows = ci._stretched_rows(np.ascontiguousarray(a_db.T), 1.04, 0.3, SEARCH)
    a, b = ci.prepare(ci._stretch(a_db, 1.04, 0.3), SEARCH), ci.prepare(b_db, SEARCH)
    lags = np.arange(-a_db.shape[0] - 3, b_db.shape[0] + 3)
    assert np.ptp(lags) > ci._LAG_PAD
    scores, overlaps = ci.correlations(rows, b, lags, pitch, 30, SEARCH.min_coverage)
    expected = [ci.correlation(a, b, int(lag), pitch, 30, SEARCH.min_coverage) for lag in lags]
    assert [int(o) for o in overlaps] == [o for _, o in expected]
    assert np.abs(scores - np.array([s for s, _ in expected])).max() < 1e-4
    assert scores.max() > 0.5 and (scores == -1.0).sum() > 10  # a copy's peak and lags without enough overlap were both scored


def test_the_wet_retry_by_bin_scores_as_the_retry(pair):
    a_db, b_db = pair
    a_full = ci._stretch(a_db, 1.02, 0.0)
    expected = ci._reverb_retry(ci.prepare(a_full, SEARCH), ci.prepare(b_db, SEARCH), 2, 1, -1.0, 30, SETTINGS, SEARCH)
    found = ci._reverb_retry_by_bin(np.ascontiguousarray(a_full.T), ci.prepare(b_db, SEARCH), 2, 1, -1.0, 30, SETTINGS, SEARCH)
    assert found == pytest.approx(expected, abs=1e-4) and expected > 0.3


def _one_point_at_a_time(monkeypatch):
    """The previous path: each point of a step scored by its own `correlation` call, in order."""
    batched_align = ci._align

    def correlations(a_rows, b, lags, pitch, min_frames, min_coverage):
        a = _prepared_from_rows(a_rows)
        found = [ci.correlation(a, b, int(lag), pitch, min_frames, min_coverage) for lag in lags]
        return np.array([s for s, _ in found]), np.array([o for _, o in found])

    def align(score_many, start, steps, give_up, limits):
        return batched_align(lambda points: [score_many([p])[0] for p in points], start, steps, give_up, limits)

    monkeypatch.setattr(ci, "correlations", correlations)
    monkeypatch.setattr(ci, "_align", align)


def test_the_batched_search_finds_the_alignments_and_scores_of_the_one_point_search(monkeypatch):
    sources = {f"long{i}": melody(80 + i, duration_s=5.0) for i in range(3)}
    rng = np.random.default_rng(4)
    copies = {f"copy_{'+'.join(k)}": make_copy(sources["long1"], SR, k, rng).samples
              for k in (("shift_trim",), ("stretch",), ("pitch",), ("reverb",), ("noise_10_20db", "stretch"))}
    prints = [fp(name, audio) for name, audio in {**sources, **copies}.items()]
    search = SearchSettings(give_up_margin=1.0, early_give_up_score=-1.0)  # every step of every candidate
    fast = find_copies(prints, SETTINGS, search, all_scores=True)
    with monkeypatch.context() as patch:
        _one_point_at_a_time(patch)
        slow = find_copies(prints, SETTINGS, search, all_scores=True)
    assert [(m.first, m.second) for m in fast] == [(m.first, m.second) for m in slow]
    assert sum(m.score > 0.8 for m in fast) >= 4  # copies among them, refined at full resolution
    for quick, reference in zip(fast, slow):
        assert (quick.lag_s, quick.pitch_semitones, quick.tempo_ratio, quick.overlap_s) == \
            (reference.lag_s, reference.pitch_semitones, reference.tempo_ratio, reference.overlap_s)
        assert quick.score == pytest.approx(reference.score, abs=1e-4)


def test_long_pairs_stay_candidates_among_either_clips_first_or_with_many_votes():
    search = SearchSettings(triplet_candidates_per_item=1, triplet_more_votes=20)
    votes = {(0, 1): 10, (2, 3): 9, (0, 2): 8, (1, 3): 7, (0, 3): 6, (1, 2): 25}  # every pair of four clips
    candidates = [ci.Candidate(first, second, 1.0, 0.0, 0.0, count) for (first, second), count in votes.items()]
    kept = ci._top_pairs(candidates, search)
    # (1, 2): 25 votes; (0, 1): clip 0's first; (2, 3): clip 3's first; the others are no clip's first
    assert {(c.first, c.second) for c in kept} == {(1, 2), (0, 1), (2, 3)}
    assert all(any(c is k for c in candidates) for k in kept)  # unchanged candidates
    assert len(ci._top_pairs(candidates, SearchSettings(triplet_candidates_per_item=8))) == len(candidates)


def test_a_candidate_keeps_where_its_tempo_1_votes_put_it():
    """Peaks matched at another grid ratio outvote a copy's tempo-1 peaks (periodic or steady sounds): the candidate
    takes the winning cell's fit, and keeps the tempo-1 cell's offset as the confirmation's third start."""
    ratios = ci.duration_ratios(SEARCH)
    unit = int(np.argmin(np.abs(np.log(ratios))))
    rng = np.random.default_rng(0)
    q_wide = np.sort(rng.integers(0, 600, size=30))
    q_unit = np.sort(rng.integers(0, 600, size=10))
    r_wide = np.round(q_wide * ratios[unit + 2]).astype(np.int64) + 100  # 30 peaks at a wrong ratio ...
    r_unit = q_unit - 59 + rng.integers(-2, 3, size=10)  # ... and 10 at tempo 1, 59 frames earlier
    q_t, r_t = np.r_[q_wide, q_unit], np.r_[r_wide, r_unit]
    ratio_index = np.r_[np.full(30, unit + 2), np.full(10, unit)]
    zeros = np.zeros(40, dtype=np.int64)
    found = ci._vote(zeros, zeros + 1, ratio_index, q_t, r_t, zeros, ratios, 2, SEARCH, unit_starts=True)
    assert len(found) == 1 and found[0].votes == 30
    assert found[0].ratio == pytest.approx(ratios[unit + 2], rel=0.01)
    assert found[0].unit_offset_frames == pytest.approx(np.mean(r_unit - q_unit))
    # without tempo-1 votes (fewer than `min_votes`) there is no third start
    alone = ci._vote(zeros[:31], zeros[:31] + 1, ratio_index[:31], q_t[:31], r_t[:31], zeros[:31], ratios, 2, SEARCH, unit_starts=True)
    assert alone[0].unit_offset_frames is None
    # the peak-pair index (short clips, whose confirmation has its own tempo-1 start) does not measure it
    assert ci._vote(zeros, zeros + 1, ratio_index, q_t, r_t, zeros, ratios, 2, SEARCH)[0].unit_offset_frames is None
