"""musicnn embedding speed on CPU: decode 30 s MP3 clips and compute taggram + penultimate embeddings.

    PYTHONPATH=src python benchmarks/musicnn_speed.py [--clips 20] [--threads 2]

Generates `--clips` music-like 30 s clips (44.1 kHz stereo MP3: chords, a beat, noise), then times per clip
decoding (soundfile) + mono + 16 kHz resampling + log-mel + patches, and the network; baseline: the same
network with its layers in the literal TF order (conv -> ReLU -> batch norm -> frequency max over the full
maps) instead of sonolab's equivalent order (max first, then ReLU and batch norm on the pooled maps).
Prints patches/s and the projected wall time for 1,000 clips of 30 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, ratio  # noqa: E402

from sonolab.audio.io import load_audio  # noqa: E402
from sonolab.audio.musicnn_input import musicnn_input  # noqa: E402
from sonolab.models import musicnn  # noqa: E402


class LiteralOrder(musicnn.MusiCNN):
    """The TF graph's order: batch norm and ReLU on the full (time x frequency) maps, then the max."""

    @staticmethod
    def _frequency_max(conv, bn, x):
        return bn(F.relu(conv(x))).amax(dim=3)


def music_clip(index: int, rng: np.random.Generator, seconds: float = 30.0, sample_rate_hz: int = 44100) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    root_hz = 110.0 * 2 ** (index % 12 / 12)
    chord = sum(np.sin(2 * np.pi * root_hz * ratio_ * h * t) / h for ratio_ in (1.0, 1.26, 1.5) for h in (1, 2, 3))
    beat = np.sin(2 * np.pi * 60 * t) * np.exp(-((t * (1.5 + index % 4 * 0.25)) % 1.0) * 12)
    left = 0.05 * chord + 0.3 * beat + 0.01 * rng.standard_normal(t.size)
    right = 0.05 * np.roll(chord, 441) + 0.3 * beat + 0.01 * rng.standard_normal(t.size)
    return np.stack([left, right]).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(machine_line())
    print(f"load average at start: {os.getloadavg()[0]:.1f} (other processes share these cores)")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for index in range(args.clips):
            path = Path(tmp) / f"clip{index:03d}.mp3"
            sf.write(str(path), music_clip(index, rng).T, 44100, format="MP3")
            paths.append(path)
        network = musicnn.load_musicnn()
        literal = LiteralOrder()
        literal.load_state_dict(network.state_dict())
        literal.eval()
        musicnn.run_patches(musicnn_input(np.zeros(48000, np.float32), 16000), model=network)  # warm-up
        decode_s = network_s = literal_s = 0.0
        patches_total = 0
        max_difference = 0.0
        for path in paths:
            start = time.perf_counter()
            audio, sample_rate_hz = load_audio(path)
            patches = musicnn_input(audio.mean(axis=0), sample_rate_hz)
            decode_s += time.perf_counter() - start
            start = time.perf_counter()
            _, embeddings = musicnn.run_patches(patches, model=network)
            network_s += time.perf_counter() - start
            start = time.perf_counter()
            _, literal_embeddings = musicnn.run_patches(patches, model=literal)
            literal_s += time.perf_counter() - start
            max_difference = max(max_difference, float(np.abs(embeddings - literal_embeddings).max()))
            patches_total += len(patches)
    print(f"loss-free reorder check: max |embedding difference| {max_difference:.2e}")
    per_clip_s = (decode_s + network_s) / args.clips
    print(f"{args.clips} clips of 30 s, {patches_total} patches, {args.threads} threads")
    print(f"decode + resample + log-mel: {decode_s / args.clips * 1000:.0f} ms/clip")
    print(f"network: {patches_total / network_s:.1f} patches/s ({network_s / args.clips * 1000:.0f} ms/clip); "
          f"literal TF order: {patches_total / literal_s:.1f} patches/s; sonolab's order is {ratio(literal_s, network_s)}")
    print(f"total {per_clip_s:.2f} s/clip -> {per_clip_s * 1000 / 60:.1f} min per 1,000 clips of 30 s")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
