"""Reference outputs of the `musicnn==0.1.0` wheel's own TensorFlow code, for `tests/models/test_musicnn.py`.

Runs in the throw-away environment of `scripts/convert_musicnn.py` plus `tf-keras` (the wheel uses
`tf.compat.v1.layers`, which needs Keras 2: `pip install tf-keras` and `TF_USE_LEGACY_KERAS=1`):

    TF_USE_LEGACY_KERAS=1 /tmp/musicnn-ref/bin/python scripts/musicnn_reference.py --wheel /tmp/musicnn-wheel/musicnn-0.1.0-py3-none-any.whl

Generates a few clips (seeded), writes each as FLAC (the exact input: the wheel reads the file with
`librosa.load`), runs the wheel's `extractor.extractor(file, model='MSD_musicnn')` and stores its input
patches, taggram and penultimate features in `tests/data/musicnn_reference/{clip}.npz`, plus `reference.json`
(versions, wheel sha256, what each clip tests). Clips:
- `chord`: a C major chord (3 partials per note), 6 s at 16 kHz mono: 2 patches;
- `noise`: pink-ish noise, 4 s at 22.05 kHz mono: 1 patch and resampling;
- `short`: 2 s at 16 kHz (< 3 s): the wheel's extractor fails on it (no patch); the reference is the wheel's
  graph on its spectrogram repeat-padded to 187 frames (the training config's `pad_short: repeat-pad`);
- `stereo`: 10 s at 44.1 kHz stereo (different content per channel): 3 patches, downmix and resampling;
- `loud`: a 0.5-amplitude sine: the wheel's float16 log overflows to inf (recorded as `wheel_inputs_finite:
  false`; sonolab computes those values in float32, so there is no reference output to equal there).

Stored per clip: `patches` (the wheel's network input), `taggram` (the extractor's), `penultimate` (the
wheel's graph run on `patches`, one row per patch) and `extractor_penultimate` (what `extractor()` returns:
it repeats the first patch's penultimate features for every later patch, a bug of the wheel's loop that
concatenates `penultimate_` instead of `backend_`; kept to document it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "musicnn_reference"


def make_clips(seed: int = 0) -> dict[str, tuple[np.ndarray, int, str]]:
    """name -> (audio (channels, samples) float32 in [-1, 1], sample rate, what it tests)."""
    rng = np.random.default_rng(seed)

    def tones(freqs_hz, duration_s, sr, amplitude):
        t = np.arange(int(duration_s * sr)) / sr
        y = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) / (1 + k % 3) for k, f in enumerate(freqs_hz))
        return (amplitude * y / np.max(np.abs(y))).astype(np.float32)

    chord = [f * h for f in (261.63, 329.63, 392.0) for h in (1, 2, 3)]
    white = rng.standard_normal(4 * 22050)
    spectrum = np.fft.rfft(white) / np.sqrt(np.arange(1, 4 * 22050 // 2 + 2))  # ~1/f power
    pink = np.fft.irfft(spectrum, n=white.size)
    pink = (0.1 * pink / np.max(np.abs(pink))).astype(np.float32)
    t10 = np.arange(10 * 44100) / 44100
    envelope = (0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t10)) ** 2  # a 2 Hz pulse: some rhythm
    left = tones((110.0, 220.0, 330.0, 440.0), 10, 44100, 0.03) * envelope
    right = tones((146.83, 293.66, 587.33, 1174.66), 10, 44100, 0.03) * envelope[::-1]
    return {
        "chord": (tones(chord, 6, 16000, 0.04)[None], 16000, "C major chord, 6 s, 16 kHz mono"),
        "noise": (pink[None], 22050, "pink-ish noise, 4 s, 22.05 kHz mono (resampled)"),
        "short": (tones((196.0, 392.0), 2, 16000, 0.04)[None], 16000, "2 s clip, shorter than one 3 s patch (repeat-padded)"),
        "stereo": (np.stack([left, right]).astype(np.float32), 44100, "10 s, 44.1 kHz stereo (downmixed, resampled)"),
        "loud": (tones((440.0,), 3.5, 16000, 0.5)[None], 16000, "0.5-amplitude sine: the wheel's float16 log overflows"),
    }


class WheelGraph:
    """The wheel's MSD_musicnn graph (its own models.define_model), restored from its checkpoint."""

    def __init__(self, package: Path) -> None:
        import tensorflow as tf
        from musicnn import models

        tf.compat.v1.disable_eager_execution()
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            self.x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            self.is_training = tf.compat.v1.placeholder(tf.bool)
            outputs = models.define_model(self.x, self.is_training, "MSD_musicnn", 50)
            self.tags, self.penultimate = tf.nn.sigmoid(outputs[0]), outputs[-1]
        self.session = tf.compat.v1.Session()
        tf.compat.v1.train.Saver().restore(self.session, str(package / "MSD_musicnn") + "/")

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.session.run([self.tags, self.penultimate], feed_dict={self.x: batch, self.is_training: False})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import librosa
    import soundfile as sf
    import tensorflow as tf

    np.random.seed(0)  # nothing random is drawn by the wheel in inference; set for completeness
    args.out.mkdir(parents=True, exist_ok=True)
    wheel_sha256 = hashlib.sha256(args.wheel.read_bytes()).hexdigest()
    record = {"wheel": args.wheel.name, "wheel_sha256": wheel_sha256, "tensorflow": tf.__version__,
              "librosa": librosa.__version__, "numpy": np.__version__, "model": "MSD_musicnn", "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as archive:
            archive.extractall(tmp)
        sys.path.insert(0, tmp)
        from musicnn import extractor  # noqa: F401  (the wheel's code; disables eager execution)
        from musicnn.extractor import batch_data

        for name, (audio, sample_rate_hz, what) in make_clips().items():
            path = args.out / f"{name}.flac"
            sf.write(str(path), audio.T, sample_rate_hz, subtype="PCM_16")
            if name == "short":
                try:
                    extractor.extractor(str(path), model="MSD_musicnn", extract_features=True)
                    raise SystemExit("the wheel unexpectedly accepted a clip shorter than 3 s")
                except UnboundLocalError:  # `batch` is never assigned: no full patch
                    pass
                # the wheel's own spectrogram steps (extractor.batch_data, before its batching), then repeat-pad
                y, sr = librosa.load(str(path), sr=16000)
                rep = librosa.feature.melspectrogram(y=y, sr=sr, hop_length=256, n_fft=512, n_mels=96).T
                rep = np.log10(10000 * rep.astype(np.float16) + 1)
                batch = np.tile(rep, (int(np.ceil(187 / rep.shape[0])), 1))[None, :187]
                taggram, extractor_penultimate = WheelGraph(Path(tmp) / "musicnn")(batch)
            else:
                with np.errstate(over="ignore"):
                    taggram, _, features = extractor.extractor(str(path), model="MSD_musicnn", input_length=3,
                                                               input_overlap=False, extract_features=True)
                    batch, _ = batch_data(str(path), 187, 187)
                extractor_penultimate = features["penultimate"]
            graph_taggram, penultimate = WheelGraph(Path(tmp) / "musicnn")(batch)
            if not np.allclose(graph_taggram, taggram, atol=1e-6):
                raise SystemExit(f"{name}: the wheel's graph and its extractor disagree")
            np.savez_compressed(args.out / f"{name}.npz", patches=batch.astype(np.float32), taggram=np.asarray(taggram, np.float32),
                                penultimate=np.asarray(penultimate, np.float32),
                                extractor_penultimate=np.asarray(extractor_penultimate, np.float32))
            finite = bool(np.isfinite(batch).all())
            record["clips"][name] = {"file": path.name, "sample_rate_hz": sample_rate_hz, "channels": int(audio.shape[0]),
                                     "seconds": audio.shape[1] / sample_rate_hz, "patches": int(batch.shape[0]),
                                     "what": what, "wheel_inputs_finite": finite,
                                     "via": "wheel graph on repeat-padded spectrogram" if name == "short" else "extractor.extractor"}
            print(f"{name}: {batch.shape[0]} patches, wheel input finite: {finite}")
    (args.out / "reference.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
