"""The semantic EQ part of `sonolab demo`: "warm" and "bright" from the default model, applied to pink noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import write_json_atomic
from sonolab.semantic_eq.apply import integrated_loudness_lufs, process_audio

DEMO_TERMS = ("warm", "bright")
DEMO_SAMPLE_RATE_HZ = 44100


def pink_noise(duration_s: float, sample_rate_hz: int, channels: int = 1, seed: int = 0, rms: float = 0.1) -> np.ndarray:
    """Pink (1/f power) noise, float32 `(channels, samples)`, shaped in the frequency domain."""
    samples = int(round(duration_s * sample_rate_hz))
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal((channels, samples)), axis=-1)
    frequencies_hz = np.fft.rfftfreq(samples, 1.0 / sample_rate_hz)
    spectrum[:, 1:] /= np.sqrt(frequencies_hz[1:])
    spectrum[:, 0] = 0.0
    noise = np.fft.irfft(spectrum, n=samples, axis=-1)
    noise *= rms / np.sqrt(np.mean(noise**2))
    return noise.astype(np.float32)


def spectral_centroid_hz(audio: np.ndarray, sample_rate_hz: int) -> float:
    """Mean spectral centroid over frames and channels (librosa)."""
    import librosa

    return float(np.mean(librosa.feature.spectral_centroid(y=np.asarray(audio, dtype=np.float32), sr=sample_rate_hz)))


def run_eq_demo(out_dir: Path, model_dir: Path | None = None, duration_s: float = 4.0) -> dict[str, Any]:
    """Generate warm/bright with the default model, write `eq_settings.json` and `eq_responses.png`,
    apply both to pink noise and return the settings, centroid change (Hz) and loudness change (LU)."""
    from sonolab.semantic_eq.default import load_eq_model
    from sonolab.semantic_eq.plot import plot_eq_responses

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = load_eq_model(model_dir)
    noise = pink_noise(duration_s, DEMO_SAMPLE_RATE_HZ, channels=2)
    centroid_before_hz = spectral_centroid_hz(noise, DEMO_SAMPLE_RATE_HZ)
    loudness_before = integrated_loudness_lufs(noise, DEMO_SAMPLE_RATE_HZ)
    summary: dict[str, Any] = {"model": model.metadata.get("model_dir"), "input": f"pink noise, {duration_s:g} s, stereo, {DEMO_SAMPLE_RATE_HZ} Hz", "terms": {}}
    for term in DEMO_TERMS:
        setting = model.generate(term)
        processed, report = process_audio(noise, DEMO_SAMPLE_RATE_HZ, setting)
        centroid_after_hz = spectral_centroid_hz(processed, DEMO_SAMPLE_RATE_HZ)
        summary["terms"][term] = {
            "setting": setting.to_dict(),
            "spectral_centroid_before_hz": centroid_before_hz,
            "spectral_centroid_after_hz": centroid_after_hz,
            "spectral_centroid_change_hz": centroid_after_hz - centroid_before_hz,
            "loudness_change_lu": (report.output_loudness_lufs - loudness_before) if report.output_loudness_lufs is not None and loudness_before is not None else None,
            "makeup_gain_db": report.makeup_gain_db,
            "notes": report.notes,
        }
    write_json_atomic(out_dir / "eq_settings.json", summary)
    plot_eq_responses(model, out_dir / "eq_responses.png", terms=list(DEMO_TERMS), interpolation=("warm", "bright", 5))
    summary["files"] = {"settings": str(out_dir / "eq_settings.json"), "responses_png": str(out_dir / "eq_responses.png")}
    return summary
