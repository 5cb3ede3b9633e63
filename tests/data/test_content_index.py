"""The content index finds every kind of copy (alone and in pairs) with the right lag, pitch and tempo,
and does not flag second takes of one sound or other clips of one class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sonolab.audio.io import resample
from sonolab.data.content_index import SearchSettings, find_copies
from sonolab.data.copy_kinds import make_copy
from sonolab.data.fingerprint import FingerprintSettings, fingerprint_samples

SETTINGS = FingerprintSettings()
SR = 16000


def melody(seed: int, take_seed: int | None = None, duration_s: float = 2.0) -> np.ndarray:
    """A sound source: a few harmonic notes with noise transients. `take_seed` makes another take of the
    same source: the same notes and timbre, but each note's timing, length and tuning varies as a
    player's would (independently per note), and the noise is new."""
    spec = np.random.default_rng(seed)
    notes = spec.uniform(150, 600, size=5)
    starts = np.sort(spec.uniform(0, duration_s - 0.4, size=5))
    lengths = spec.uniform(0.15, 0.4, size=5)
    harmonics = spec.uniform(0.2, 1.0, size=6)
    take = np.random.default_rng(take_seed if take_seed is not None else seed + 1000)
    jitter = take_seed is not None
    out = 0.003 * take.standard_normal(int(duration_s * SR))
    for f0, start, length in zip(notes, starts, lengths):
        if jitter:
            f0 *= 2 ** (take.uniform(-0.3, 0.3) / 12)
            start += take.uniform(-0.03, 0.03)
            length *= take.uniform(0.85, 1.15)
        n = int(length * SR)
        t = np.arange(n) / SR
        phase = 2 * np.pi * f0 * t + 0.3 * np.sin(2 * np.pi * take.uniform(4, 6) * t)
        note = sum(a / (h + 1) * np.sin((h + 1) * phase) for h, a in enumerate(harmonics))
        note = note * np.exp(-t / (length * 0.6)) * np.minimum(1, t / 0.01)
        burst = take.standard_normal(min(n, 400)) * np.exp(-np.arange(min(n, 400)) / 80) * 0.3
        note[: burst.size] += burst
        i = int(max(0.0, start) * SR)
        seg = out[i:i + n]
        seg += note[: seg.size]
    return (0.4 * out / np.max(np.abs(out))).astype(np.float32)


def fp(name: str, samples: np.ndarray, sample_rate_hz: int = SR):
    mono = resample(np.asarray(samples, np.float32)[None, :], sample_rate_hz, SETTINGS.sample_rate_hz)[0]
    return fingerprint_samples(name, mono, SETTINGS)


@pytest.fixture(scope="module")
def sources():
    return {f"src{i}": melody(i) for i in range(5)}


@pytest.fixture(scope="module")
def source_prints(sources):
    return [fp(name, audio) for name, audio in sources.items()]


KINDS = [("shift_trim",), ("polarity",), ("gain",), ("noise_10_20db",), ("reverb",), ("resample",), ("pitch",), ("stretch",),
         ("mp3",), ("bit_depth",), ("shift_trim", "pitch"), ("noise_10_20db", "stretch"), ("pitch", "reverb"), ("stretch", "mp3"),
         ("shift_trim", "noise_10_20db"), ("reverb", "mp3"), ("polarity", "resample")]
# Phase-vocoder pitch shift and time stretch smear the fine structure the confirmation compares: such copies
# are aligned correctly (pitch, tempo, lag) and outrank every other pair, but score under the default
# threshold, which is set above the hard negatives (second takes). A reverberant copy of these 2 s clips keeps
# too little waveform coherence and scores under the short-clip threshold (set above second takes of one
# spoken word, which match more closely than these melodies' takes); alone it is flagged by its direct path
# (`direct_path_db`), after MP3 coding at a wrong tempo it is not. Known gaps, kept visible here.
UNDER_THRESHOLD = {("pitch",), ("stretch",), ("shift_trim", "pitch"), ("noise_10_20db", "stretch"), ("pitch", "reverb"), ("stretch", "mp3")}
# (reverb + MP3 scores under the threshold too, and settles on a wrong tempo, but is flagged as its source's envelope
# neighbour by its room response: `sonolab.data.envelope_neighbours`)
# Known misalignments: the tempo search settles on a wrong tempo for these two (a reverberant or coded
# copy with few surviving peaks); kept visible as strict expected failures.
MISALIGNED = {("stretch", "mp3"), ("reverb", "mp3")}


