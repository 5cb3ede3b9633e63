"""Long clips' second shortlist: band-envelope neighbours at tempo 1 (`sonolab.data.envelope_neighbours`), judged on the
room response between the two files. A reverberant copy's source is its first neighbour; with the peak index switched
off, the copy is still flagged through its files, while other clips of its class (neighbours too) are not, however
their spectrograms score."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_content_index import SETTINGS, fp

from sonolab.data.content_index import Match, SearchSettings, find_copies, is_long_copy
from sonolab.data.copy_kinds import Copy, reverb
from sonolab.data.envelope_neighbours import band_envelopes, envelope_neighbours

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_modules import load_benchmark  # noqa: E402

SR = 16000
SEARCH = SearchSettings()
CLASSES = (13, 15, 17)  # the benchmark generator's noise bursts, clicks, rain (noise-like: a tone's response is periodic)


def reverberant(samples: np.ndarray, seed: int) -> np.ndarray:
    return reverb(Copy(samples.copy(), SR), np.random.default_rng(seed), rt60_s=0.6).samples


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """Per class: a source, its reverberant copy (0.6 s) and two other clips of the class (5 s at 16 kHz)."""
    leak_audit = load_benchmark("leak_audit")
    out = {}
    for cls in CLASSES:
        out[f"src{cls}"] = leak_audit.generated_clip(cls, 701 + cls, sr=SR)
        out[f"rev{cls}"] = reverberant(out[f"src{cls}"], seed=cls)
        for other in (900, 950):
            out[f"other{cls}_{other}"] = leak_audit.generated_clip(cls, other + cls, sr=SR)
    return out


@pytest.fixture(scope="module")
def paths(clips, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("envelope")
    out = {}
    for name, audio in clips.items():
        out[name] = folder / f"{name}.wav"
        sf.write(str(out[name]), audio, SR, subtype="FLOAT")
    return out


@pytest.fixture(scope="module")
def prints(clips):
    return [fp(name, audio) for name, audio in clips.items()]


def test_band_envelopes_are_pooled_and_centred(prints):
    envelope = band_envelopes(prints[0], 12, 12)
    assert envelope.shape == (prints[0].frames // 12, 12)
    assert np.allclose(envelope.mean(axis=0), 0.0, atol=1e-3)


def test_a_reverberant_copy_is_its_sources_first_neighbour_at_its_lag(prints):
    names = [p.item_id for p in prints]
    shifted = prints[names.index("rev13")]
    delay = 25  # pooled frames: the copy starts this much later in a longer file
    shifted = replace(shifted, spectrogram=np.concatenate([np.zeros((delay * 12, shifted.spectrogram.shape[1]), np.uint8),
                                                           shifted.spectrogram]))
    everything = [shifted if p.item_id == "rev13" else p for p in prints]
    found = envelope_neighbours(everything, np.ones(len(prints), bool), np.arange(len(prints)), 1, 12, 12, max_lag_frames=30)
    source, copy = names.index("src13"), names.index("rev13")
    assert all(i < j for i, j, _, _ in found)
    pair = [f for f in found if {f[0], f[1]} == {source, copy}]
    assert pair, "the copy's source is not its first neighbour"
    i, j, lag, _ = pair[0]
    assert (lag if i == source else -lag) == delay  # the second holds the first `lag` pooled frames later


def test_clips_of_one_block_are_never_neighbours(prints):
    names = [p.item_id for p in prints]
    blocks = np.arange(len(prints))
    blocks[names.index("rev13")] = blocks[names.index("src13")]
    found = envelope_neighbours(prints, np.ones(len(prints), bool), blocks, 3, 12, 12, 20)
    assert not any({i, j} == {names.index("src13"), names.index("rev13")} for i, j, _, _ in found)
    assert all(blocks[i] != blocks[j] for i, j, _, _ in found)


@pytest.fixture(scope="module")
def envelope_only(prints, paths) -> list[Match]:
    """The peak index switched off (no pair reaches `min_votes`): every match comes from the envelope route."""
    search = replace(SEARCH, min_votes=10**6, triplet_more_votes=10**6)
    return find_copies(prints, SETTINGS, search, all_scores=True, paths=paths)


@pytest.mark.parametrize("cls", CLASSES)
def test_a_reverberant_copy_is_flagged_through_its_room_response(envelope_only, cls):
    found = [m for m in envelope_only if {m.first, m.second} == {f"src{cls}", f"rev{cls}"}]
    assert found, "the reverberant copy was not an envelope neighbour of its source"
    match = found[0]
    assert match.envelope >= 0 and match.votes == 0
    assert abs(match.tempo_ratio - 1.0) < 1e-9 and match.pitch_semitones == 0.0
    assert abs(match.lag_s) < 0.02
    assert match.direct_db >= SEARCH.long_direct_ratio_db
    assert is_long_copy(match, 5.0, SEARCH)
    assert "envelope neighbour" in match.describe()


def test_other_clips_of_a_class_are_measured_and_not_flagged(envelope_only):
    negatives = [m for m in envelope_only
                 if not any({m.first, m.second} == {f"src{c}", f"rev{c}"} for c in CLASSES)]
    assert negatives  # the route did compare other clips ...
    assert not [m for m in negatives if is_long_copy(m, 5.0, SEARCH)]  # ... and flagged none
    assert max(m.direct_db for m in negatives) < SEARCH.long_direct_ratio_db - 3.0


def test_a_neighbour_is_judged_on_its_room_response_only():
    high_score = Match("a", "b", 0.99, 0.0, 0.0, 1.0, 5.0, 0, direct_db=2.0, envelope=0.9)
    assert not is_long_copy(high_score, 5.0, SEARCH)  # its spectrogram score alone never flags it
    assert is_long_copy(replace(high_score, score=0.3, direct_db=SEARCH.long_direct_ratio_db + 0.1), 5.0, SEARCH)
    from_peaks = replace(high_score, envelope=-1.0)
    assert is_long_copy(from_peaks, 5.0, SEARCH)  # a peak-index match keeps the score's rule


def test_without_the_files_no_long_pair_is_measured(prints):
    search = replace(SEARCH, min_votes=10**6, triplet_more_votes=10**6)
    assert find_copies(prints, SETTINGS, search, all_scores=True) == []


def test_short_clips_reverberant_copy_is_flagged_through_its_waveforms_and_takes_are_not():
    """Short clips (spoken-word length) take the same route from their fingerprints' waveforms (no files needed): a
    reverberant copy of one take among eight takes of one generated word, the peak index switched off."""
    from test_content_index_short import fp as short_fp
    from test_content_index_short import word

    takes = {f"take{i}": word(i) for i in range(8)}
    takes["rev"] = reverberant(takes["take2"], seed=5)
    prints = [short_fp(name, audio) for name, audio in takes.items()]
    assert all(p.waveform is not None for p in prints)
    search = replace(SEARCH, min_votes=10**6, triplet_more_votes=10**6)
    matches = find_copies(prints, SETTINGS, search, all_scores=True)
    assert matches and all(m.envelope >= 0 for m in matches)
    copy = [m for m in matches if {m.first, m.second} == {"take2", "rev"}]
    assert copy and copy[0].direct_db >= SEARCH.direct_ratio_db
    flagged = find_copies(prints, SETTINGS, search)
    assert {frozenset((m.first, m.second)) for m in flagged} == {frozenset(("take2", "rev"))}
    takes_only = [m for m in matches if "rev" not in (m.first, m.second)]
    assert takes_only and max(m.direct_db for m in takes_only) < SEARCH.direct_ratio_db - 2.0
