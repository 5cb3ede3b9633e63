"""Short clips (spoken-word length): copies that keep the waveform are confirmed by waveform phase coherence,
and distinct takes of one generated 'word' by one 'speaker' are not flagged even where their spectrograms
match as closely as a copy's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.io import resample
from sonolab.data.content_index import SearchSettings, direct_path_db, find_copies, pitch_undone_direct_ratio, waveform_coherence
from sonolab.data.copy_kinds import Copy, make_copy, reverb
from sonolab.data.fingerprint import FingerprintSettings, fingerprint_samples
from sonolab.data.fingerprint_store import load_fingerprints

SETTINGS = FingerprintSettings()
SR = 16000


def word(take_seed: int, duration_s: float = 0.5, semitones: float = 0.0) -> np.ndarray:
    """One take of a voiced 'word' by one 'speaker': a falling F0 contour (fixed shape), harmonics under
    three fixed formants (falling 6 dB per octave), a noise onset. Each take varies as a speaker's does: overall pitch (+/-0.3
    semitones), length (+/-4 %), slow F0 wander (0.5 %) and new noise, so the harmonics' phases drift
    against another take's while the spectrogram stays very close. `semitones` raises the voice (the harmonics
    move, the formants stay: the same speaker at another pitch, not a pitch-shifted copy)."""
    rng = np.random.default_rng(take_seed)
    n = int(duration_s * rng.uniform(0.96, 1.04) * SR)
    t = np.arange(n) / SR
    wander = np.cumsum(rng.standard_normal(n)) / np.sqrt(n)
    wander = 0.005 * (wander - wander.mean()) / (wander.std() or 1.0)
    f0 = 120.0 * 2 ** ((semitones + rng.uniform(-0.3, 0.3)) / 12) * (1.1 - 0.2 * t / t[-1]) * (1 + wander)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    out = np.zeros(n)
    for h in range(1, 30):
        f = h * f0
        gain = sum(np.exp(-0.5 * ((f - c) / w) ** 2) for c, w in ((500, 120), (1500, 200), (2500, 300))) + 0.05
        out += gain / h * np.sin(h * phase) * (f < 3800)  # voiced speech falls ~6 dB per octave
    envelope = np.minimum(1, t / 0.03) * np.minimum(1, (t[-1] - t) / 0.08)
    noise = rng.standard_normal(n) * np.exp(-t / 0.03) * 0.5
    out = out * envelope + noise
    pad = np.zeros(int(0.05 * SR))
    clip = np.concatenate([pad, out, pad]) + 0.001 * rng.standard_normal(n + 2 * pad.size)
    return (0.5 * clip / np.max(np.abs(clip))).astype(np.float32)


def fp(name: str, samples: np.ndarray, sample_rate_hz: int = SR):
    mono = resample(np.asarray(samples, np.float32)[None, :], sample_rate_hz, SETTINGS.sample_rate_hz)[0]
    return fingerprint_samples(name, mono, SETTINGS)


@pytest.fixture(scope="module")
def takes():
    return {f"take{i}": word(i) for i in range(8)}


def test_waveform_coherence_finds_the_lag_of_a_noisy_inverted_copy_and_rejects_a_second_take(takes):
    first = takes["take0"]
    shifted = np.concatenate([np.zeros(int(0.02 * SR), np.float32), -0.3 * first])
    noisy = make_copy(shifted, SR, ("noise_10_20db",), np.random.default_rng(3)).samples
    a, b, other = fp("a", first).waveform, fp("b", noisy).waveform, fp("c", takes["take1"]).waveform
    search = SearchSettings()
    coherence, lag_s = waveform_coherence(a, b, 0.016, SETTINGS.waveform_rate_hz, search)  # the spectrogram's lag, 4 ms off
    assert coherence >= search.coherence_threshold
    assert lag_s == pytest.approx(0.02, abs=0.0015)
    assert waveform_coherence(b, a, -0.02, SETTINGS.waveform_rate_hz, search)[0] == pytest.approx(coherence, abs=0.02)
    assert waveform_coherence(a, other, 0.0, SETTINGS.waveform_rate_hz, search)[0] < 0.6


KINDS = [("shift_trim",), ("polarity",), ("gain",), ("noise_10_20db",), ("resample",), ("mp3",), ("bit_depth",),
         ("shift_trim", "noise_10_20db"), ("polarity", "mp3")]


@pytest.mark.parametrize("kinds", KINDS, ids=["+".join(k) for k in KINDS])
def test_copies_of_a_short_word_are_flagged_by_coherence_and_takes_are_not(kinds, takes):
    rng = np.random.default_rng(sum(map(ord, "+".join(kinds))))
    copy = make_copy(takes["take2"], SR, kinds, rng)
    samples = np.round(copy.samples * 127) / 127 if copy.subtype == "PCM_U8" else copy.samples
    prints = [fp(name, audio) for name, audio in takes.items()] + [fp("copy", samples, copy.sample_rate_hz)]
    matches = find_copies(prints, SETTINGS)
    assert [{m.first, m.second} for m in matches] == [{"take2", "copy"}]
    [match] = matches
    assert match.coherence >= SearchSettings().coherence_threshold
    assert "waveform coherence" in match.describe() and match.to_dict()["coherence"] == round(match.coherence, 4)
    sign = 1 if match.first == "take2" else -1
    assert sign * match.pitch_semitones == pytest.approx(0.0, abs=0.2)
    assert sign * match.lag_s == pytest.approx(-copy.lag_s, abs=0.02)


def test_takes_that_match_as_closely_as_copies_in_the_spectrogram_are_not_flagged(takes):
    """The hard negatives: these takes score above the (long-clip) spectrogram threshold, so the
    spectrogram alone would flag them; their waveforms are not coherent."""
    search = SearchSettings()
    prints = [fp(name, audio) for name, audio in takes.items()]
    everything = find_copies(prints, SETTINGS, search, all_scores=True)
    assert max(m.score for m in everything) >= search.threshold  # a hard negative, not an easy one
    assert all(m.coherence < search.coherence_threshold for m in everything)
    assert find_copies(prints, SETTINGS, search) == []


def test_undoing_the_pitch_finds_a_pitch_shifted_copy_at_its_pitch_and_not_a_take_at_another_pitch(takes):
    """A pitch-shifted copy, resampled back to its source's pitch, is a tempo-changed copy whose response has a direct
    path; the same speaker at another pitch (harmonics moved, formants not) is not, whatever pitch is undone."""
    search, rate_hz = SearchSettings(), SETTINGS.waveform_rate_hz
    source = fp("source", takes["take0"]).waveform
    for seed in (0, 1, 2):
        copy = make_copy(takes["take0"], SR, ("pitch",), np.random.default_rng(seed))
        shifted = fp("copy", copy.samples).waveform
        guess = copy.pitch_semitones + 0.15  # the spectrogram resolves a third of a semitone
        found_db, semitones = pitch_undone_direct_ratio(source, shifted, 0.0, guess, rate_hz, search)
        assert found_db >= search.direct_ratio_db + 2.0
        assert semitones == pytest.approx(copy.pitch_semitones, abs=0.02)
        assert pitch_undone_direct_ratio(source, shifted, 0.0, 0.0, rate_hz, search)[0] < search.direct_ratio_db  # needs the pitch undone
    for number, semitones in enumerate((1.0, 1.5, -1.0, -2.0)):
        other = fp("other", word(20 + number, semitones=semitones)).waveform
        found = max(pitch_undone_direct_ratio(source, other, lag_s, semitones + offset, rate_hz, search)[0]
                    for lag_s in (-0.04, 0.0, 0.04) for offset in (-0.3, 0.0, 0.3))
        assert found < search.direct_ratio_db - 3.0


def test_a_pitch_shifted_word_is_flagged_with_its_pitch_and_takes_at_other_pitches_are_not():
    search = SearchSettings()
    takes = {f"take{i}": word(i, 0.8) for i in range(6)}
    takes.update({"higher": word(20, 0.8, semitones=1.0), "lower": word(21, 0.8, semitones=-1.5)})
    copy = make_copy(takes["take0"], SR, ("pitch",), np.random.default_rng(1))
    prints = [fp(name, audio) for name, audio in takes.items()] + [fp("copy", copy.samples)]
    matches = find_copies(prints, SETTINGS, search)
    assert [{m.first, m.second} for m in matches] == [{"copy", "take0"}]
    [match] = matches
    assert match.coherence < search.coherence_threshold and match.direct_db >= search.direct_ratio_db
    sign = 1 if match.first == "take0" else -1
    assert sign * match.pitch_semitones == pytest.approx(copy.pitch_semitones, abs=0.02)  # finer than the spectrogram's
    everything = find_copies(prints, SETTINGS, search, all_scores=True)
    assert any({m.first, m.second} & {"higher", "lower"} and abs(m.pitch_semitones) >= 0.2 for m in everything)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_reverberant_copy_of_a_word_is_flagged_by_its_direct_path_and_takes_are_not(seed, takes):
    """0.6 s of reverberation leaves a word's waveform coherence and spectrogram score inside the takes' range; its
    response to the source is causal (a direct path, then a tail), a take's to another take is not."""
    search = SearchSettings()
    copy = reverb(Copy(takes["take3"].copy(), SR), np.random.default_rng(seed), rt60_s=0.6)
    prints = [fp(name, audio) for name, audio in takes.items()] + [fp("copy", copy.samples)]
    matches = find_copies(prints, SETTINGS, search)
    assert [{m.first, m.second} for m in matches] == [{"take3", "copy"}]
    [match] = matches
    assert match.coherence < search.coherence_threshold and match.score < search.short_clip_threshold  # the other tests miss it
    assert match.direct_db >= search.direct_ratio_db + 3.0 and "direct path +" in match.describe()
    assert "pitch undone" not in match.describe()
    waveforms = [fp(name, audio).waveform for name, audio in takes.items()]
    rate_hz = SETTINGS.waveform_rate_hz
    assert max(direct_path_db(waveforms[i], waveforms[j], 0.0, rate_hz, search)
               for i in range(len(waveforms)) for j in range(i + 1, len(waveforms))) < search.direct_ratio_db - 3.0


