"""Leak-audit benchmark: plant copies of every kind (alone and in pairs) into FSDD and into an
ESC-50-sized set (generated, or real with `--esc-root`), run the copy detector the audit uses over ALL
pairs, and print recall per kind, false positives over all distinct pairs, and wall time (plus scaling
on subsets).

    PYTHONPATH=src python benchmarks/leak_audit.py [--fsdd-root ../shared/data/fsdd] [--esc-clips 2000]
    PYTHONPATH=src python benchmarks/leak_audit.py --skip-fsdd --esc-root ESC-50-master   # real ESC-50 clips

`--issue-table N` also plants N copies of each kind of the issue's table at the one setting it names (re-cut by
25 ms, polarity, white noise at 10 dB SNR, 0.6 s reverberation, 44.1 -> 22.05 kHz, +2 semitones, 0.9x speed, MP3;
the generator's draws spread over the ranges instead, where most copies are milder) into the ESC-50-sized set,
each copy in another of 5 folds than its source, and audits across folds as `sonolab audit` does; with
`--fsdd-padded`, also into the padded FSDD recordings (a speaker's recordings in one fold).

`--fsdd-padded` also places each FSDD recording in 5 s of digital silence at 44.1 kHz, as ESC-50 pads its
shorter recordings (real short sounds in long files). With `--esc-root`, false positives between clips of one ESC-50 recording (`src_file`: excerpts of one
take, which the official folds keep together) are counted apart from those between recordings.

A flagged pair is a true positive when it joins a copy with its source (or two copies of one source);
every other flagged pair is a false positive. On FSDD the flagged original pairs are also listed with
their waveform correlation at the best lag (>= 0.9 means the two files hold the same recording).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

from sonolab.audio.io import load_audio
from sonolab.data.esc50 import load_esc50
from sonolab.data.content_index import SearchSettings, find_copies
from sonolab.data.copy_kinds import ISSUE_TABLE, KINDS, make_copy, make_table_copy
from sonolab.data.fingerprint import FingerprintSettings
from sonolab.data.fingerprint_store import load_fingerprints

REPO = Path(__file__).resolve().parents[1]
SINGLE_KINDS = tuple(KINDS)


# --- a generated ESC-50-sized set: 50 classes of varied synthetic environmental sounds -----------

def _envelope(n: int, attack: int, rng: np.random.Generator) -> np.ndarray:
    env = np.exp(-np.arange(n) / max(1, n * rng.uniform(0.2, 0.8)))
    env[:attack] *= np.linspace(0, 1, attack)
    return env


def _event(family: int, spec: dict, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(sr * rng.uniform(*spec["event_s"]))
    t = np.arange(n) / sr
    if family == 0:  # harmonic tone with vibrato
        f0 = spec["f0"] * rng.uniform(0.9, 1.1)
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))) / sr
        x = sum(rng.uniform(0.3, 1) / h * np.sin(h * phase) for h in range(1, spec["harmonics"] + 1))
    elif family == 1:  # band-passed noise burst
        from scipy.signal import butter, sosfilt

        centre = spec["centre"] * rng.uniform(0.8, 1.2)
        sos = butter(4, [centre / 1.5, min(centre * 1.5, sr / 2.2)], btype="band", fs=sr, output="sos")
        x = sosfilt(sos, rng.standard_normal(n))
    elif family == 2:  # bird-like FM sweep
        f = spec["f0"] * 4 * (1 + rng.uniform(-0.3, 0.3) * t / t[-1] + 0.1 * np.sin(2 * np.pi * rng.uniform(10, 30) * t))
        x = np.sin(2 * np.pi * np.cumsum(f) / sr)
    elif family == 3:  # click train (clock, footsteps)
        x = np.zeros(n)
        period = int(sr / spec["rate"])
        for start in range(0, n, max(1, int(period * rng.uniform(0.9, 1.1)))):
            width = min(n - start, int(0.01 * sr))
            x[start:start + width] += rng.standard_normal(width) * np.exp(-np.arange(width) / (0.002 * sr))
    elif family == 4:  # engine: harmonic hum with amplitude modulation and noise
        f0 = spec["f0"] / 4 * rng.uniform(0.9, 1.1)
        x = sum(np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6)) / h for h in range(1, 8))
        x = x * (1 + 0.5 * np.sin(2 * np.pi * spec["rate"] * t)) + 0.3 * rng.standard_normal(n)
    else:  # rain: sparse drops on low noise
        x = 0.1 * rng.standard_normal(n)
        for start in rng.integers(0, n, size=int(spec["rate"] * n / sr)):
            width = min(n - start, int(0.004 * sr))
            x[start:start + width] += rng.uniform(0.5, 2) * np.sin(2 * np.pi * rng.uniform(1000, 6000) * np.arange(width) / sr)
    return (x * _envelope(n, int(0.005 * sr), rng)).astype(np.float32)


def generated_clip(class_index: int, clip_seed: int, sr: int = 44100, duration_s: float = 5.0) -> np.ndarray:
    spec_rng = np.random.default_rng(10_000 + class_index)
    family = class_index % 6
    spec = {"f0": spec_rng.uniform(100, 900), "harmonics": int(spec_rng.integers(2, 10)), "centre": spec_rng.uniform(300, 6000),
            "rate": spec_rng.uniform(2, 40), "event_s": (spec_rng.uniform(0.1, 0.4), spec_rng.uniform(0.5, 2.0)),
            "events": int(spec_rng.integers(1, 6))}
    rng = np.random.default_rng(clip_seed)
    n = int(sr * duration_s)
    out = (10 ** (rng.uniform(-60, -40) / 20) * rng.standard_normal(n)).astype(np.float32)
    active = n if rng.random() < 0.7 else int(n * rng.uniform(0.3, 0.7))  # some clips end in digital silence, as in ESC-50
    for _ in range(max(1, spec["events"] + int(rng.integers(-1, 2)))):
        event = _event(family, spec, sr, rng)
        start = int(rng.integers(0, max(1, active - event.size // 2)))
        end = min(active, start + event.size)
        out[start:end] += event[: end - start] * rng.uniform(0.3, 1.0)
    out[active:] = 0.0
    return (0.5 * out / (np.max(np.abs(out)) or 1.0)).astype(np.float32)


def make_generated_set(folder: Path, clips: int, seed: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for number in range(clips):
        item_id = f"gen{number:05d}_c{number % 50:02d}"
        path = folder / f"{item_id}.wav"
        sf.write(str(path), generated_clip(number % 50, seed * 1_000_003 + number), 44100, subtype="PCM_16")
        paths[item_id] = path
    return paths


def esc50_sources(root: Path, clips: int) -> tuple[dict[str, Path], dict[str, str]]:
    """The first `clips` ESC-50 clips (by file name) under `root` and each one's recording (`src_file`);
    the dataset's problems (missing or extra files, bad rows) are printed, not dropped silently."""
    index = load_esc50(root, strict=False)
    for problem in index.problems:
        print(f"  ESC-50 problem (left out): {problem.path}: {problem.reason}")
    items = sorted(index.items, key=lambda item: item.item_id)[:clips]
    return {item.item_id: item.path for item in items}, {item.item_id: item.group for item in items}