def _copy_and_matches(kinds, sources, source_prints, all_scores):
    rng = np.random.default_rng(sum(map(ord, "+".join(kinds))))
    copy = make_copy(sources["src2"], SR, kinds, rng)
    samples = np.round(copy.samples * 127) / 127 if copy.subtype == "PCM_U8" else copy.samples
    search = SearchSettings(give_up_margin=1.0) if all_scores else SearchSettings()
    return copy, find_copies(source_prints + [fp("copy", samples, copy.sample_rate_hz)], SETTINGS, search, all_scores=all_scores)


@pytest.mark.parametrize("kinds", [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason="settles on a wrong tempo"))
                                   if k in MISALIGNED else k for k in KINDS], ids=["+".join(k) for k in KINDS])
def test_each_kind_of_copy_is_aligned_with_its_lag_pitch_and_tempo_and_outranks_other_pairs(kinds, sources, source_prints):
    copy, matches = _copy_and_matches(kinds, sources, source_prints, all_scores=True)
    matches = [m for m in matches if m.envelope < 0]  # the peak index's candidates (envelope neighbours: their own test)
    [match] = [m for m in matches if {m.first, m.second} == {"src2", "copy"}]
    assert match.score > max(m.score for m in matches if m is not match) + 0.15
    sign = 1 if match.first == "src2" else -1
    assert sign * match.pitch_semitones == pytest.approx(copy.pitch_semitones, abs=0.35)
    tempo = match.tempo_ratio if sign == 1 else 1 / match.tempo_ratio
    assert tempo == pytest.approx(copy.tempo_ratio, rel=0.02)
    if kinds == ("shift_trim",):  # the copy starts lag_s into the source
        assert sign * match.lag_s == pytest.approx(-copy.lag_s, abs=0.02)


@pytest.mark.parametrize("kinds", [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason="scores under the threshold (phase-vocoder smearing, or a wrong tempo)"))
                                   if k in UNDER_THRESHOLD else k for k in KINDS], ids=["+".join(k) for k in KINDS])
def test_copies_are_flagged_at_the_default_threshold(kinds, sources, source_prints):
    _, matches = _copy_and_matches(kinds, sources, source_prints, all_scores=False)
    assert [{m.first, m.second} for m in matches] == [{"src2", "copy"}]


def test_second_takes_and_other_sources_are_not_flagged(source_prints):
    takes = [fp(f"src{i}_take{t}", melody(i, take_seed=100 * i + t)) for i in range(5) for t in range(2)]
    matches = find_copies(source_prints + takes, SETTINGS)
    assert matches == []


def test_a_sub_segment_and_overlapping_slices_are_found(sources, source_prints):
    long = np.concatenate([sources["src0"], sources["src1"]])
    first_slice = long[: int(2.6 * SR)]  # overlaps the next slice by 1.2 s
    second_slice = long[int(1.4 * SR):]
    prints = [fp("first", first_slice), fp("second", second_slice), source_prints[3]]
    pairs = {frozenset((m.first, m.second)) for m in find_copies(prints, SETTINGS)}
    assert pairs == {frozenset(("first", "second"))}


def test_silent_and_tiny_clips_are_skipped_not_matched():
    prints = [fp("silent", np.zeros(SR)), fp("silent2", np.zeros(SR)), fp("click", np.r_[np.zeros(10), 1.0, np.zeros(10)])]
    assert find_copies(prints, SETTINGS) == []


