"""Apply a generated EQ to audio: loudness-matched to the input and under a true-peak ceiling.

Chain: EQ (`audio.eq`, sosfilt) -> make-up gain that matches the input's integrated loudness
(ITU-R BS.1770-4) -> look-ahead true-peak limiter (`audio.limiter`, default ceiling -1 dBTP). When the
limiter lowered the loudness, the make-up gain is raised by the shortfall and the chain is run again
(until within `LOUDNESS_TOLERANCE_LU`, at most `MAX_PASSES` passes), so the output is both matched and
under the ceiling. `ApplyOptions(limiter=False)` keeps the older behaviour: no dynamics processing, the whole gain is
lowered until the true peak is under the ceiling, and the output is that much quieter.

Everything runs block by block with the filter and limiter state carried across blocks, so a file
longer than memory allows is processed in blocks (`block_frames`) with output identical to one call.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sonolab.audio.eq import EqDesign, EqFilter, EqSetting, design_eq
from sonolab.audio.limiter import DEFAULT_CEILING_DBTP, LimiterStats, PreparedSignal, TruePeakLimiter, limit_true_peak
from sonolab.audio.loudness import CHANNEL_WEIGHTS, MINIMUM_LOUDNESS_S, LoudnessMeter, TruePeakMeter
from sonolab.audio.loudness import integrated_loudness_lufs, true_peak_dbtp
from sonolab.audio.wavex import read_channel_mask, write_channel_mask
from sonolab.errors import AudioLoadError

__all__ = ["ApplyOptions", "ApplyReport", "apply_to_file", "apply_to_folder", "find_audio_files", "integrated_loudness_lufs", "process_audio", "process_blocks", "write_report_csv"]

LOUDNESS_TOLERANCE_LU = 0.1  # the make-up gain is iterated until the output is this close to the input
MAX_PASSES = 10
RELEASE_LADDER_S = (0.05, 0.02, 0.008)
"""The limiter's release time: the slowest (most transparent) first; a faster one only when the slower
could not give back the loudness (each added dB of make-up gain came out as less than STALLED_SLOPE dB)."""
STALLED_SLOPE = 0.35
MINIMUM_SLOPE = 0.2
FIRST_SLOPE_DROP = 0.5
"""The first make-up step assumes a slope of 1 - 0.5 x (share of the time limited): measured slopes were
0.42 to 0.56 on mastered material limited all along; a slope of 1 there took one pass more."""
IN_MEMORY_LIMIT_SAMPLES = 60 * 60 * 48000 * 2  # above one hour of 48 kHz stereo, files are streamed in blocks
FILE_BLOCK_FRAMES = 1 << 20
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3")


@dataclass
class ApplyReport:
    setting: EqSetting  # the setting actually applied (after strength and any Nyquist clamping)
    sample_rate_hz: int
    channels: int
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP
    limiter: bool = True
    input_loudness_lufs: float | None = None
    output_loudness_lufs: float | None = None
    input_true_peak_dbtp: float | None = None
    output_true_peak_dbtp: float | None = None
    makeup_gain_db: float = 0.0
    limiting_max_db: float = 0.0  # largest gain reduction of the limiter
    limiting_s: float = 0.0  # time the limiter reduced the gain by more than 0.1 dB
    peak_gain_cut_db: float = 0.0  # without the limiter: how much the whole gain was lowered for the ceiling
    passes: int = 0
    release_s: float | None = None  # the limiter's release time in the final pass
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def loudness_change_lu(self) -> float | None:
        if self.input_loudness_lufs is None or self.output_loudness_lufs is None:
            return None
        return self.output_loudness_lufs - self.input_loudness_lufs

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting.to_dict(),
            "sample_rate_hz": self.sample_rate_hz,
            "channels": self.channels,
            "duration_s": self.duration_s,
            "ceiling_dbtp": self.ceiling_dbtp,
            "limiter": self.limiter,
            "input_loudness_lufs": self.input_loudness_lufs,
            "output_loudness_lufs": self.output_loudness_lufs,
            "loudness_change_lu": self.loudness_change_lu,
            "input_true_peak_dbtp": self.input_true_peak_dbtp,
            "output_true_peak_dbtp": self.output_true_peak_dbtp,
            "makeup_gain_db": self.makeup_gain_db,
            "limiting_max_db": self.limiting_max_db,
            "limiting_s": self.limiting_s,
            "peak_gain_cut_db": self.peak_gain_cut_db,
            "passes": self.passes,
            "release_s": self.release_s,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ApplyOptions:
    """How the chain runs (what `eq apply` lets a user choose): the EQ gains times `strength`, loudness
    matching, the true-peak limiter (False: the whole gain is lowered instead) and its ceiling."""

    strength: float = 1.0
    loudness_match: bool = True
    limiter: bool = True
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP


DEFAULT_OPTIONS = ApplyOptions()
BlockSource = Callable[[], Iterable[np.ndarray]]  # each call starts the signal again from its beginning
RenderPass = Callable[[float, float | None], tuple[float | None, LimiterStats | None]]
"""One pass of the chain at a make-up gain (dB) and limiter release time (s, None without the limiter):
returns the output's integrated loudness and the limiter's statistics."""


def _dbtp(meter: TruePeakMeter) -> float:
    meter.finish()
    return meter.dbtp


@dataclass
class _FirstPass:
    """What the first pass measured: the report so far, the make-up gain to start from and the loudness target."""

    report: ApplyReport
    gain_db: float
    target_lufs: float | None
    loudness_match: bool
    meter_channels: int
    equalised: list[np.ndarray]
    equalised_meter: LoudnessMeter


def _first_pass(
    source: BlockSource, sample_rate_hz: int, channels: int, design: EqDesign, options: ApplyOptions, keep_equalised: bool
) -> _FirstPass:
    """Measure the input and the equalised signal (loudness, true peak) and set the starting make-up gain."""
    loudness_match, limiter, ceiling_dbtp = options.loudness_match, options.limiter, options.ceiling_dbtp
    report = ApplyReport(design.setting, int(sample_rate_hz), int(channels), float(ceiling_dbtp), bool(limiter), notes=list(design.notes))
    if loudness_match and channels > len(CHANNEL_WEIGHTS):
        loudness_match = False
        report.notes.append(f"loudness not matched: BS.1770 defines channel weights for up to {len(CHANNEL_WEIGHTS)} channels, the input has {channels}")
    meter_channels = min(channels, len(CHANNEL_WEIGHTS))
    input_meter, equalised_meter = LoudnessMeter(sample_rate_hz, meter_channels), LoudnessMeter(sample_rate_hz, meter_channels)
    input_peak, equalised_peak = TruePeakMeter(channels), TruePeakMeter(channels)
    equaliser = EqFilter(design, channels)
    frames = 0
    kept: list[np.ndarray] = []
    for block in source():
        block = np.asarray(block, dtype=np.float64)
        frames += block.shape[-1]
        input_peak.push(block)
        equalised = equaliser.process(block)
        if keep_equalised:
            kept.append(equalised)
        if loudness_match:
            input_meter.push(block)
            equalised_meter.push(equalised)
        if not limiter:
            equalised_peak.push(equalised)
    report.duration_s = frames / float(sample_rate_hz)
    report.input_true_peak_dbtp = _dbtp(input_peak)
    gain_db = 0.0
    target_lufs = None
    if loudness_match:
        report.input_loudness_lufs = input_meter.integrated_lufs()
        equalised_lufs = equalised_meter.integrated_lufs()
        if report.input_loudness_lufs is None or equalised_lufs is None:
            report.notes.append(f"loudness not matched: audio shorter than {MINIMUM_LOUDNESS_S} s or silent")
        else:
            target_lufs = report.input_loudness_lufs
            gain_db = target_lufs - equalised_lufs
    if not limiter:
        over_db = _dbtp(equalised_peak) + gain_db - ceiling_dbtp
        if over_db > 0.0:
            gain_db -= over_db
            report.peak_gain_cut_db = float(over_db)
            report.notes.append(
                f"limiter off: gain lowered by {over_db:.2f} dB to keep the true peak under {ceiling_dbtp:g} dBTP; the output is that much quieter"
            )
    return _FirstPass(report, gain_db, target_lufs, loudness_match, meter_channels, kept, equalised_meter)


def _makeup_passes(first: _FirstPass, render: RenderPass, limiter: bool) -> ApplyReport:
    """Render passes until the output loudness is within `LOUDNESS_TOLERANCE_LU` of the target (with the
    limiter; one pass without it), raising the make-up gain by the shortfall over the measured slope and
    moving to a faster release when a slower one absorbs most of each added dB."""
    report, gain_db, target_lufs = first.report, first.gain_db, first.target_lufs
    release_index = 0
    history: list[tuple[float, float]] = []  # (gain dB, output LUFS) at the current release time
    shortfall: float | None = None
    while True:
        report.passes += 1
        release_s = RELEASE_LADDER_S[release_index] if limiter else None
        report.output_loudness_lufs, stats = render(gain_db, release_s)
        report.makeup_gain_db = float(gain_db)
        if stats is not None:
            report.limiting_max_db, report.limiting_s = stats.max_reduction_db, stats.limited_s(report.sample_rate_hz)
            report.release_s = release_s
        shortfall = None if target_lufs is None or report.output_loudness_lufs is None else target_lufs - report.output_loudness_lufs
        if not limiter or shortfall is None or abs(shortfall) <= LOUDNESS_TOLERANCE_LU or report.passes >= MAX_PASSES:
            break
        history.append((gain_db, report.output_loudness_lufs))
        # before two passes at this release give a measured slope: each added dB comes out as less where
        # the limiter works more of the time (on mastered music about half of it, on quieter material all)
        slope = 1.0 - FIRST_SLOPE_DROP * min(1.0, report.limiting_s / max(report.duration_s, 1e-9))
        if len(history) >= 2 and history[-1][0] != history[-2][0]:
            slope = (history[-1][1] - history[-2][1]) / (history[-1][0] - history[-2][0])
        overall = (history[-1][1] - history[0][1]) / (history[-1][0] - history[0][0]) if len(history) >= 2 and history[-1][0] != history[0][0] else 1.0
        if overall < STALLED_SLOPE and release_index + 1 < len(RELEASE_LADDER_S):
            # the limiter absorbs most of each added dB at this release time (over all the passes at
            # it: the last step alone reads lower near the target): release faster
            release_index += 1
            history = [history[-1]]
            continue
        # aim half the tolerance past the target: the limiter gives back less of each dB the higher the
        # gain (the slope falls), so a step sized by the last slope tends to stop short
        gain_db += (shortfall + math.copysign(LOUDNESS_TOLERANCE_LU / 2, shortfall)) / min(1.0, max(slope, MINIMUM_SLOPE))
    if limiter and report.limiting_max_db > 0.0:
        report.notes.append(
            f"true-peak limiter: up to {report.limiting_max_db:.2f} dB of gain reduction, above 0.1 dB for {report.limiting_s:.2f} s "
            f"of {report.duration_s:.2f} s (ceiling {report.ceiling_dbtp:g} dBTP, release {1000 * (report.release_s or 0):.0f} ms)"
        )
    if shortfall is not None and abs(shortfall) > LOUDNESS_TOLERANCE_LU and limiter:
        report.notes.append(f"loudness still {shortfall:+.2f} LU from the input after {report.passes} passes")
    return report


def process_blocks(
    source: BlockSource,
    sample_rate_hz: int,
    channels: int,
    setting: EqSetting,
    options: ApplyOptions = DEFAULT_OPTIONS,
    sink: Callable[[], Callable[[np.ndarray], None]] | None = None,
) -> ApplyReport:
    """The whole chain over a re-startable block source, streamed: every pass reads the source again and
    `sink()` gives a writer for one pass's output blocks (each pass starts a new writer; the last pass's
    output is the result). Gives the same output and report as `process_audio` on the whole signal."""
    design = design_eq(setting, sample_rate_hz, options.strength)
    first = _first_pass(source, sample_rate_hz, channels, design, options, keep_equalised=False)
    peak_dbtp = [None]

    def render(gain_db: float, release_s: float | None) -> tuple[float | None, LimiterStats | None]:
        write = sink() if sink is not None else (lambda block: None)
        output_meter, output_peak = LoudnessMeter(sample_rate_hz, first.meter_channels), TruePeakMeter(channels)
        equaliser = EqFilter(design, channels)
        scale = 10.0 ** (gain_db / 20.0)
        peak_limiter = TruePeakLimiter(sample_rate_hz, channels, options.ceiling_dbtp, release_s=release_s, input_gain=scale) if release_s is not None else None

        def emit(block: np.ndarray) -> None:
            if block.shape[-1]:
                if first.loudness_match:
                    output_meter.push(block)
                output_peak.push(block)
                write(block)

        for block in source():
            equalised = equaliser.process(np.asarray(block, dtype=np.float64))
            emit(peak_limiter.push(equalised) if peak_limiter is not None else equalised * scale)
        if peak_limiter is not None:
            emit(peak_limiter.flush())
        peak_dbtp[0] = _dbtp(output_peak)
        return (output_meter.integrated_lufs() if first.loudness_match else None), (peak_limiter.stats if peak_limiter is not None else None)

    report = _makeup_passes(first, render, options.limiter)
    report.output_true_peak_dbtp = peak_dbtp[0]
    return report


def process_audio(
    audio: np.ndarray,
    sample_rate_hz: int,
    setting: EqSetting,
    options: ApplyOptions = DEFAULT_OPTIONS,
    block_frames: int | None = None,
) -> tuple[np.ndarray, ApplyReport]:
    """EQ `(channels, samples)` audio, match its loudness, hold its true peak under the ceiling.

    Returns float32 audio of the same shape and the report. `block_frames` runs the first pass (EQ and
    metering) in blocks; the output is identical to one block. The make-up passes work on the equalised
    signal kept in memory: its 8x interval peaks are found once (`PreparedSignal`) and the output's true
    peak is measured once, on the last pass's output.
    """
    audio = np.atleast_2d(np.asarray(audio))
    channels = audio.shape[0]
    size = audio.shape[-1] if block_frames is None else max(1, int(block_frames))

    def source() -> Iterator[np.ndarray]:
        for start in range(0, audio.shape[-1], size):
            yield audio[:, start : start + size]

    design = design_eq(setting, sample_rate_hz, options.strength)
    first = _first_pass(source, sample_rate_hz, channels, design, options, keep_equalised=True)
    prepared = None
    if options.limiter and first.equalised:
        # samples already over the ceiling at the starting gain: limiting all but certain, so the make-up
        # passes will raise the gain; find the peaks for that at once (`DETECTION_HEADROOM_DB` lower)
        sample_peak = max(float(np.max(np.abs(block))) for block in first.equalised)
        certain = 20.0 * math.log10(max(sample_peak, 1e-300)) + first.gain_db > options.ceiling_dbtp
        # the blocks go straight into the padded copy the limiter uses (one copy of the signal, not two)
        prepared = PreparedSignal(first.equalised, sample_rate_hz=sample_rate_hz, headroom_first=certain)
        equalised = None
    else:
        equalised = np.concatenate(first.equalised, axis=1) if first.equalised else np.zeros((channels, 0))
    first.equalised.clear()
    result: list[np.ndarray] = []

    def render(gain_db: float, release_s: float | None) -> tuple[float | None, LimiterStats | None]:
        scale = 10.0 ** (gain_db / 20.0)
        stats = None
        if prepared is not None and release_s is not None:
            output, stats = limit_true_peak(prepared, sample_rate_hz, options.ceiling_dbtp, release_s=release_s, input_gain=scale)
        else:
            output = equalised * scale
        result[:] = [output]
        if not first.loudness_match:
            return None, stats
        if stats is None or stats.max_reduction_db == 0.0:  # nothing limited: the output is scale x equalised
            return first.equalised_meter.integrated_lufs(scale), stats
        meter = LoudnessMeter(sample_rate_hz, first.meter_channels)
        meter.push(output)
        return meter.integrated_lufs(), stats

    report = _makeup_passes(first, render, options.limiter)
    output = result[0]
    report.output_true_peak_dbtp = true_peak_dbtp(output)
    return output.astype(np.float32), report


def _output_format(input_path: Path, output_path: Path) -> tuple[str, str | None, list[str]]:
    """(libsndfile format, subtype, notes): the input's container and sample format wherever the output
    suffix allows (a WAVE_FORMAT_EXTENSIBLE input stays WAVEX; 24-bit FLAC stays PCM_24)."""
    info = sf.info(str(input_path))
    suffix_format = output_path.suffix.lstrip(".").upper() or info.format
    available = sf.available_formats()
    suffix_format = {"AIF": "AIFF", "OGA": "OGG"}.get(suffix_format, suffix_format)
    if suffix_format not in available:
        raise AudioLoadError(output_path, f"unknown output format '{output_path.suffix}'", f"use one of .{', .'.join(sorted(f.lower() for f in available))}")
    if suffix_format == "WAV" and info.format in ("WAVEX", "RF64"):
        suffix_format = info.format  # same .wav suffix: keep the extensible (or 64-bit) header
    if suffix_format == info.format and sf.check_format(suffix_format, info.subtype):
        return suffix_format, info.subtype, []
    if sf.check_format(suffix_format, info.subtype):  # e.g. 24-bit FLAC -> 24-bit WAV: keep the bit depth
        return suffix_format, info.subtype, [f"output format {suffix_format} differs from the input's {info.format}; sample format {info.subtype} kept"]
    return suffix_format, None, [f"output format {suffix_format} differs from the input's {info.format}/{info.subtype}: default subtype used"]


def apply_to_file(
    input_path: str | Path,
    output_path: str | Path,
    setting: EqSetting,
    options: ApplyOptions = DEFAULT_OPTIONS,
    block_frames: int | None = None,
) -> ApplyReport:
    """Read, equalise, loudness-match, limit and write atomically, keeping the sample rate, channels,
    container and sample format (and a WAVEX channel mask). Files above `IN_MEMORY_LIMIT_SAMPLES`
    (or any file when `block_frames` is given) are streamed in blocks; the output is the same."""
    from sonolab.atomic import atomic_path
    from sonolab.audio.io import load_audio

    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise AudioLoadError(output_path, "output would overwrite the input", "choose another output path")
    if not input_path.is_file():
        raise AudioLoadError(input_path, "file not found", "check the path")
    try:
        info = sf.info(str(input_path))
    except Exception as error:
        raise AudioLoadError(input_path, f"unreadable audio ({error})", "re-export or remove the file") from error
    file_format, subtype, notes = _output_format(input_path, output_path)
    sample_rate_hz, channels = int(info.samplerate), int(info.channels)
    streamed = block_frames is not None or info.frames * info.channels > IN_MEMORY_LIMIT_SAMPLES
    size = int(block_frames or FILE_BLOCK_FRAMES)

    def source() -> Iterator[np.ndarray]:
        with sf.SoundFile(str(input_path)) as handle:
            for block in handle.blocks(blocksize=size, dtype="float64", always_2d=True):
                if not np.all(np.isfinite(block)):
                    raise AudioLoadError(input_path, "non-finite audio (NaN/inf samples)", "re-export or remove the file")
                yield block.T

    with atomic_path(output_path) as temporary:
        handles: list[sf.SoundFile] = []

        def sink() -> Callable[[np.ndarray], None]:
            for handle in handles:
                handle.close()
            handles.clear()
            handle = sf.SoundFile(str(temporary), "w", samplerate=sample_rate_hz, channels=channels, subtype=subtype, format=file_format)
            handles.append(handle)
            return lambda block: handle.write(np.asarray(block, dtype=np.float32).T)

        try:
            if streamed:
                report = process_blocks(source, sample_rate_hz, channels, setting, options, sink)
            else:  # in memory: the make-up passes reuse the equalised signal and its peaks; one write
                audio, _ = load_audio(input_path)  # checks truncation, emptiness and non-finite samples
                output, report = process_audio(audio, sample_rate_hz, setting, options)
                sink()(output)
        finally:
            for handle in handles:
                handle.close()
        mask = read_channel_mask(input_path) if file_format == "WAVEX" else None
        if mask is not None:
            write_channel_mask(temporary, mask)
    report.notes.extend(notes)
    if streamed:
        report.notes.append("processed in blocks (filter and limiter state carried across)")
    return report


# -- folders -----------------------------------------------------------------------------------------

REPORT_COLUMNS = (
    "input", "output", "status", "error", "duration_s", "input_loudness_lufs", "output_loudness_lufs", "loudness_change_lu",
    "input_true_peak_dbtp", "output_true_peak_dbtp", "makeup_gain_db", "limiting_max_db", "limiting_s", "peak_gain_cut_db", "notes",
)


def find_audio_files(folder: Path) -> list[Path]:
    """Audio files under `folder` (recursive, sorted), by suffix."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."))