def test_the_fingerprint_cache_keeps_short_waveforms_only(tmp_path):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    sf.write(str(short), word(5), SR)
    sf.write(str(long), np.tile(word(6), 7), SR)  # 4.2 s: over waveform_max_s
    paths = {"short": short, "long": long}
    first, _, counts = load_fingerprints(paths, SETTINGS, tmp_path / "cache", workers=1)
    again, _, counts_again = load_fingerprints(paths, SETTINGS, tmp_path / "cache", workers=1)
    assert counts["computed"] == 2 and counts_again["reused"] == 2
    assert again["long"].waveform is None and first["long"].waveform is None
    assert again["short"].waveform.dtype == np.float16
    assert again["short"].waveform.size == pytest.approx(first["short"].duration_s * SETTINGS.waveform_rate_hz, abs=2)
    np.testing.assert_array_equal(again["short"].waveform, first["short"].waveform)


def test_short_clips_take_their_candidates_from_short_candidates_per_item(takes):
    """The peak-pair index of short clips keeps `short_candidates_per_item` candidates per clip (not
    `candidates_per_item`, the long clips' limit): with none (and no envelope neighbours, the second shortlist), even a
    plain copy of a word is never compared."""
    prints = [fp(name, audio) for name, audio in takes.items()] + [fp("copy", -0.5 * takes["take4"])]
    peaks_only = SearchSettings(short_envelope_neighbours=0)
    pairs = [{m.first, m.second} for m in find_copies(prints, SETTINGS, replace(peaks_only, candidates_per_item=0))]
    assert pairs == [{"take4", "copy"}]
    assert find_copies(prints, SETTINGS, replace(peaks_only, short_candidates_per_item=0)) == []
