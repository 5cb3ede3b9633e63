"""Physics of the 5-band SAFE EQ: measured impulse responses match the computed curves."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.audio.eq import (
    PLUGIN_LIMITS,
    EqSetting,
    apply_design,
    apply_eq,
    design_eq,
    design_response_db,
    high_shelf_sos,
    limit_violations,
    low_shelf_sos,
    magnitude_response_db,
    peaking_sos,
)

IMPULSE_SAMPLES = 2**17  # ~3 s: long enough for a Q=10 bell at 82 Hz to decay below 1e-10

FLAT = EqSetting()
SETTINGS = {
    "low_shelf": EqSetting(low_shelf_gain_db=12.0, low_shelf_cutoff_hz=22.0),
    "low_shelf_cut": EqSetting(low_shelf_gain_db=-9.0, low_shelf_cutoff_hz=400.0),
    "peaking_narrow_low": EqSetting(band1_gain_db=-12.0, band1_centre_hz=82.0, band1_q=10.0),
    "peaking_wide": EqSetting(band2_gain_db=7.0, band2_centre_hz=2000.0, band2_q=0.1),
    "peaking_high": EqSetting(band3_gain_db=12.0, band3_centre_hz=10000.0, band3_q=4.0),
    "high_shelf": EqSetting(high_shelf_gain_db=12.0, high_shelf_cutoff_hz=20000.0),
    "high_shelf_cut": EqSetting(high_shelf_gain_db=-12.0, high_shelf_cutoff_hz=580.0),
    "all_five": EqSetting(-6.0, 120.0, 4.0, 300.0, 1.5, -3.0, 1200.0, 0.7, 5.0, 5000.0, 2.0, 6.0, 8000.0),
}


def _measured_response_db(setting: EqSetting, sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray]:
    impulse = np.zeros((1, IMPULSE_SAMPLES), dtype=np.float32)
    impulse[0, 0] = 1.0
    response = apply_eq(impulse, sample_rate_hz, setting)[0].astype(np.float64)
    spectrum = np.fft.rfft(response)
    frequencies_hz = np.fft.rfftfreq(IMPULSE_SAMPLES, 1.0 / sample_rate_hz)
    band = (frequencies_hz >= 20.0) & (frequencies_hz <= 20000.0)
    return frequencies_hz[band], 20 * np.log10(np.abs(spectrum[band]))


@pytest.mark.parametrize("sample_rate_hz", [44100, 48000])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_measured_impulse_response_matches_computed_within_0_1_db(name: str, sample_rate_hz: int) -> None:
    setting = SETTINGS[name]
    frequencies_hz, measured_db = _measured_response_db(setting, sample_rate_hz)
    computed_db = magnitude_response_db(setting, frequencies_hz, sample_rate_hz)
    assert np.max(np.abs(measured_db - computed_db)) < 0.1
    assert np.max(np.abs(computed_db)) > 2.0  # the filter actually does something


def test_plus_6_db_peaking_measures_6_db_at_its_centre() -> None:
    sample_rate_hz = 48000
    setting = EqSetting(band2_gain_db=6.0, band2_centre_hz=1000.0, band2_q=1.0)
    assert magnitude_response_db(setting, np.array([1000.0]), sample_rate_hz)[0] == pytest.approx(6.0, abs=1e-6)
    time_s = np.arange(sample_rate_hz) / sample_rate_hz
    tone = (0.1 * np.sin(2 * np.pi * 1000.0 * time_s)).astype(np.float32)[None, :]
    output = apply_eq(tone, sample_rate_hz, setting)
    steady = slice(sample_rate_hz // 2, None)  # after the transient
    gain_db = 20 * np.log10(np.sqrt(np.mean(output[0, steady] ** 2)) / np.sqrt(np.mean(tone[0, steady] ** 2)))
    assert gain_db == pytest.approx(6.0, abs=0.02)
    # an octave away a Q=1 bell has fallen well below its peak
    assert magnitude_response_db(setting, np.array([4000.0]), sample_rate_hz)[0] < 2.0


def test_shelves_reach_their_gain_far_from_the_cutoff() -> None:
    low = EqSetting(low_shelf_gain_db=9.0, low_shelf_cutoff_hz=200.0)
    high = EqSetting(high_shelf_gain_db=-9.0, high_shelf_cutoff_hz=2000.0)
    assert magnitude_response_db(low, np.array([20.0, 15000.0]), 44100) == pytest.approx([9.0, 0.0], abs=0.1)
    assert magnitude_response_db(high, np.array([20.0, 15000.0]), 44100) == pytest.approx([0.0, -9.0], abs=0.15)
    # a shelf is half its gain (in dB) at its cutoff
    assert magnitude_response_db(low, np.array([200.0]), 44100)[0] == pytest.approx(4.5, abs=0.05)


def test_rbj_sections_with_0_db_are_exact_identities() -> None:
    for section in (low_shelf_sos(0.0, 100.0, 44100), peaking_sos(0.0, 1000.0, 2.0, 44100), high_shelf_sos(0.0, 5000.0, 44100)):
        np.testing.assert_allclose(section[:3], section[3:], atol=1e-15)


@pytest.mark.parametrize("sample_rate_hz", [16000, 44100])
def test_zero_gains_and_zero_strength_are_identities(sample_rate_hz: int) -> None:
    audio = np.random.default_rng(0).standard_normal((2, 4000)).astype(np.float32)
    np.testing.assert_array_equal(apply_eq(audio, sample_rate_hz, FLAT), audio)
    np.testing.assert_array_equal(apply_eq(audio, sample_rate_hz, SETTINGS["all_five"], strength=0.0), audio)
    assert np.max(np.abs(magnitude_response_db(SETTINGS["all_five"], np.geomspace(20, 7000, 50), sample_rate_hz, strength=0.0))) < 1e-9


def test_strength_scales_every_gain_and_stays_within_limits() -> None:
    setting = SETTINGS["all_five"]
    half = setting.scaled(0.5)
    np.testing.assert_allclose(half.gains_db(), setting.gains_db() * 0.5)
    double = setting.scaled(3.0)
    assert np.all(np.abs(double.gains_db()) <= 12.0)
    assert double.band1_centre_hz == setting.band1_centre_hz  # only gains change


def test_multichannel_filters_each_channel_like_mono() -> None:
    rng = np.random.default_rng(1)
    stereo = rng.standard_normal((2, 3000)).astype(np.float32)
    setting = SETTINGS["all_five"]
    output = apply_eq(stereo, 44100, setting)
    assert output.shape == stereo.shape and output.dtype == np.float32
    np.testing.assert_allclose(output[1], apply_eq(stereo[1:2], 44100, setting)[0], atol=1e-6)


def test_cutoffs_above_nyquist_are_clamped_and_reported() -> None:
    setting = EqSetting(band3_gain_db=6.0, band3_centre_hz=10000.0, high_shelf_gain_db=6.0, high_shelf_cutoff_hz=18000.0)
    design = design_eq(setting, 16000)
    assert design.setting.high_shelf_cutoff_hz == pytest.approx(7840.0)
    assert design.setting.band3_centre_hz == pytest.approx(7840.0)
    assert design_eq(setting, 44100).notes == ()  # every plug-in value fits at 44.1 kHz
    assert len(design.notes) == 2 and "clamped" in design.notes[0]
    response = design_response_db(design, np.geomspace(20, 7990, 100))
    assert np.all(np.isfinite(response)) and response[-1] > 3.0
    audio = np.random.default_rng(2).standard_normal((1, 16000)).astype(np.float32)
    assert np.all(np.isfinite(apply_design(audio, design)))
    with pytest.raises(ValueError):
        design_response_db(design, np.array([9000.0]))  # above Nyquist: no meaningful response


def test_vector_round_trip_and_limits() -> None:
    setting = SETTINGS["all_five"]
    assert EqSetting.from_vector(setting.to_vector()) == setting
    assert EqSetting.from_dict(setting.to_dict()) == setting
    assert [limit.name for limit in PLUGIN_LIMITS] == list(EqSetting.parameter_names())
    assert setting.within_limits()
    assert limit_violations(EqSetting(high_shelf_cutoff_hz=25000.0).to_vector()) != []
    assert limit_violations(EqSetting(band1_gain_db=-12.0).to_vector()) == []
    assert limit_violations(np.array([np.nan] + [100.0] * 12))[0].startswith("low_shelf_gain_db is not finite")


def test_batch_responses_equal_freqz_sos_of_the_same_sections() -> None:
    from sonolab.audio.eq import responses_db

    grid_hz = np.geomspace(20.0, 20000.0, 64)
    settings = list(SETTINGS.values())
    batch = responses_db(settings, grid_hz, 44100)
    single = np.stack([magnitude_response_db(setting, grid_hz, 44100) for setting in settings])
    np.testing.assert_allclose(batch, single, atol=1e-9)


@pytest.mark.parametrize("block_samples", [1, 1000, 65536])
def test_block_processing_with_carried_state_equals_one_shot(block_samples: int) -> None:
    from sonolab.audio.eq import EqFilter

    audio = np.random.default_rng(5).standard_normal((2, 20000 if block_samples == 1 else 100000))
    design = design_eq(SETTINGS["all_five"], 44100)
    equaliser = EqFilter(design, channels=2)
    blocks = [equaliser.process(audio[:, start : start + block_samples]) for start in range(0, audio.shape[1], block_samples)]
    one_shot = EqFilter(design, channels=2).process(audio)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), one_shot)
    np.testing.assert_allclose(one_shot.astype(np.float32), apply_design(audio, design), atol=1e-6)
