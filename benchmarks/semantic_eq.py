"""Semantic EQ benchmark: evaluation over contributor splits on the real SAFE-DB copy, apply speed, and
loudness / true peak on generated "mastered" material.

    python benchmarks/semantic_eq.py [--root ../shared/data/safe] [--splits 5] [--markdown OUT.md]

1. For seeds 0..N-1: split the contributors (20 % held out), decide the vocabulary on the training
   contributors (>= 5 rows), train the model, and score model, per-term median and random settings on the
   held-out rows; prints seed 0's tables (held-out, then training-fit diagnostics) and the mean ± std over
   splits with the paired model-vs-median comparison.
2. Apply speed on 60 s of 44.1 kHz stereo: EQ + true-peak limiter (the DSP chain, target >= 500x real
   time), and the whole `process_audio` (loudness and true-peak metering, make-up iterations), beside
   the EQ alone.
3. `eq apply bright|warm` (the default generator) on generated mastered material (pink noise and a
   song-like mix through a hard compressor, sample peaks at 0 dBFS): loudness change, true peak
   (checked with scipy's 4x resampler), limiting, centroid change; and pedalboard's limiters measured on
   the same job where pedalboard is installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "safe"
SAMPLE_RATE_HZ = 44100


def evaluation_section(root: Path, splits: int) -> str:
    from sonolab.data.safe import load_safe_csv
    from sonolab.semantic_eq.evaluate import evaluate_splits, splits_markdown, table_markdown

    dataset = load_safe_csv(root, min_count_per_term=1)
    started = time.perf_counter()
    summary = evaluate_splits(dataset, list(range(splits)), on_split=lambda seed, r: print(f"  split {seed} done ({time.perf_counter() - started:.0f} s)", flush=True))
    elapsed_s = time.perf_counter() - started
    first = summary["splits"][0]
    per_split = ["| seed | held-out contributors | held-out rows (per term) | vocabulary (>= 5 training rows) | model dB | median dB | random dB |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for split in summary["splits"]:
        held = split["held_out"]["generators"]
        per_split.append(
            f"| {split['seed']} | {split['contributors_holdout']} | {split['rows_holdout']} ({', '.join(f'{t} {c}' for t, c in split['holdout_term_counts'].items())}) | "
            f"{', '.join(split['vocabulary'])} | {held['model']['response_rmse_db_rows']:.2f} | {held['median']['response_rmse_db_rows']:.2f} | {held['random']['response_rmse_db_rows']:.2f} |"
        )
    return "\n".join([
        f"SAFE-DB at {dataset.source}: {dataset.rows_read} rows, {len(dataset.rows)} usable over {len(dataset.terms)} distinct terms; "
        f"dropped {dataset.dropped}; {len(dataset.problems)} malformed rows. {splits} splits in {elapsed_s:.0f} s (train + evaluate each).",
        "",
        "#### Over the contributor splits",
        "",
        splits_markdown(summary),
        "",
        "Per split (held-out row counts vary a lot: contributors gave from 1 to hundreds of settings):",
        "",
        *per_split,
        "",
        f"#### One split in full (seed {first['seed']}: {first['contributors_holdout']} held-out contributors, {first['rows_holdout']} rows)",
        "",
        table_markdown(first),
    ])


def _best_of(function, repeats: int) -> float:
    return _best_wall_and_cpu(function, repeats)[0]


def _best_wall_and_cpu(function, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best process CPU time (s) over `repeats` calls. On a shared machine the CPU
    time moves less with the load than the wall clock (it still rises when the cores are contended)."""
    walls, cpus = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - started_cpu)
    return min(walls), min(cpus)


