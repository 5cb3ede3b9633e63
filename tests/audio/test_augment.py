"""Augmentation: measured SNR, gain, pitch and reverb decay; seeded; SpecAugment fills with the floor."""

from __future__ import annotations

import random

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.augment import (
    AugmentSettings,
    GeneratedReverb,
    WaveformAugmenter,
    exponential_decay_impulse_response,
    materialise_variants,
    spec_augment,
)
from sonolab.data.items import Item, Problem

SAMPLE_RATE_HZ = 8000
OFF = dict(noise_probability=0.0, pitch_probability=0.0, stretch_probability=0.0, gain_probability=0.0, reverb_probability=0.0)


def tone(frequency_hz: float = 440.0, duration_s: float = 1.0) -> np.ndarray:
    time_s = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return (0.5 * np.sin(2 * np.pi * frequency_hz * time_s)).astype(np.float32)


def only(**changes) -> AugmentSettings:
    return AugmentSettings(**{**OFF, **changes})


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_noise_is_added_at_the_requested_snr():
    clean = tone()
    noisy = WaveformAugmenter(only(noise_probability=1.0, min_snr_db=20.0, max_snr_db=20.0), seed=1)(clean, SAMPLE_RATE_HZ)
    snr_db = 20 * np.log10(rms(clean) / rms(noisy - clean))
    assert snr_db == pytest.approx(20.0, abs=0.5)


def test_gain_changes_the_level_by_the_requested_db():
    out = WaveformAugmenter(only(gain_probability=1.0, min_gain_db=-6.0, max_gain_db=-6.0), seed=0)(tone(), SAMPLE_RATE_HZ)
    assert 20 * np.log10(rms(out) / rms(tone())) == pytest.approx(-6.0, abs=0.01)


def test_pitch_shift_by_an_octave_moves_the_peak_to_twice_the_frequency():
    out = WaveformAugmenter(only(pitch_probability=1.0, min_semitones=12.0, max_semitones=12.0), seed=0)(tone(440.0), SAMPLE_RATE_HZ)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(out.size)))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE_HZ / out.size
    assert peak_hz == pytest.approx(880.0, rel=0.02)


def test_time_stretch_keeps_the_length_and_channels_first_layout():
    stereo = np.stack([tone(300.0), tone(500.0)])
    out = WaveformAugmenter(only(stretch_probability=1.0, min_stretch_rate=0.8, max_stretch_rate=0.8), seed=0)(stereo, SAMPLE_RATE_HZ)
    assert out.shape == stereo.shape and out.dtype == np.float32