def pad_like_esc50(sources: dict[str, Path], folder: Path, seed: int, duration_s: float = 5.0) -> dict[str, Path]:
    """Each recording resampled to 44.1 kHz and padded with digital silence to `duration_s`, as ESC-50 pads its
    shorter recordings (at the start of the clip half of the time, elsewhere otherwise): real short sounds in long
    files, which must be told apart as the recordings themselves are."""
    from sonolab.audio.io import resample

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for item_id, path in sorted(sources.items()):
        audio, sr = load_audio(path, mono=True)
        sound = resample(audio, sr, 44100)[0][: int(duration_s * 44100)]
        clip = np.zeros(int(duration_s * 44100), dtype=np.float32)
        start = 0 if rng.random() < 0.5 else int(rng.integers(0, clip.size - sound.size + 1))
        clip[start:start + sound.size] = sound
        paths[item_id] = folder / f"{item_id}.wav"
        sf.write(str(paths[item_id]), clip, 44100, subtype="PCM_16")
    return paths


# --- planting and scoring ------------------------------------------------------------------------

def plant(sources: dict[str, Path], folder: Path, per_kind: int, per_pair: int, seed: int) -> dict[str, tuple[str, tuple[str, ...], object]]:
    """Write copies of random sources; returns copy id -> (source id, kinds, Copy)."""
    rng = np.random.default_rng(seed)
    ids = sorted(sources)
    plans = [(kind,) for kind in SINGLE_KINDS for _ in range(per_kind)]
    plans += [pair for pair in itertools.combinations(SINGLE_KINDS, 2) for _ in range(per_pair)]
    truth = {}
    for number, kinds in enumerate(plans):
        source, copy_id = ids[int(rng.integers(len(ids)))], f"copy{number:05d}_{'+'.join(kinds)}"
        truth[copy_id] = _planted(sources[source], folder, copy_id, source, kinds, lambda x, sr: make_copy(x, sr, kinds, rng))
    return truth


