"""Short sounds padded with digital silence to long files (as ESC-50 pads its shorter recordings) are fingerprinted
as the short sounds they are: second takes stay apart, copies are found, and lags are counted in the files' time."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sonolab.data.content_index import SearchSettings, find_copies
from sonolab.data.fingerprint import FingerprintSettings, fingerprint_samples, trim_silence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_content_index import SR, fp, melody  # noqa: E402

SETTINGS = FingerprintSettings()


def padded(sound: np.ndarray, start_s: float, duration_s: float = 5.0) -> np.ndarray:
    clip = np.zeros(int(duration_s * SR), dtype=np.float32)
    start = int(start_s * SR)
    clip[start:start + sound.size] = sound
    return clip


def test_digital_silence_is_cut_and_a_noise_floor_is_not() -> None:
    rng = np.random.default_rng(0)
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(0.5 * SR)) / SR)).astype(np.float32)
    kept, start = trim_silence(padded(tone, 1.2), SETTINGS)
    assert abs(start / SR - 1.2) <= 0.02 and abs(kept.size / SR - 0.5) <= 0.04
    print_ = fingerprint_samples("tone", padded(tone, 1.2), SETTINGS)
    assert abs(print_.start_s - 1.2) <= 0.02 and abs(print_.duration_s - 0.5) <= 0.04
    assert print_.waveform is not None  # a short sound keeps its waveform for the short-clip tests

    floor = padded(tone, 1.2) + (10 ** (-50 / 20) * rng.standard_normal(5 * SR)).astype(np.float32)  # -50 dB: a recording's noise
    kept, start = trim_silence(floor, SETTINGS)
    assert start == 0 and kept.size == floor.size
    assert fingerprint_samples("floor", floor, SETTINGS).start_s == 0.0


def test_padded_takes_are_not_copies_and_padded_copies_are_found_at_their_file_lag() -> None:
    rng = np.random.default_rng(1)
    takes = {f"take{seed}_{take}": melody(seed, take_seed=10 * seed + take, duration_s=1.0) for seed in range(3) for take in range(3)}
    prints = [fp(name, padded(sound, start_s=0.4 * (number % 4))) for number, (name, sound) in enumerate(takes.items())]
    assert find_copies(prints, SETTINGS, SearchSettings()) == []

    source = padded(takes["take1_0"], start_s=1.2)  # as in `prints` (the fourth take)
    noisy = source + (0.01 * rng.standard_normal(source.size)).astype(np.float32)  # noise fills the padding
    moved = 0.5 * padded(takes["take1_0"], start_s=2.1)  # re-padded elsewhere, quieter
    prints += [fp("noisy", noisy), fp("moved", moved)]
    found = {frozenset((m.first, m.second)): m for m in find_copies(prints, SETTINGS, SearchSettings())}
    pairs = {frozenset(("take1_0", "noisy")), frozenset(("take1_0", "moved")), frozenset(("noisy", "moved"))}
    assert set(found) == pairs
    for pair, lag_s in ((("take1_0", "noisy"), 0.0), (("take1_0", "moved"), 0.9), (("noisy", "moved"), 0.9)):
        match = found[frozenset(pair)]
        sign = 1 if match.first == pair[0] else -1
        assert abs(sign * match.lag_s - lag_s) <= 0.02, (pair, match.describe())


def test_where_the_sound_starts_is_kept_in_the_fingerprint_cache(tmp_path: Path) -> None:
    import soundfile as sf

    from sonolab.data.fingerprint_store import load_fingerprints

    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(int(0.5 * SR)) / SR)).astype(np.float32)
    sf.write(str(tmp_path / "padded.wav"), padded(tone, 2.0), SR, subtype="PCM_16")
    paths = {"padded": tmp_path / "padded.wav"}
    first, _, counts = load_fingerprints(paths, SETTINGS, tmp_path / "cache", workers=1)
    again, _, counts_again = load_fingerprints(paths, SETTINGS, tmp_path / "cache", workers=1)
    assert counts["computed"] == 1 and counts_again["reused"] == 1
    assert abs(first["padded"].start_s - 2.0) <= 0.02 and again["padded"].start_s == first["padded"].start_s
    assert again["padded"].duration_s == first["padded"].duration_s


def test_a_short_sound_against_a_long_file_takes_the_short_sounds_thresholds() -> None:
    from sonolab.data.content_index import Match, is_copy

    search = SearchSettings()
    between = (search.threshold + search.short_clip_threshold) / 2  # enough for two long clips, not for a short sound
    match = Match("short", "long", between, 0.0, 0.0, 1.0, 1.0, 20)  # no waveform measure: one clip is long
    assert not is_copy(match, shorter_s=1.0, settings=SETTINGS, search=search)
    assert is_copy(match, shorter_s=3.0, settings=SETTINGS, search=search)
    assert is_copy(Match("short", "long", search.short_clip_threshold + 0.01, 0.0, 0.0, 1.0, 1.0, 20), 1.0, SETTINGS, search)


def test_a_noisy_copy_of_a_padded_sound_is_compared_with_the_file_as_waveforms(tmp_path: Path) -> None:
    """Noise fills the padding, so the copy stays a long file without a waveform in its fingerprint: with the files'
    paths the short sound is compared with the matching stretch of the file (`_segment_coherence`)."""
    import soundfile as sf

    rng = np.random.default_rng(2)

    def noisy(clip: np.ndarray) -> np.ndarray:  # white noise at 10 dB SNR over the whole clip
        noise = rng.standard_normal(clip.size).astype(np.float32)
        return clip + noise * np.float32(np.sqrt(np.mean(clip**2) / np.mean(noise**2)) * 10 ** (-10 / 20))

    clips = {"source": padded(melody(5, take_seed=50, duration_s=1.0), start_s=1.2),
             "take": padded(melody(5, take_seed=51, duration_s=1.0), start_s=2.0)}
    clips["noisy_copy"], clips["noisy_take"] = noisy(clips["source"]), noisy(clips["take"])
    paths = {}
    for name, clip in clips.items():
        paths[name] = tmp_path / f"{name}.wav"
        sf.write(str(paths[name]), clip, SR, subtype="FLOAT")
    prints = [fp(name, clip) for name, clip in clips.items()]
    assert prints[0].waveform is not None and prints[2].waveform is None  # a short sound and a long noisy file

    # the spectrogram score alone decides nothing here (a threshold no pair reaches): only the waveforms can
    search = SearchSettings(short_clip_threshold=0.9999, short_pitch_threshold=0.9999)

    def scored(**kwargs) -> dict:
        return {frozenset((m.first, m.second)): m for m in find_copies(prints, SETTINGS, search, all_scores=True, **kwargs)}

    with_files, without = scored(paths=paths), scored()
    copy, other = frozenset(("source", "noisy_copy")), frozenset(("source", "noisy_take"))
    assert with_files[copy].coherence >= search.coherence_threshold
    assert without[copy].coherence == -1.0  # no file, no waveform of the long clip: not measured
    assert other not in with_files or with_files[other].coherence < search.coherence_threshold
    flagged = {frozenset((m.first, m.second)) for m in find_copies(prints, SETTINGS, search, paths=paths)}
    assert copy in flagged and frozenset(("take", "noisy_take")) in flagged
    assert not flagged & {other, frozenset(("take", "noisy_copy")), frozenset(("source", "take"))}
    assert not {frozenset((m.first, m.second)) for m in find_copies(prints, SETTINGS, search)} & {copy, other}
