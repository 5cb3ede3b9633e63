"""Calibrate the short-clip thresholds of the copy detector on VALIDATION speakers of FSDD only.

For every (speaker, digit) of the chosen speakers: the 50 takes plus planted copies of random takes (one per
hard kind, three random pairs of kinds) are searched with `find_copies(..., all_scores=True)`; every
shortlisted pair is scored (spectrogram score, waveform coherence, overlap, pitch). Distinct takes of one
digit by one speaker are the hard negatives. Prints, per rule, the lowest threshold that flags no negative
(the defaults in `SearchSettings` are set a little above these), and the recall of the planted copies under
the current defaults.

    PYTHONPATH=src python benchmarks/leak_short_calibration.py --speakers lucas,george,jackson

Never run it on the held-out speakers (nicolas, theo, yweweler): their numbers come from leak_audit.py only.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

from sonolab.audio.io import resample
from sonolab.data.content_index import SearchSettings, find_copies, is_short_copy, is_transformed, required_score
from sonolab.data.copy_kinds import KINDS, make_copy
from sonolab.data.fingerprint import FingerprintSettings, fingerprint_samples

REPO = Path(__file__).resolve().parents[1]
HARD_KINDS = [("noise_10_20db",), ("reverb",), ("pitch",), ("stretch",), ("shift_trim",), ("mp3",), ("resample",),
              ("polarity",), ("bit_depth",)]
HELD_OUT = {"nicolas", "theo", "yweweler"}


def group_records(root: Path, speaker: str, digit: int, rng: np.random.Generator, settings, search):
    """(is copy, copy id or "", match, shorter clip s) for every shortlisted pair of one speaker's takes of one
    digit and its planted copies; and copy id -> kind."""
    audio = {}
    for path in sorted(root.glob(f"{digit}_{speaker}_*.wav")):
        samples, rate_hz = sf.read(str(path), dtype="float32")
        audio[path.stem] = (samples, rate_hz)
    takes = sorted(audio)
    truth = {}
    pairs = list(itertools.combinations(KINDS, 2))
    plans = HARD_KINDS + [pairs[k] for k in rng.choice(len(pairs), 3, replace=False)]
    for number, kinds in enumerate(plans):
        source = takes[int(rng.integers(len(takes)))]
        copy = make_copy(audio[source][0], audio[source][1], kinds, rng)
        samples = np.round(copy.samples * 127) / 127 if copy.subtype == "PCM_U8" else copy.samples
        copy_id = f"copy{digit}_{speaker}_{number}_{'+'.join(kinds)}"
        audio[copy_id] = (samples.astype(np.float32), copy.sample_rate_hz)
        truth[copy_id] = (source, "+".join(kinds))
    prints = [fingerprint_samples(i, resample(x[None], rate, settings.sample_rate_hz)[0], settings) for i, (x, rate) in audio.items()]
    duration = {i: x.size / rate for i, (x, rate) in audio.items()}

    def root_of(item: str) -> str:
        return truth[item][0] if item in truth else item

    out = []
    for match in find_copies(prints, settings, search, all_scores=True):
        copy_id = match.first if truth.get(match.first, ("",))[0] == match.second else (
            match.second if truth.get(match.second, ("",))[0] == match.first else "")
        out.append((root_of(match.first) == root_of(match.second), copy_id, match, min(duration[match.first], duration[match.second])))
    return out, {copy_id: kinds for copy_id, (_, kinds) in truth.items()}


def flagged(match, shorter_s: float, search: SearchSettings) -> bool:
    """The decision `find_copies` takes for a short pair."""
    return is_short_copy(match, shorter_s, search)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd-root", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--speakers", type=str, default="lucas,george,jackson")
    parser.add_argument("--digits", type=str, default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    speakers = [s for s in args.speakers.split(",") if s]
    if HELD_OUT & set(speakers):
        raise SystemExit(f"{sorted(HELD_OUT & set(speakers))} are held out: calibrate on validation speakers only")
    settings, search = FingerprintSettings(), SearchSettings()
    rng = np.random.default_rng(1000 + args.seed)
    start = time.perf_counter()
    records, kinds = [], {}
    for speaker in speakers:
        for digit in [int(d) for d in args.digits.split(",") if d]:
            found_pairs, planted = group_records(args.fsdd_root / "recordings", speaker, digit, rng, settings, search)
            records += found_pairs
            kinds.update(planted)
    negatives = [(m, s) for is_copy, _, m, s in records if not is_copy]
    print(f"{len(records):,} shortlisted pairs ({len(negatives):,} not copies) of speakers {', '.join(speakers)} in "
          f"{time.perf_counter() - start:.0f} s (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"highest waveform coherence of a non-copy: {max(m.coherence for m, _ in negatives):.3f} "
          f"(coherence_threshold {search.coherence_threshold})")
    grid = np.round(np.arange(0.85, 1.0, 0.0025), 4)
    for label, pitched, current in (("without pitch change", False, search.short_clip_threshold),
                                    ("pitch-shifted", True, search.short_pitch_threshold)):
        group = [(m, s) for m, s in negatives if (abs(m.pitch_semitones) >= 0.2) == pitched]
        lowest = next((t for t in grid if not any(m.score >= required_score(m.overlap_s, replace(search, threshold=t), s, is_transformed(m))
                                                  for m, s in group)), None)
        print(f"spectrogram score, matches {label}: lowest threshold flagging no non-copy {lowest} (default {current})")
    hit = dict.fromkeys(kinds, False)  # a copy never shortlisted with its source is missed
    for _, copy_id, match, shorter_s in records:
        if copy_id:
            hit[copy_id] = hit[copy_id] or flagged(match, shorter_s, search)
    found: dict[str, list[bool]] = defaultdict(list)
    for copy_id, kind in kinds.items():
        found["pairs of kinds" if "+" in kind else kind].append(hit[copy_id])
    print("recall of planted copies at the defaults: " + ", ".join(f"{k} {np.mean(v):.2f} ({sum(v)}/{len(v)})" for k, v in sorted(found.items())))
    print(f"non-copies flagged at the defaults: {sum(flagged(m, s, search) for m, s in negatives)}")


if __name__ == "__main__":
    main()