def _planted(path: Path, folder: Path, copy_id: str, source: str, kinds: tuple[str, ...], make) -> tuple[str, tuple[str, ...], object]:
    """Write `make(samples, rate)` of the audio at `path` as `folder/copy_id.wav`; (source id, kinds, Copy)."""
    audio, sr = load_audio(path, mono=True)
    copy = make(audio[0], sr)
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(str(folder / f"{copy_id}.wav"), copy.samples, copy.sample_rate_hz, subtype=copy.subtype)
    return source, kinds, copy


def plant_table(sources: dict[str, Path], folder: Path, per_kind: int, seed: int) -> dict[str, tuple[str, tuple[str, ...], object]]:
    """`per_kind` copies of each kind of the issue's table (`ISSUE_TABLE`: each at the one setting the issue names),
    each of another source; returns copy id -> (source id, (kind,), Copy)."""
    rng = np.random.default_rng(seed)
    kinds = [kind for kind in ISSUE_TABLE for _ in range(per_kind)]
    chosen = rng.choice(sorted(sources), size=len(kinds), replace=len(kinds) > len(sources))
    truth = {}
    for number, (kind, source) in enumerate(zip(kinds, chosen)):
        copy_id = f"table{number:05d}_{kind}"
        truth[copy_id] = _planted(sources[source], folder, copy_id, str(source), (kind,), lambda x, sr: make_table_copy(x, sr, kind, rng))
    return truth


def folds_of(sources: dict[str, Path], truth: dict, group_of: dict[str, str] | None, seed: int, folds: int = 5) -> dict[str, int]:
    """The audit's situation: each recording group (a clip, or its ESC-50 `src_file`) in one of `folds` folds, and
    every planted copy in another fold than its source."""
    rng = np.random.default_rng(seed)
    groups = sorted({(group_of or {}).get(i, i) for i in sources})
    fold_of_group = dict(zip(groups, rng.permutation(len(groups)) % folds))
    fold = {i: int(fold_of_group[(group_of or {}).get(i, i)]) for i in sources}
    for copy_id, (source, _, _) in sorted(truth.items()):
        fold[copy_id] = int((fold[source] + rng.integers(1, folds)) % folds)
    return fold


def report_table(name: str, sources: dict[str, Path], folder: Path, per_kind: int, group_of: dict[str, str] | None,
                 seeds: tuple[int, int], workers: int, identity_check: bool, recording_of: dict[str, str] | None = None) -> None:
    """Plant the issue's table into `sources` (`plant_table`, under `folder`), place every recording group and copy in
    the audit's folds (`folds_of`; `seeds`: of the planting and of the folds), audit across folds and print the result."""
    table = plant_table(sources, folder, per_kind, seed=seeds[0])
    paths = {**sources, **{copy_id: folder / f"{copy_id}.wav" for copy_id in table}}
    folds = folds_of(sources, table, group_of, seed=seeds[1])
    report(evaluate(name, paths, table, workers, None, folds), paths, identity_check=identity_check, recording_of=recording_of)


def waveform_identity(first: Path, second: Path) -> float:
    """Normalised waveform cross-correlation at the best lag (1.0: the same samples)."""
    from scipy.signal import fftconvolve

    x, _ = load_audio(first, mono=True)
    y, _ = load_audio(second, mono=True)
    x, y = x[0].astype(np.float64), y[0].astype(np.float64)
    return float(np.max(np.abs(fftconvolve(x, y[::-1]))) / np.sqrt((x @ x) * (y @ y)))