def test_generated_impulse_response_decays_60_db_in_rt60():
    rt60_s = 0.4
    response = exponential_decay_impulse_response(rt60_s, SAMPLE_RATE_HZ, np.random.default_rng(0))
    assert response[0] == 1.0 and response.size == int(rt60_s * SAMPLE_RATE_HZ)
    block = 160
    energy = np.square(response[1:1 + (response.size - 1) // block * block]).reshape(-1, block).mean(axis=1)
    times_s = (np.arange(energy.size) + 0.5) * block / SAMPLE_RATE_HZ
    slope_db_per_s = np.polyfit(times_s, 10 * np.log10(energy), 1)[0]
    assert slope_db_per_s * rt60_s == pytest.approx(-60.0, rel=0.1)


def test_generated_reverb_keeps_length_and_rms_and_smears_an_impulse():
    impulse = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
    impulse[100] = 1.0
    reverb = GeneratedReverb(0.3, 0.3, wet_fraction=0.5, p=1.0)
    random.seed(0)
    out = reverb(impulse, SAMPLE_RATE_HZ)
    assert out.shape == impulse.shape and rms(out) == pytest.approx(rms(impulse), rel=1e-4)
    assert np.count_nonzero(np.abs(out[200:]) > 1e-4) > 1000  # energy after the impulse: a tail


def test_augmenter_is_reproducible_from_its_seed_and_leaves_global_randomness_alone():
    settings = AugmentSettings(noise_probability=1.0, gain_probability=1.0, reverb_probability=1.0)
    first, second, other = WaveformAugmenter(settings, 5), WaveformAugmenter(settings, 5), WaveformAugmenter(settings, 6)
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    a1, a2 = first(tone(), SAMPLE_RATE_HZ), first(tone(), SAMPLE_RATE_HZ)
    assert random.random() == expected_next
    np.testing.assert_array_equal(a1, second(tone(), SAMPLE_RATE_HZ))
    np.testing.assert_array_equal(a2, second(tone(), SAMPLE_RATE_HZ))
    assert not np.array_equal(a1, a2) and not np.array_equal(a1, other(tone(), SAMPLE_RATE_HZ))


def test_spec_augment_masks_with_the_floor_never_zero():
    features = np.full((40, 100), -20.0, dtype=np.float32)
    out = spec_augment(features, np.random.default_rng(0), time_masks=2, max_time_mask_frames=10,
                       frequency_masks=2, max_frequency_mask_bins=8, fill_db=-80.0)
    assert set(np.unique(out)) <= {-20.0, -80.0} and np.any(out == -80.0) and not np.any(out == 0.0)
    assert np.all(features == -20.0)  # input untouched
    masked_columns = np.flatnonzero(np.all(out == -80.0, axis=0))
    masked_rows = np.flatnonzero(np.all(out == -80.0, axis=1))
    assert masked_columns.size <= 20 and masked_rows.size <= 16
    again = spec_augment(features, np.random.default_rng(0), 2, 10, 2, 8, -80.0)
    np.testing.assert_array_equal(out, again)


def test_materialised_variants_carry_parent_id_group_and_label(tmp_path):
    items = []
    for number, frequency_hz in enumerate((300.0, 600.0)):
        path = tmp_path / "in" / f"clip{number}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(str(path), tone(frequency_hz, 0.5), SAMPLE_RATE_HZ)
        items.append(Item(f"clip{number}", path, "tone", f"source{number}", metadata={"fold": number + 1}))
    broken = tmp_path / "in" / "broken.wav"
    broken.write_bytes(b"")
    problems: list[Problem] = []
    settings = AugmentSettings()
    variants = materialise_variants(items + [Item("broken", broken, "tone", "x")], tmp_path / "out", 5, settings, seed=3, problems=problems)
    assert len(variants) == 10 and [p.item_id for p in problems] == ["broken"]
    for variant in variants:
        parent = next(item for item in items if item.item_id == variant.parent_id)
        assert variant.group == parent.group and variant.label == parent.label
        assert variant.metadata["fold"] == parent.metadata["fold"] and variant.item_id.startswith(parent.item_id + "__aug")
        audio, rate = sf.read(str(variant.path))
        assert rate == SAMPLE_RATE_HZ and audio.shape == (4000,)
    assert (tmp_path / "out" / "variants.csv").read_text().count("\n") == 11
    repeat = materialise_variants(items, tmp_path / "again", 5, settings, seed=3)
    for a, b in zip(variants, repeat):
        np.testing.assert_array_equal(sf.read(str(a.path))[0], sf.read(str(b.path))[0])



def test_spectrogram_warp_moves_a_band_stretches_time_shifts_the_level_and_keeps_the_floor() -> None:
    from sonolab.audio.augment import spectrogram_warp

    floor_db = -80.0
    matrix = np.full((40, 50), floor_db, dtype=np.float32)
    matrix[10, :] = -10.0  # a steady tone in band 10
    matrix[20, :] = -75.0  # a band 5 dB above the floor
    for seed in range(20):
        draws = np.random.default_rng(seed)  # the same draws, in the same order, as the function makes
        scale, stretch, gain = 1.0 + draws.uniform(-0.2, 0.2), 1.0 + draws.uniform(-0.3, 0.3), draws.uniform(-6.0, 6.0)
        warped = spectrogram_warp(matrix, np.random.default_rng(seed), 0.2, 0.3, 6.0, floor_db)
        assert warped.shape == (40, int(round(50 * stretch)))  # time axis stretched
        assert abs(int(np.argmax(warped[:, 0])) - 10 * scale) <= 1.0  # the tone moved with the frequency scale
        assert warped.min() >= floor_db  # never below the floor
    gained = spectrogram_warp(matrix, np.random.default_rng(1), 0.0, 0.0, 6.0, floor_db)
    gain = np.random.default_rng(1).uniform(-6.0, 6.0)
    np.testing.assert_allclose(gained[10], -10.0 + gain, atol=1e-4)  # a pure level change
    np.testing.assert_allclose(gained[20], max(-75.0 + gain, floor_db), atol=1e-4)
    np.testing.assert_allclose(gained[0], floor_db)  # silence stays at the floor
    np.testing.assert_allclose(spectrogram_warp(matrix, np.random.default_rng(0), 0.0, 0.0, 0.0, floor_db), matrix)
