"""Audio input/output: load any WAV/FLAC/OGG/MP3 as float32 channels-first with its sample rate.

Every problem with a file raises one `AudioLoadError` naming the file and the reason, so callers can
skip *and list* bad files instead of crashing or silently dropping them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sonolab.atomic import atomic_path
from sonolab.errors import AudioLoadError

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3")


def _declared_vs_actual_wav_data_bytes(path: Path) -> tuple[int, int] | None:
    """Return (declared, present) byte counts of a RIFF/WAVE file's `data` chunk, or None if not RIFF.

    Written by hand because libsndfile silently clamps a truncated WAV to the bytes present and
    reports no error, which is how cut-off downloads used to slip into datasets unnoticed.
    """
    file_size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        position = 12
        while position + 8 <= file_size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                present = file_size - (position + 8)
                if chunk_size in (0, 0xFFFFFFFF):  # streaming writers leave the size unset
                    return present, present
                return chunk_size, present
            position += 8 + chunk_size + (chunk_size & 1)
    return None


def audio_info_frames(path: str | Path) -> tuple[int, int, int]:
    """Return (frames, sample_rate_hz, channels) from the header without decoding the samples."""
    path = Path(path)
    try:
        info = sf.info(str(path))
    except Exception as error:  # soundfile raises several types; all mean "unreadable"
        raise AudioLoadError(path, f"unreadable audio ({error})", "re-export or remove the file") from error
    return int(info.frames), int(info.samplerate), int(info.channels)


def load_audio(
    path: str | Path,
    target_sample_rate_hz: int | None = None,
    mono: bool = False,
) -> tuple[np.ndarray, int]:
    """Load `path` as float32 `(channels, samples)` and its sample rate.

    `target_sample_rate_hz` resamples with soxr (high quality); `mono=True` averages the channels
    into one (an explicit choice, never implied). Raises `AudioLoadError` for a missing, unreadable,
    empty (0 samples), truncated or non-finite file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(path, "file not found", "check the path or the dataset root")
    if path.stat().st_size == 0:
        raise AudioLoadError(path, "empty file (0 bytes)", "re-export or remove the file")
    if path.suffix.lower() == ".wav":
        sizes = _declared_vs_actual_wav_data_bytes(path)
        if sizes is not None and sizes[1] < sizes[0]:
            raise AudioLoadError(
                path,
                f"truncated: header declares {sizes[0]} data bytes but only {sizes[1]} are present",
                "re-download or re-export the file",
            )
    try:
        samples, sample_rate_hz = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioLoadError(path, f"unreadable audio ({error})", "re-export or remove the file") from error
    audio = np.ascontiguousarray(samples.T)
    if audio.shape[1] == 0:
        raise AudioLoadError(path, "empty audio (0 samples)", "re-export or remove the file")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioLoadError(path, f"non-finite audio ({bad} NaN/inf samples)", "re-export or remove the file")
    if mono:
        audio = to_mono(audio)
    if target_sample_rate_hz is not None and target_sample_rate_hz != sample_rate_hz:
        audio = resample(audio, int(sample_rate_hz), int(target_sample_rate_hz))
        sample_rate_hz = int(target_sample_rate_hz)
    return audio, int(sample_rate_hz)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average the channels of `(channels, samples)` audio into `(1, samples)`."""
    if audio.ndim != 2:
        raise ValueError(f"expected (channels, samples), got shape {audio.shape}")
    return audio.mean(axis=0, keepdims=True, dtype=np.float32)


def resample(audio: np.ndarray, source_sample_rate_hz: int, target_sample_rate_hz: int) -> np.ndarray:
    """Resample `(channels, samples)` float32 audio with soxr's high-quality filter."""
    if source_sample_rate_hz == target_sample_rate_hz:
        return audio.astype(np.float32, copy=False)
    resampled = soxr.resample(audio.T, source_sample_rate_hz, target_sample_rate_hz, quality="HQ")
    return np.ascontiguousarray(np.asarray(resampled, dtype=np.float32).reshape(-1, audio.shape[0]).T)


def save_audio(
    path: str | Path,
    audio: np.ndarray,
    sample_rate_hz: int,
    subtype: str | None = None,
    file_format: str | None = None,
) -> Path:
    """Write `(channels, samples)` audio atomically (temporary file in the same folder, then rename).

    The format follows the file's suffix unless `file_format` (a libsndfile name: WAV, FLAC, OGG, MP3) says.
    """
    path = Path(path)
    resolved_format = file_format or (path.suffix.lstrip(".").upper() or "WAV")
    with atomic_path(path) as temporary:
        sf.write(str(temporary), np.asarray(audio, dtype=np.float32).T, int(sample_rate_hz), subtype=subtype, format=resolved_format)
    return path