def _apply_one(arguments: tuple[str, str, dict[str, float], ApplyOptions]) -> dict[str, Any]:
    """One file of a folder run; never raises (a failure becomes a row with its reason)."""
    input_path, output_path, setting, options = arguments
    row: dict[str, Any] = {"input": input_path, "output": output_path}
    try:
        report = apply_to_file(input_path, output_path, EqSetting.from_dict(setting), options)
    except Exception as error:  # listed in the report, never dropped
        return {**row, "status": "failed", "error": str(error) or type(error).__name__}
    values = report.to_dict()
    row.update({"status": "ok", "error": "", "notes": "; ".join(report.notes)})
    row.update({key: values[key] for key in REPORT_COLUMNS if key in values and key != "notes"})
    return row


def _format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def write_report_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The per-file CSV report, written atomically."""
    from sonolab.atomic import write_text_atomic

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REPORT_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _format_cell(row.get(key)) for key in REPORT_COLUMNS})
    return write_text_atomic(path, buffer.getvalue())


def _single_dsp_thread() -> None:
    """Worker initialiser of `apply_to_folder`: the DSP of this process runs on one thread."""
    from sonolab.audio.threads import THREADS_VARIABLE

    os.environ[THREADS_VARIABLE] = "1"


def apply_to_folder(
    input_dir: str | Path,
    output_dir: str | Path,
    setting: EqSetting,
    options: ApplyOptions = DEFAULT_OPTIONS,
    workers: int | None = None,
    report_path: str | Path | None = None,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every audio file under `input_dir` to the same relative path under `output_dir`, in parallel
    worker processes; returns one row per file (failures included, with their reason) and writes the CSV
    report (default `output_dir/eq_report.csv`)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = find_audio_files(input_dir)
    if not files:
        raise AudioLoadError(input_dir, "no audio files found", f"pass a folder holding {', '.join(AUDIO_SUFFIXES)} files")
    jobs = [(str(f), str(output_dir / f.relative_to(input_dir)), setting.to_dict(), options) for f in files]
    workers = max(1, min(int(workers or os.cpu_count() or 1), len(jobs)))
    rows: dict[str, dict[str, Any]] = {}
    if workers == 1:
        for job in jobs:
            rows[job[0]] = _apply_one(job)
            if on_file is not None:
                on_file(rows[job[0]])
    else:  # spawn: the parent may hold torch's thread pools, which do not survive a fork
        # one process per file already fills the cores: each runs its DSP on one thread
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_single_dsp_thread) as pool:
            futures = {pool.submit(_apply_one, job): job for job in jobs}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # a worker that died: still listed
                    row = {"input": job[0], "output": job[1], "status": "failed", "error": f"worker failed: {error}"}
                rows[job[0]] = row
                if on_file is not None:
                    on_file(row)
    ordered = [rows[job[0]] for job in jobs]
    write_report_csv(Path(report_path) if report_path is not None else output_dir / "eq_report.csv", ordered)
    return ordered