def evaluate(name: str, paths: dict[str, Path], truth: dict, workers: int, cache: Path | None,
             folds: dict[str, int] | None = None) -> dict:
    """Recall per kind, false positives and wall time of `find_copies` over every pair of `paths` (`folds`: over the
    pairs of clips in different folds only, as the audit compares them)."""
    settings, search = FingerprintSettings(), SearchSettings()
    start = time.perf_counter()
    prints, problems, _ = load_fingerprints(paths, settings, cache, workers, progress=False)
    fingerprint_s = time.perf_counter() - start
    ordered = [prints[i] for i in sorted(prints)]
    start = time.perf_counter()
    matches = find_copies(ordered, settings, search, workers=workers, blocks=folds, paths=paths)
    search_s = time.perf_counter() - start
    source_of = {copy_id: entry[0] for copy_id, entry in truth.items()}

    def root(item_id: str) -> str:
        return source_of.get(item_id, item_id)

    flagged = {frozenset((m.first, m.second)): m for m in matches}
    false_positives = [m for pair, m in flagged.items() if len({root(i) for i in pair}) > 1]
    recall: dict[str, list[bool]] = defaultdict(list)
    errors: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for copy_id, (source, kinds, copy) in truth.items():
        match = flagged.get(frozenset((copy_id, source)))
        recall["+".join(kinds)].append(match is not None)
        if match is not None:
            sign = 1 if match.first == source else -1
            pitch = sign * match.pitch_semitones
            tempo = match.tempo_ratio if sign == 1 else 1 / match.tempo_ratio
            errors["+".join(kinds)].append((pitch - copy.pitch_semitones, tempo / copy.tempo_ratio - 1))
    n = len(prints)
    pairs = n * (n - 1) // 2
    if folds is not None:
        sizes = np.bincount([folds[i] for i in prints])
        pairs -= int((sizes * (sizes - 1) // 2).sum())
    return {"name": name, "clips": n, "pairs": pairs, "fingerprint_s": fingerprint_s, "search_s": search_s,
            "truth": truth, "folds": folds is not None, "recall": recall, "errors": errors, "false_positives": false_positives, "problems": problems}


def report(result: dict, paths: dict[str, Path], identity_check: bool, recording_of: dict[str, str] | None = None) -> None:
    print(f"\n== {result['name']}: {result['clips']:,} clips, {result['pairs']:,} distinct pairs; fingerprints "
          f"{result['fingerprint_s']:.1f} s + index and confirmation {result['search_s']:.1f} s = "
          f"{result['fingerprint_s'] + result['search_s']:.1f} s wall (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    singles = {k: v for k, v in result["recall"].items() if "+" not in k}
    pairs = {k: v for k, v in result["recall"].items() if "+" in k}
    for kind, hits in sorted(singles.items()):
        err = np.array(result["errors"].get(kind, [(np.nan, np.nan)]))
        print(f"  {kind:16s} recall {np.mean(hits):.2f} ({sum(hits)}/{len(hits)})   pitch error median {np.nanmedian(np.abs(err[:, 0])):.2f} st, "
              f"tempo error median {100 * np.nanmedian(np.abs(err[:, 1])):.1f}%")
    all_pairs = [h for hits in pairs.values() for h in hits]
    if all_pairs:
        print(f"  pairs of kinds: recall {np.mean(all_pairs):.2f} ({sum(all_pairs)}/{len(all_pairs)}) over {len(pairs)} pairs; lowest:")
        for kind, hits in sorted(pairs.items(), key=lambda kv: np.mean(kv[1]))[:8]:
            print(f"    {kind:30s} {np.mean(hits):.2f} ({sum(hits)}/{len(hits)})")
    fps = result["false_positives"]
    print(f"  false positives: {len(fps)} of {result['pairs']:,} distinct pairs{' in different folds' if result.get('folds') else ''}")
    if recording_of is not None:  # a copy belongs to its source's recording
        source_of = {copy_id: entry[0] for copy_id, entry in result["truth"].items()}
        same = sum(1 for m in fps if len({recording_of.get(source_of.get(i, i)) for i in (m.first, m.second)}) == 1)
        print(f"    of which {same} between clips of one recording (src_file) and {len(fps) - same} between recordings")
    for match in fps[:15]:
        identity = f"; waveform identity {waveform_identity(paths[match.first], paths[match.second]):.2f}" if identity_check else ""
        print(f"    {match.first} ~ {match.second}: {match.describe()}{identity}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd-root", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--esc-clips", type=int, default=2000, help="clips in the ESC-50-sized set (with --esc-root: the first this many)")
    parser.add_argument("--esc-root", type=Path, default=None,
                        help="a real ESC-50 root (meta/esc50.csv, audio/): its clips replace the generated set")
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--per-pair", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scaling", type=str, default="250,500,1000", help="generated subset sizes timed for the scaling estimate")
    parser.add_argument("--seed", type=int, default=0, help="offset of every seed (validation runs use another)")
    parser.add_argument("--fsdd-speakers", type=str, default="", help="comma-separated subset of FSDD speakers (default: all)")
    parser.add_argument("--skip-fsdd", action="store_true")
    parser.add_argument("--fsdd-padded", action="store_true",
                        help="also plant into the FSDD recordings padded with digital silence to 5 s at 44.1 kHz (as ESC-50 pads)")
    parser.add_argument("--skip-generated", action="store_true")
    parser.add_argument("--issue-table", type=int, default=0, metavar="N",
                        help="also plant N copies of each kind of the issue's table at the setting it names (10 dB SNR, "
                             "0.6 s reverberation, +2 semitones, 0.9x speed, ...) into the ESC-50-sized set, in 5 folds "
                             "(each copy in another fold than its source), audited across folds as `sonolab audit` does")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leak_audit_"))
    try:
        if not args.skip_fsdd:
            speakers = set(filter(None, args.fsdd_speakers.split(",")))
            sources = {p.stem: p for p in sorted((args.fsdd_root / "recordings").glob("*.wav"))
                       if not speakers or p.stem.split("_")[1] in speakers}
            truth = plant(sources, work / "fsdd_copies", args.per_kind, args.per_pair, seed=1 + args.seed)
            paths = {**sources, **{copy_id: work / "fsdd_copies" / f"{copy_id}.wav" for copy_id in truth}}
            report(evaluate(f"FSDD {len(sources):,} recordings + planted copies", paths, truth, args.workers, None), paths,
                   identity_check=True)
            if args.fsdd_padded:
                padded = pad_like_esc50(sources, work / "fsdd_padded", seed=5 + args.seed)
                truth = plant(padded, work / "fsdd_padded_copies", args.per_kind, args.per_pair, seed=3 + args.seed)
                paths = {**padded, **{copy_id: work / "fsdd_padded_copies" / f"{copy_id}.wav" for copy_id in truth}}
                report(evaluate(f"FSDD {len(sources):,} recordings padded to 5 s at 44.1 kHz (as ESC-50) + planted copies",
                                paths, truth, args.workers, None), paths, identity_check=True)
                if args.issue_table:  # short sounds padded as ESC-50 pads them, at the table's settings, in the audit's folds
                    report_table(f"FSDD padded + the issue's table ({args.issue_table} copies of each kind), across 5 folds "
                                 "(a speaker's recordings in one fold)", padded, work / "fsdd_padded_table", args.issue_table,
                                 {i: i.split("_")[1] for i in padded}, (8 + args.seed, 9 + args.seed), args.workers,
                                 identity_check=True)
        if not args.skip_generated:
            start = time.perf_counter()
            recording_of = None
            if args.esc_root is not None:
                sources, recording_of = esc50_sources(args.esc_root, args.esc_clips)
                name = f"ESC-50 at {args.esc_root} ({len(sources):,} clips)"
            else:
                sources = make_generated_set(work / "generated", args.esc_clips, seed=7 + args.seed)
                print(f"\n(generated {len(sources):,} clips of 5 s at 44.1 kHz in {time.perf_counter() - start:.0f} s, not timed below)")
                name = f"generated ESC-50-sized set ({len(sources):,} x 5 s)"
            truth = plant(sources, work / "esc_copies", args.per_kind, args.per_pair, seed=2 + args.seed)
            paths = {**sources, **{copy_id: work / "esc_copies" / f"{copy_id}.wav" for copy_id in truth}}
            result = evaluate(f"{name} + planted copies", paths, truth, args.workers, None)
            report(result, paths, identity_check=args.esc_root is not None, recording_of=recording_of)
            if args.issue_table:
                report_table(f"{name} + the issue's table ({args.issue_table} copies of each kind), across 5 folds", sources,
                             work / "table_copies", args.issue_table, recording_of, (4 + args.seed, 6 + args.seed), args.workers,
                             identity_check=args.esc_root is not None, recording_of=recording_of)
            sizes, seconds = [], []
            for size in [int(s) for s in args.scaling.split(",") if s]:
                subset = dict(sorted(sources.items())[:size])
                timing = evaluate(f"subset {size}", subset, {}, args.workers, None)
                sizes.append(size)
                seconds.append(timing["fingerprint_s"] + timing["search_s"])
                print(f"  scaling: {size:,} clips in {seconds[-1]:.1f} s (fingerprints {timing['fingerprint_s']:.1f} s, search {timing['search_s']:.1f} s)")
            sizes.append(result["clips"])
            seconds.append(result["fingerprint_s"] + result["search_s"])
            exponent = float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])
            projected = seconds[-1] * (20000 / sizes[-1]) ** exponent
            print(f"  scaling exponent {exponent:.2f} (time ~ clips^{exponent:.2f}); projected 20,000 x 5 s: {projected / 60:.0f} min")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
