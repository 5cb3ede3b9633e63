"""Does the resampler matter downstream? aisfx embeddings of FSDD (8 kHz speech) with soxr HQ (sonolab's
default) and resampy kaiser_best (the wheel's librosa 0.9.2), each + logistic regression, leave-one-speaker-out.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 0 env PYTHONPATH=src \
        python scripts/aisfx_resampler_check.py --root ../shared/data/fsdd --takes 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sonolab.audio.io import load_audio
from sonolab.models.aisfx import embed_clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--takes", type=int, default=10, help="takes per speaker and digit (of 50)")
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    paths = sorted(p for p in (arguments.root / "recordings").glob("*.wav") if int(p.stem.split("_")[2]) < arguments.takes)
    labels = np.array([int(p.stem.split("_")[0]) for p in paths])
    speakers = np.array([p.stem.split("_")[1] for p in paths])
    audio = [load_audio(p)[0][0] for p in paths]
    rate = load_audio(paths[0])[1]
    print(f"{len(paths)} FSDD clips ({len(set(speakers))} speakers, {rate} Hz)")
    for resampler in ("soxr_hq", "kaiser_best"):
        start = time.perf_counter()
        blocks = embed_clips(audio, rate, resampler=resampler)
        features = np.stack([np.concatenate([b.mean(axis=0), b.max(axis=0)]) for b in blocks])
        seconds = time.perf_counter() - start
        scores = []
        for speaker in sorted(set(speakers)):
            test = speakers == speaker
            model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
            model.fit(features[~test], labels[~test])
            scores.append(float((model.predict(features[test]) == labels[test]).mean()))
        print(f"  {resampler:12s} LOSO accuracy {np.mean(scores):.1%} +- {np.std(scores):.1%} "
              f"(per speaker {', '.join(f'{s:.0%}' for s in scores)}); embeddings {len(paths) / seconds:.1f} clips/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