def speed_section(repeats: int = 5) -> str:
    """The apply speed on 60 s of 44.1 kHz stereo, on one DSP thread (`SONOLAB_DSP_THREADS=1`, the baseline) and on
    every core this process may use, alternated in the same run, with the ratio."""
    from sonolab.audio.eq import EqFilter, EqSetting, apply_design, design_eq
    from sonolab.audio.limiter import limit_true_peak
    from sonolab.audio.threads import THREADS_VARIABLE, dsp_threads
    from sonolab.semantic_eq.apply import process_audio
    from sonolab.semantic_eq.material import song_like_mix

    duration_s = 60.0
    setting = EqSetting(-4.0, 120.0, 3.0, 300.0, 1.2, -2.0, 1000.0, 0.8, 5.0, 3500.0, 0.8, 4.0, 6500.0)
    design = design_eq(setting, SAMPLE_RATE_HZ)
    noise = (0.1 * np.random.default_rng(0).standard_normal((2, int(SAMPLE_RATE_HZ * duration_s)))).astype(np.float32)
    mastered = song_like_mix(duration_s, SAMPLE_RATE_HZ, seed=0)
    limit_true_peak(noise[:, :5000], SAMPLE_RATE_HZ)  # compile the numba kernels outside the timing
    process_audio(mastered[:, : 3 * SAMPLE_RATE_HZ], SAMPLE_RATE_HZ, setting)
    load_before = os.getloadavg()[0]
    previous = os.environ.get(THREADS_VARIABLE)
    os.environ.pop(THREADS_VARIABLE, None)
    cores = dsp_threads()

    def cell(seconds: tuple[float, float]) -> str:
        wall_s, cpu_s = seconds
        return f"{wall_s * 1000:.0f} ms = **{duration_s / wall_s:.0f}x** (CPU {cpu_s * 1000:.0f} ms)"

    lines = [
        "| 60 s of 44.1 kHz stereo | DSP threads | EQ alone (`apply_design`) | EQ + true-peak limiter (DSP chain) | whole `process_audio` (what `eq apply` runs: metering + make-up passes) | passes | limiting |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    try:
        for name, audio in (("white noise at -20 dBFS RMS (nothing to limit)", noise), ("song-like mix, mastered (limits all along)", mastered)):
            def chain() -> None:
                equalised = EqFilter(design, 2).process(audio)
                limit_true_peak(equalised, SAMPLE_RATE_HZ)

            timings: dict[int, list[tuple[float, float]]] = {}
            for _ in range(2):  # alternate the two settings twice; keep each one's best
                for threads in sorted({1, cores}):
                    os.environ[THREADS_VARIABLE] = str(threads)
                    measured = [_best_wall_and_cpu(lambda: apply_design(audio, design), repeats), _best_wall_and_cpu(chain, repeats),
                                _best_wall_and_cpu(lambda: process_audio(audio, SAMPLE_RATE_HZ, setting), max(1, repeats // 2))]
                    timings[threads] = measured if threads not in timings else [min(a, b) for a, b in zip(timings[threads], measured)]
            _, report = process_audio(audio, SAMPLE_RATE_HZ, setting)
            for threads in sorted(timings):
                eq_s, chain_s, whole_s = timings[threads]
                lines.append(f"| {name} | {threads} | {cell(eq_s)} | {cell(chain_s)} | {cell(whole_s)} | {report.passes} | "
                             f"up to {report.limiting_max_db:.1f} dB for {report.limiting_s:.1f} s |")
            if cores > 1:
                one, many = timings[1], timings[cores]
                lines.append(f"| speed-up ({cores} threads): 1-thread time / {cores}-thread time | | {one[0][0] / many[0][0]:.2f}x | "
                             f"{one[1][0] / many[1][0]:.2f}x | {one[2][0] / many[2][0]:.2f}x | | |")
    finally:
        os.environ.pop(THREADS_VARIABLE, None)
        if previous is not None:
            os.environ[THREADS_VARIABLE] = previous
    try:
        from _common import machine_line

        machine = machine_line()
    except Exception:  # run from elsewhere: fall back to the platform string
        machine = platform.processor() or platform.machine()
    return "\n".join(lines) + (
        f"\n\nReal-time factors from the wall clock, best of {repeats} runs (whole `process_audio`: best of {max(1, repeats // 2)}), "
        f"each thread setting measured twice, alternated; in brackets the process CPU time (all threads). Target >= 500x real "
        f"time for the EQ + limiter chain. {machine}; load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} "
        "after the timings (the machine is shared)."
    )


def _true_peak_dbtp(audio: np.ndarray, oversampling: int = 4) -> float:
    from scipy import signal

    return float(20 * np.log10(np.max(np.abs(signal.resample_poly(np.asarray(audio, dtype=np.float64), oversampling, 1, axis=-1)))))


def _loudness_lufs(audio: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(SAMPLE_RATE_HZ).integrated_loudness(np.asarray(audio, dtype=np.float64).T))


def mastered_section(duration_s: float = 20.0) -> str:
    from sonolab.semantic_eq.apply import ApplyOptions, process_audio
    from sonolab.semantic_eq.default import load_eq_model
    from sonolab.semantic_eq.demo import spectral_centroid_hz
    from sonolab.semantic_eq.material import mastered_pink_noise, song_like_mix

    generator = load_eq_model()
    materials = {f"pink noise, mastered (seed {s})": mastered_pink_noise(duration_s, SAMPLE_RATE_HZ, seed=s) for s in (0, 1)}
    materials.update({f"song-like mix, mastered (seed {s})": song_like_mix(duration_s, SAMPLE_RATE_HZ, seed=s) for s in (0, 1)})
    lines = [
        f"Default generator: {generator.name} ({generator.source_name()}). Loudness by pyloudnorm, true peak by `scipy.signal.resample_poly(x, 4, 1)`: both independent of sonolab's meters.",
        "",
        "| material (20 s, 44.1 kHz stereo) | term | input LUFS / dBTP | output LU change | output dBTP (4x; 16x reference) | limiting (max dB, time) | release | passes | centroid Hz before -> after | `--no-limiter`: LU change |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    worst_lu, worst_tp, worst_fine, right_direction, cases = 0.0, -99.0, -99.0, 0, 0
    for name, audio in materials.items():
        for term in ("bright", "warm"):
            output, report = process_audio(audio, SAMPLE_RATE_HZ, generator.generate(term))
            plain, _ = process_audio(audio, SAMPLE_RATE_HZ, generator.generate(term), ApplyOptions(limiter=False))
            change = _loudness_lufs(output) - _loudness_lufs(audio)
            peak = _true_peak_dbtp(output)
            fine_peak = _true_peak_dbtp(output, 16)
            before, after = spectral_centroid_hz(audio, SAMPLE_RATE_HZ), spectral_centroid_hz(output, SAMPLE_RATE_HZ)
            cases += 1
            right_direction += int((after > before) == (term == "bright"))
            worst_lu, worst_tp, worst_fine = max(worst_lu, abs(change)), max(worst_tp, peak), max(worst_fine, fine_peak)
            lines.append(
                f"| {name} | {term} | {_loudness_lufs(audio):.1f} / {_true_peak_dbtp(audio):+.2f} | {change:+.2f} | {peak:.2f}; {fine_peak:.2f} | "
                f"{report.limiting_max_db:.1f} dB, {report.limiting_s:.1f} s | {1000 * (report.release_s or 0):.0f} ms | {report.passes} | {before:.0f} -> {after:.0f} | {_loudness_lufs(plain) - _loudness_lufs(audio):+.2f} |"
            )
    lines += ["", f"All {cases} cases: worst loudness change {worst_lu:.2f} LU (target 0.5), highest true peak {worst_tp:.2f} dBTP (ceiling -1; {worst_fine:.2f} at 16x), centroid moved the right way in {right_direction} of {cases}."]
    return "\n".join(lines) + "\n\n" + pedalboard_section(materials)


def pedalboard_section(materials: dict[str, np.ndarray]) -> str:
    """pedalboard's limiters on the same job (gain-matched bright output of the first material)."""
    try:
        import pedalboard
    except ImportError:
        return "pedalboard is not installed here: its limiters were not measured in this run."
    from sonolab.audio.eq import EqFilter, design_eq
    from sonolab.audio.limiter import limit_true_peak
    from sonolab.audio.loudness import integrated_loudness_lufs
    from sonolab.semantic_eq.default import load_eq_model

    name, audio = next(iter(materials.items()))
    setting = load_eq_model().generate("bright")
    equalised = EqFilter(design_eq(setting, SAMPLE_RATE_HZ), 2).process(audio)
    matched = equalised * 10 ** ((integrated_loudness_lufs(audio, SAMPLE_RATE_HZ) - integrated_loudness_lufs(equalised, SAMPLE_RATE_HZ)) / 20)
    lines = [
        f"pedalboard {pedalboard.__version__} on the same job ({name}, 'bright', gain-matched, before any make-up iteration; ceiling -1 dBTP):",
        "",
        "| limiter | output dBTP (4x) | LU change | 60 s speed | identical in 4096-sample blocks | latency |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    long_input = np.tile(matched, (1, 3)).astype(np.float32)

    def row(label: str, run, latency: str) -> None:
        output = run(matched.astype(np.float32))
        seconds = _best_of(lambda: run(long_input), 2)
        blocks = "-"
        if hasattr(run, "blocks"):
            blocks = "yes" if np.array_equal(run.blocks(matched.astype(np.float32)), output) else "no"
        lines.append(f"| {label} | {_true_peak_dbtp(output):.2f} | {_loudness_lufs(output) - _loudness_lufs(audio):+.2f} | {60.0 / seconds:.0f}x | {blocks} | {latency} |")

    def sonolab_run(x: np.ndarray) -> np.ndarray:
        return limit_true_peak(x, SAMPLE_RATE_HZ)[0]

    row("sonolab `TruePeakLimiter` (2 ms look-ahead, 50 ms release, 8x detection)", sonolab_run, "none (look-ahead compensated)")
    for label, plugin in (
        ("pedalboard `BrickwallLimiter(ceiling_db=-1, true_peak=True)`", pedalboard.BrickwallLimiter(ceiling_db=-1.0, true_peak=True)),
        ("pedalboard `Limiter(threshold_db=-1)` (JUCE)", pedalboard.Limiter(threshold_db=-1.0)),
    ):
        def run(x: np.ndarray, plugin=plugin) -> np.ndarray:
            return plugin(x, SAMPLE_RATE_HZ, reset=True)

        def blocks(x: np.ndarray, plugin=plugin) -> np.ndarray:
            plugin.reset()
            parts = [plugin(x[:, s : s + 4096], SAMPLE_RATE_HZ, reset=False) for s in range(0, x.shape[1], 4096)]
            return np.concatenate(parts, axis=1)

        run.blocks = blocks
        row(label, run, "look-ahead delay in the output" if "Brickwall" in label else "-")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="SAFE-DB folder (holding SAFEEqualiserUserData.csv)")
    parser.add_argument("--splits", type=int, default=5, help="contributor splits (seeds 0..N-1)")
    parser.add_argument("--skip-evaluation", action="store_true", help="only the apply sections")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the output to this Markdown file")
    arguments = parser.parse_args()
    sections = ["## Semantic EQ (SAFE-DB)\n"]
    if not arguments.skip_evaluation:
        sections.append("### Evaluation over contributor splits\n\n" + evaluation_section(arguments.root, arguments.splits))
    sections.append("### Apply speed\n\n" + speed_section())
    sections.append("### Loudness and true peak on mastered material\n\n" + mastered_section())
    text = "\n\n".join(sections) + "\n"
    print(text)
    if arguments.markdown is not None:
        from sonolab.atomic import write_text_atomic

        write_text_atomic(arguments.markdown, text)


if __name__ == "__main__":
    main()
