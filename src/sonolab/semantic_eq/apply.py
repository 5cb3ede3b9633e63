"""Apply a generated EQ to audio: same sample rate, channels and format; loudness-matched; never clipping.

Loudness is integrated loudness (ITU-R BS.1770, pyloudnorm). After matching, if a sample would exceed
full scale the gain is lowered until it does not, and the report says by how much.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sonolab.audio.eq import EqSetting, apply_design, design_eq
from sonolab.audio.io import load_audio, save_audio
from sonolab.errors import AudioLoadError

PEAK_CEILING = 10 ** (-0.1 / 20)  # -0.1 dBFS sample peak
MINIMUM_LOUDNESS_SECONDS = 0.4  # one BS.1770 gating block


@dataclass
class ApplyReport:
    setting: EqSetting  # the setting actually applied (after strength and any Nyquist clamping)
    sample_rate_hz: int
    channels: int
    input_loudness_lufs: float | None = None
    output_loudness_lufs: float | None = None
    makeup_gain_db: float = 0.0
    clipping_reduction_db: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting.to_dict(),
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "input_loudness_lufs": self.input_loudness_lufs,
            "output_loudness_lufs": self.output_loudness_lufs,
            "makeup_gain_db": self.makeup_gain_db,
            "clipping_reduction_db": self.clipping_reduction_db,
            "notes": list(self.notes),
        }


def integrated_loudness_lufs(audio: np.ndarray, sample_rate_hz: int) -> float | None:
    """BS.1770 integrated loudness of `(channels, samples)` audio, or None if too short or silent."""
    import pyloudnorm

    if audio.shape[-1] < MINIMUM_LOUDNESS_SECONDS * sample_rate_hz:
        return None
    loudness = pyloudnorm.Meter(sample_rate_hz).integrated_loudness(np.asarray(audio, dtype=np.float64).T)
    return float(loudness) if np.isfinite(loudness) else None


def process_audio(
    audio: np.ndarray, sample_rate_hz: int, setting: EqSetting, strength: float = 1.0, loudness_match: bool = True
) -> tuple[np.ndarray, ApplyReport]:
    """EQ `(channels, samples)` float32 audio; match its loudness to the input; keep peaks below -0.1 dBFS."""
    design = design_eq(setting, sample_rate_hz, strength)
    report = ApplyReport(design.setting, int(sample_rate_hz), int(audio.shape[0]), notes=list(design.notes))
    output = apply_design(audio, design).astype(np.float64)
    gain_db = 0.0
    if loudness_match:
        report.input_loudness_lufs = integrated_loudness_lufs(audio, sample_rate_hz)
        equalised_lufs = integrated_loudness_lufs(output, sample_rate_hz)
        if report.input_loudness_lufs is None or equalised_lufs is None:
            report.notes.append(f"loudness not matched: audio shorter than {MINIMUM_LOUDNESS_SECONDS} s or silent")
        else:
            gain_db = report.input_loudness_lufs - equalised_lufs
    report.makeup_gain_db = float(gain_db)
    peak = float(np.max(np.abs(output))) * 10 ** (gain_db / 20) if output.size else 0.0
    if peak > PEAK_CEILING:
        reduction_db = 20 * np.log10(peak / PEAK_CEILING)
        gain_db -= reduction_db
        report.clipping_reduction_db = float(reduction_db)
        report.notes.append(f"gain reduced by {reduction_db:.2f} dB to keep the sample peak below -0.1 dBFS (no clipping); the output is that much quieter")
    output *= 10 ** (gain_db / 20)
    result = output.astype(np.float32)
    if loudness_match:
        report.output_loudness_lufs = integrated_loudness_lufs(result, sample_rate_hz)
    return result, report


def _output_format(input_path: Path, output_path: Path) -> tuple[str, str | None, list[str]]:
    info = sf.info(str(input_path))
    suffix_format = output_path.suffix.lstrip(".").upper() or info.format
    available = sf.available_formats()
    if suffix_format not in available:
        suffix_format = {"AIF": "AIFF", "OGA": "OGG"}.get(suffix_format, suffix_format)
    if suffix_format not in available:
        raise AudioLoadError(output_path, f"unknown output format '{output_path.suffix}'", f"use one of .{', .'.join(sorted(f.lower() for f in available))}")
    if suffix_format == info.format and sf.check_format(suffix_format, info.subtype):
        return suffix_format, info.subtype, []
    if sf.check_format(suffix_format, info.subtype):  # e.g. 24-bit FLAC -> 24-bit WAV: keep the bit depth
        return suffix_format, info.subtype, [f"output format {suffix_format} differs from the input's {info.format}; sample format {info.subtype} kept"]
    return suffix_format, None, [f"output format {suffix_format} differs from the input's {info.format}/{info.subtype}: default subtype used"]


def apply_to_file(
    input_path: str | Path, output_path: str | Path, setting: EqSetting, strength: float = 1.0, loudness_match: bool = True
) -> ApplyReport:
    """Read, equalise, loudness-match and write atomically, keeping the sample rate, channels and format."""
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise AudioLoadError(output_path, "output would overwrite the input", "choose another output path")
    audio, sample_rate_hz = load_audio(input_path)
    file_format, subtype, notes = _output_format(input_path, output_path)
    result, report = process_audio(audio, sample_rate_hz, setting, strength, loudness_match)
    report.notes.extend(notes)
    save_audio(output_path, result, sample_rate_hz, subtype=subtype, file_format=file_format)
    return report
