"""Long clips: a pitch-shifted or time-stretched copy scoring under the threshold is still flagged when its
alignment holds along the clip (`alignment_consistency`); other clips of its class and second takes are not."""

from __future__ import annotations

import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
from test_content_index import SETTINGS, fp, melody

from sonolab.data.content_index import (Match, SearchSettings, find_copies, in_search_range, is_consistent, is_copy,
                                        is_long_copy, is_transformed, required_score)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_modules import load_benchmark  # noqa: E402

SR = 16000
SEARCH = SearchSettings()


def _flagged(match: Match) -> bool:
    """`find_copies`'s decision for a long pair (both clips 5 s)."""
    return is_long_copy(match, 5.0, SEARCH)


def _pair(matches: list[Match], first: str, second: str) -> tuple[Match, int]:
    """The match of two clips and its direction (+1: `first` is the match's first clip)."""
    for match in matches:
        if (match.first, match.second) == (first, second):
            return match, 1
        if (match.first, match.second) == (second, first):
            return match, -1
    raise AssertionError(f"{first} ~ {second} not confirmed")


@pytest.fixture(scope="module")
def generated():
    """The benchmark generator's 5 s clips (at 16 kHz) of two classes (8: noise bursts, 18: harmonic tones), each
    with a copy shifted down 2 semitones, a copy stretched at rate 1.12 (1/1.12 as long) and two other clips
    of its class; every confirmed pair's match (`all_scores`)."""
    leak_audit = load_benchmark("leak_audit")
    clips = {}
    for cls in (8, 18):
        source = leak_audit.generated_clip(cls, 500 + cls, sr=SR)
        clips[f"src{cls}"] = source
        clips[f"pitch{cls}"] = librosa.effects.pitch_shift(source, sr=SR, n_steps=-2.0)
        clips[f"stretch{cls}"] = librosa.effects.time_stretch(source, rate=1.12)
        for other in (900, 950):
            clips[f"other{cls}_{other}"] = leak_audit.generated_clip(cls, other + cls, sr=SR)
    prints = [fp(name, audio.astype(np.float32)) for name, audio in clips.items()]
    return find_copies(prints, SETTINGS, SEARCH, all_scores=True)


def test_a_stretched_copy_under_the_threshold_is_flagged_with_its_tempo(generated):
    match, direction = _pair(generated, "src8", "stretch8")
    assert match.score < required_score(match.overlap_s, SEARCH, 5.0, is_transformed(match))  # the threshold misses it
    assert is_consistent(match, SEARCH) and match.agreement >= SEARCH.consistency_agreement
    assert abs(match.pitch_semitones) < 0.2
    assert match.tempo_ratio ** direction == pytest.approx(1 / 1.12, rel=0.02)
    assert "segments agreeing" in match.describe() and match.to_dict()["local_gain"] <= SEARCH.consistency_max_gain


def test_a_pitch_shifted_copy_under_the_threshold_is_flagged_with_its_pitch(generated):
    match, direction = _pair(generated, "src18", "pitch18")
    assert match.score < required_score(match.overlap_s, SEARCH, 5.0, is_transformed(match))
    assert is_consistent(match, SEARCH)
    assert direction * match.pitch_semitones == pytest.approx(-2.0, abs=0.2)
    assert match.tempo_ratio == pytest.approx(1.0, abs=0.04)


def test_other_clips_of_the_class_are_not_flagged(generated):
    def source(name: str) -> str:
        return name.removeprefix("pitch").removeprefix("stretch").removeprefix("src")

    flagged = [m for m in generated if _flagged(m)]
    assert flagged, "the copies are flagged"
    for match in flagged:
        assert not match.first.startswith("other") and not match.second.startswith("other"), match
        assert source(match.first) == source(match.second), match


def test_a_second_take_of_a_melody_is_not_flagged():
    """Same notes and timbre, each note a little early or late (+/-30 ms) and sharp or flat: it scores near a
    copy (0.86) and holds together as a whole, but its segments fit better each at its own lag."""
    source, take = melody(7006, duration_s=5.0), melody(7006, take_seed=7056, duration_s=5.0)
    (match,) = find_copies([fp("source", source), fp("take", take)], SETTINGS, SEARCH, all_scores=True)
    assert match.score >= SEARCH.consistency_min_score  # measured ...
    assert match.local_gain > SEARCH.consistency_max_gain and not is_consistent(match, SEARCH)  # ... and not a copy
    assert not _flagged(match)


@pytest.mark.parametrize("pitch_semitones, tempo_ratio, inside", [(0.0, 1.0, True), (2.0, 1.175, True), (0.0, 0.846, True),
                                                                   (2.67, 1.0, False), (0.0, 1.205, False), (-0.33, 0.824, False)])
def test_a_long_match_settled_beyond_the_searched_pitch_and_tempo_is_no_copy(pitch_semitones, tempo_ratio, inside):
    """The confirmation refines a little beyond the searched ranges (a copy near an edge settles there); a long pair
    that settles outside them is not flagged, however well it scores, and the short sounds' decision is unchanged."""
    match = Match("a", "b", 0.99, 0.0, pitch_semitones, tempo_ratio, 5.0, 40)
    assert in_search_range(match, SEARCH) is inside
    assert _flagged(match) is inside
    assert is_copy(match, 1.0, SETTINGS, SEARCH)  # a short sound: its tempo is found less precisely