def test_threshold_decides_and_all_scores_lists_the_shortlist(sources, source_prints):
    rng = np.random.default_rng(5)
    copy = make_copy(sources["src1"], SR, ("noise_10_20db",), rng)
    prints = source_prints + [fp("copy", copy.samples)]
    everything = find_copies(prints, SETTINGS, SearchSettings(), all_scores=True)
    copies = [m for m in everything if {m.first, m.second} == {"src1", "copy"}]
    assert copies and copies[0].score >= SearchSettings().threshold
    others = [m.score for m in everything if {m.first, m.second} != {"src1", "copy"}]
    assert all(score < SearchSettings().threshold for score in others)


def test_short_overlaps_need_a_higher_score_and_short_similar_sweeps_are_not_copies():
    from dataset_fixtures import clip

    from sonolab.data.content_index import required_score

    search = SearchSettings()
    assert required_score(1.0, search) == pytest.approx(search.threshold)
    assert required_score(0.2, search) == pytest.approx(search.short_threshold)
    assert required_score(0.3, search) == pytest.approx((search.threshold + search.short_threshold) / 2)
    sweeps = [fp(f"sweep{seed}", clip(seed, 8000, 0.25), 8000) for seed in range(1, 13)]
    quieter = fp("quieter", 0.5 * clip(1, 8000, 0.25), 8000)
    pairs = {frozenset((m.first, m.second)) for m in find_copies(sweeps + [quieter], SETTINGS)}
    assert pairs == {frozenset(("sweep1", "quieter"))}


@pytest.mark.parametrize("kinds", [("stretch",), ("shift_trim", "noise_10_20db")], ids=["stretch", "shift_trim+noise"])
def test_long_clips_are_searched_coarse_to_fine_and_aligned(kinds):
    """Clips longer than `pool_above_s` take the pooled search; the tempo of a stretched copy must still
    be found (the middle of the clip stays aligned while the ratio changes)."""
    assert 4.0 > SearchSettings().pool_above_s
    sources = {f"long{i}": melody(40 + i, duration_s=4.0) for i in range(3)}
    copy = make_copy(sources["long1"], SR, kinds, np.random.default_rng(11))
    prints = [fp(name, audio) for name, audio in sources.items()] + [fp("copy", copy.samples)]
    matches = find_copies(prints, SETTINGS, SearchSettings(give_up_margin=1.0), all_scores=True)
    [match] = [m for m in matches if {m.first, m.second} == {"long1", "copy"}]
    sign = 1 if match.first == "long1" else -1
    tempo = match.tempo_ratio if sign == 1 else 1 / match.tempo_ratio
    assert tempo == pytest.approx(copy.tempo_ratio, rel=0.02)
    # the middle of the first clip is the search's pivot: where it lands in the second must be right to
    # 20 ms (the lag at the first frame also carries the tempo's error times half the clip)
    first, second = (sources["long1"], copy.samples) if sign == 1 else (copy.samples, sources["long1"])
    middle_s = first.size / SR / 2
    truth_tempo = copy.tempo_ratio if sign == 1 else 1 / copy.tempo_ratio
    truth_lag_s = -copy.lag_s if sign == 1 else copy.lag_s / copy.tempo_ratio
    assert match.lag_s + match.tempo_ratio * middle_s == pytest.approx(truth_lag_s + truth_tempo * middle_s, abs=0.02)
    assert match.score > max(m.score for m in matches if m is not match) + 0.15


def test_a_pitch_or_tempo_match_covering_little_of_the_shorter_clip_needs_more_score():
    from sonolab.data.content_index import required_score

    search = SearchSettings()
    assert required_score(5.0, search, 5.0, transformed=True) == pytest.approx(search.threshold)
    assert required_score(2.0, search, 5.0, transformed=False) == pytest.approx(search.threshold)  # an overlapping slice
    assert required_score(1.0, search, 5.0, transformed=True) == pytest.approx(search.short_threshold)
    assert search.threshold < required_score(3.0, search, 5.0, transformed=True) < search.short_threshold
    # a pitch-shifted or stretched copy covers (nearly) all of the shorter clip; other pairs aligned that way
    # mostly cover 50-92 % of it: at 85 % a match already needs more than the threshold, at 90 % it does not
    assert required_score(4.25, search, 5.0, transformed=True) > search.threshold + 0.005
    assert required_score(4.5, search, 5.0, transformed=True) == pytest.approx(search.threshold)


