"""Small generated datasets in every supported layout (helpers for tests/data and tests/commands)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf


def clip(seed: int, sample_rate_hz: int, duration_s: float, amplitude: float = 0.3) -> np.ndarray:
    """A distinct test signal per seed: a decaying chirp plus a little noise (mono, float32)."""
    rng = np.random.default_rng(seed)
    time_s = np.arange(int(round(duration_s * sample_rate_hz))) / sample_rate_hz
    start_hz = rng.uniform(100, sample_rate_hz / 8)
    sweep_hz = rng.uniform(50, sample_rate_hz / 8)
    phase = 2 * np.pi * (start_hz * time_s + 0.5 * sweep_hz * time_s**2 / max(duration_s, 1e-9))
    signal = np.sin(phase) * np.exp(-time_s * rng.uniform(0.5, 4.0)) + 0.05 * rng.standard_normal(time_s.size)
    return (amplitude * signal / np.max(np.abs(signal))).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sample_rate_hz: int, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), samples, sample_rate_hz, subtype=subtype)
    return path


def make_fsdd(root: Path, speakers=("alice", "bob", "carol", "dave"), digits=range(3), takes=range(7), sample_rate_hz: int = 8000) -> Path:
    seed = 0
    for speaker in speakers:
        for digit in digits:
            for take in takes:
                seed += 1
                write_wav(root / "recordings" / f"{digit}_{speaker}_{take}.wav", clip(seed, sample_rate_hz, 0.25), sample_rate_hz)
    return root


def make_emodb(root: Path, speakers=("03", "08", "09", "10"), emotions="WNT", texts=("a01", "a02", "b01")) -> Path:
    seed = 1000
    for speaker in speakers:
        for emotion in emotions:
            for text in texts:
                seed += 1
                write_wav(root / "wav" / f"{speaker}{text}{emotion}a.wav", clip(seed, 16000, 0.2), 16000)
    return root


ESC50_SAMPLE_RATE_HZ = 2000  # real ESC-50 is 44.1 kHz; 5 s clips at 2 kHz keep tests fast


def make_esc50(root: Path, categories=("dog", "rain"), folds=range(1, 6), sources_per_fold: int = 2, takes="AB") -> Path:
    rows = []
    seed = 2000
    for fold in folds:
        for target, category in enumerate(categories):
            for source in range(sources_per_fold):
                src_file = f"{100000 + fold * 100 + target * 10 + source}"
                for take in takes:
                    seed += 1
                    filename = f"{fold}-{src_file}-{take}-{target}.wav"
                    write_wav(root / "audio" / filename, clip(seed, ESC50_SAMPLE_RATE_HZ, 5.0), ESC50_SAMPLE_RATE_HZ)
                    rows.append([filename, fold, target, category, "False", src_file, take])
    write_esc50_meta(root, rows)
    return root


def write_esc50_meta(root: Path, rows: list[list]) -> None:
    (root / "meta").mkdir(parents=True, exist_ok=True)
    with (root / "meta" / "esc50.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)


def make_folder_tree(root: Path, classes=("cat", "dog", "owl"), per_class: int = 8, sample_rate_hz: int = 8000, seed0: int = 3000) -> Path:
    seed = seed0
    for name in classes:
        for number in range(per_class):
            seed += 1
            write_wav(root / name / f"{name}_{number:02d}.wav", clip(seed, sample_rate_hz, 0.3), sample_rate_hz)
    return root


def make_folder_csv(root: Path, rows: list[dict], sample_rate_hz: int = 8000) -> Path:
    """Write audio for each row's `path` (seeded by row order) and `labels.csv` with the rows' columns."""
    columns = list(rows[0])
    for number, row in enumerate(rows):
        write_wav(root / row["path"], clip(4000 + number, sample_rate_hz, 0.3), sample_rate_hz)
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return root / "labels.csv"


def write_bad_files(folder: Path, sample_rate_hz: int = 8000) -> dict[str, Path]:
    """One corrupt (random bytes), one empty (0 bytes) and one NaN WAV in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(5).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    empty = folder / "empty.wav"
    empty.write_bytes(b"")
    nan = folder / "nan.wav"
    samples = clip(77, sample_rate_hz, 0.3)
    samples[100:110] = np.nan
    write_wav(nan, samples, sample_rate_hz, subtype="FLOAT")
    return {"corrupt": corrupt, "empty": empty, "nan": nan}