def test_long_clips_are_shortlisted_by_peak_triplets_for_every_kind_of_copy():
    """5 s clips take the triplet index: every single kind of copy of a long clip is shortlisted with
    its source and aligned with the lag, pitch and tempo that were done; every kind but the phase
    vocoder's (pitch, stretch: under the threshold, see UNDER_THRESHOLD) is flagged, a second take of
    one source (long1) and the other sources are not, and a set of short clips takes the pair index alone."""
    from sonolab.data.content_index import _pair_shortlist, shortlist

    search = SearchSettings()
    assert 5.0 > search.triplets_above_s > 2.0
    sources = {f"long{i}": melody(60 + i, duration_s=5.0) for i in range(4)}
    prints = [fp(name, audio) for name, audio in sources.items()] + [fp("take", melody(61, take_seed=7, duration_s=5.0))]
    kinds = [("shift_trim",), ("polarity",), ("gain",), ("noise_10_20db",), ("reverb",), ("resample",), ("pitch",), ("stretch",),
             ("mp3",), ("bit_depth",)]
    copies = {}
    for number, kind in enumerate(kinds):
        copy = make_copy(sources["long2"], SR, kind, np.random.default_rng(100 + number))
        samples = np.round(copy.samples * 127) / 127 if copy.subtype == "PCM_U8" else copy.samples
        copies[f"copy_{kind[0]}"] = copy
        prints.append(fp(f"copy_{kind[0]}", samples, copy.sample_rate_hz))
    names = [p.item_id for p in prints]
    found = {frozenset((names[c.first], names[c.second])): c for c in shortlist(prints, SETTINGS, search)}
    assert [name for name in copies if frozenset(("long2", name)) not in found] == []
    every_score = find_copies(prints, SETTINGS, SearchSettings(give_up_margin=1.0), all_scores=True)
    aligned = {frozenset((m.first, m.second)): m for m in every_score}
    for name, copy in copies.items():
        match = aligned[frozenset(("long2", name))]
        sign = 1 if match.first == "long2" else -1
        tempo = match.tempo_ratio if sign == 1 else 1 / match.tempo_ratio
        assert sign * match.pitch_semitones == pytest.approx(copy.pitch_semitones, abs=0.35), name
        assert tempo == pytest.approx(copy.tempo_ratio, rel=0.02), name
        assert sign * match.lag_s == pytest.approx(-copy.lag_s, abs=0.02), name
    default = find_copies(prints, SETTINGS, search)
    # every candidate of the triplet index (not only each clip's first, `_top_pairs`): enough for the forked workers
    full = SearchSettings(triplet_candidates_per_item=search.candidates_per_item)
    assert len(shortlist(prints, SETTINGS, full)) >= 64
    assert find_copies(prints, SETTINGS, full, workers=2) == find_copies(prints, SETTINGS, full)  # two processes: the same matches
    # the triplet lookups in batches of about one clip, spread over two processes: the same candidates, in the same order
    batched = replace(full, batch_matches=12 * 100)
    assert shortlist(prints, SETTINGS, batched, workers=2) == shortlist(prints, SETTINGS, batched) == shortlist(prints, SETTINGS, full)
    assert {(c.first, c.second) for c in shortlist(prints, SETTINGS, search)} < {(c.first, c.second) for c in shortlist(prints, SETTINGS, full)}
    flagged = {frozenset((m.first, m.second)) for m in default}
    assert frozenset(("long1", "take")) not in flagged
    assert all(len({n.split("_")[0] for n in pair}) == 1 or "long2" in pair for pair in flagged)
    for kind in ("shift_trim", "polarity", "gain", "noise_10_20db", "reverb", "resample", "mp3", "bit_depth"):
        assert frozenset(("long2", f"copy_{kind}")) in flagged, kind
    short = [fp(name, audio) for name, audio in {"a": melody(1), "b": melody(2), "c": melody(1, take_seed=3)}.items()]
    assert shortlist(short, SETTINGS, search) == _pair_shortlist(short, SETTINGS, search, None)
