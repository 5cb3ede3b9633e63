"""Compute reference aisfx inputs and embeddings with the aisfx wheel's own code (run in a throw-away env).

sonolab does not depend on aisfx (it pins numpy 1.23 and librosa 0.9.2). This script is run once, in a
separate virtual environment, to store what the wheel computes, so that `tests/models/test_aisfx.py` can
check sonolab's reimplementation against it without the wheel:

    python -m venv --system-site-packages /tmp/aisfx-ref     # torch comes from the system site
    /tmp/aisfx-ref/bin/pip install "numpy==1.23.5" "librosa==0.9.2" "scipy<1.12" "numba<0.59" \
        "scikit-learn<1.4" "resampy==0.4.2" "soxr<0.4" "tqdm==4.62.3"
    /tmp/aisfx-ref/bin/pip install --no-deps aisfx-0.1.2-py2.py3-none-any.whl
    /tmp/aisfx-ref/bin/python scripts/aisfx_reference.py --fsdd /path/to/fsdd/recordings

(numpy 1.23.0, the wheel's pin, has no wheel for Python 3.11; 1.23.5 is the same API.)

Writes into `tests/data/aisfx_reference/`: the clips (generated ones as 16-bit WAV, a few real FSDD
recordings copied unchanged), `reference.npz` and `reference.json` (versions, clips, what each key means).

Reference path, exactly the wheel's functions:
- `aisfx.spectrogram.spectrogram_librosa.compute_spectrogram` (librosa.load at 44.1 kHz, peak
  normalisation, HTK unit-sum mel power, log10(1 + 10^4 x)); it returns `(96, frames)`. The wheel's
  `inference.main(spectrogram_type='librosa')` passes that straight to `blocking`, which blocks along its
  first axis (the mel bands): a bug of that path (the essentia path, the paper's, returns
  `(frames, bands)`). We transpose to `(frames, 96)` first, as the network expects.
- `aisfx.preprocessing.spectrogram_normalize(spec, 'original')` (min-max with 0 and 9.4578);
- `aisfx.inference.model_get_embedding` with `emb_hop_size` 0.5 / 1.0; where the wheel's `compute_hopSize`
  assertion (`hop < frames`) refuses a short clip, `aisfx.preprocessing.blocking` is called directly
  with the same hop (recorded as `wheel_refuses`);
- the model from `aisfx.inference.load_weights` + `load_bestModel` (CrossNet.get_embedding).
  `load_weights` calls `torch.load` with torch's default, which is `weights_only=True` since torch 2.6 and
  refuses the checkpoint's numpy scalars: this script sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 for the
  wheel's own loader (this throw-away env only; sonolab never unpickles).

librosa 0.9.2's `load` resamples with resampy `kaiser_best`; sonolab uses soxr HQ. For clips not at
44.1 kHz the script stores both: `*_wheel` (the wheel as shipped) and `*_soxr` (the wheel's code with
`librosa.load(..., res_type='soxr_hq')`, the only change).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # the wheel's own torch.load (see above)

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
OUT = REPOSITORY_ROOT / "tests" / "data" / "aisfx_reference"
FSDD_FILES = ("3_jackson_12.wav", "7_theo_31.wav", "9_yweweler_5.wav")
CONFIGS = {"h50_drop": (0.5, True), "h100_keep": (1.0, False)}


def generated_clips(seed: int = 20221204) -> dict[str, tuple[np.ndarray, int]]:
    """Deterministic test clips `(channels, samples)` and their rates."""
    rng = np.random.default_rng(seed)
    clips: dict[str, tuple[np.ndarray, int]] = {}
    sr = 44100
    t = np.arange(int(1.5 * sr)) / sr
    clips["sine_1k_44k"] = (0.3 * np.sin(2 * np.pi * 1000.0 * t)[None], sr)  # 65 frames: one padded block
    t = np.arange(int(2.5 * sr)) / sr
    clips["chirp_44k"] = (0.5 * librosa.chirp(fmin=100.0, fmax=16000.0, sr=sr, duration=2.5, linear=False)[None], sr)
    clips["noise_44k"] = (0.1 * rng.standard_normal(sr)[None], sr)  # 44 frames: the wheel refuses hop 50
    t = np.arange(int(0.3 * sr)) / sr
    clips["short_burst_44k"] = ((0.8 * np.exp(-t / 0.05) * np.sin(2 * np.pi * 3000.0 * t))[None], sr)  # 13 frames
    clips["silence_44k"] = (np.zeros((1, int(0.5 * sr))), sr)  # peak 0: left unnormalised
    t = np.arange(int(4.5 * sr)) / sr  # 194 frames: a partial last block for both hops
    tones = 0.2 * np.sin(2 * np.pi * 220.0 * t) * (t < 2.0) + 0.2 * np.sin(2 * np.pi * 5000.0 * t) * (t >= 2.0)
    bursts = 0.3 * rng.standard_normal(t.size) * ((t % 1.0) < 0.1)
    clips["long_mix_44k"] = ((tones + bursts)[None], sr)
    sr = 48000
    t = np.arange(int(1.5 * sr)) / sr
    left = 0.4 * np.sin(2 * np.pi * 440.0 * t)
    right = 0.2 * rng.standard_normal(t.size) + 0.1 * np.sin(2 * np.pi * 7000.0 * t)
    clips["stereo_48k"] = (np.stack([left, right]), sr)
    return clips


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd", type=Path, required=True, help="FSDD recordings folder (3 files are copied as test data)")
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()

    import aisfx
    from aisfx import inference, preprocessing
    from aisfx.spectrogram import spectrogram_librosa

    out: Path = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, (audio, sr) in generated_clips().items():
        path = out / f"{name}.wav"
        sf.write(str(path), audio.T.astype(np.float32), sr, subtype="PCM_16")
        files[name] = path
    for name in FSDD_FILES:
        path = out / name
        shutil.copyfile(arguments.fsdd / name, path)
        files[Path(name).stem] = path

    weights, datasets = inference.load_weights("cpu")
    model = inference.load_bestModel(weights, datasets, "cpu")

    original_load = librosa.load

    def spectrogram(path: Path, res_type: str | None) -> np.ndarray:
        if res_type is not None:
            librosa.load = lambda *a, **k: original_load(*a, **{**k, "res_type": res_type})
        try:
            spec = spectrogram_librosa.compute_spectrogram(
                filename=str(path), sr=inference.SAMPLE_RATE, block_size=inference.SPEC_BLOCK_LENGTH,
                hop_size=inference.SPEC_HOP_LENGTH, n_mels=inference.MEL_BINS, f_min=inference.F_MIN, f_max=inference.F_MAX,
            )
        finally:
            librosa.load = original_load
        return preprocessing.spectrogram_normalize(spec.T, spec_norm="original")  # (frames, 96)

    arrays: dict[str, np.ndarray] = {}
    manifest: dict[str, dict] = {}
    for name, path in files.items():
        info = sf.info(str(path))
        variants = {"wheel": None} if info.samplerate == 44100 else {"wheel": None, "soxr": "soxr_hq"}
        entry = {"file": path.name, "sample_rate_hz": info.samplerate, "channels": info.channels, "samples": info.frames,
                 "sha256": sha256_of(path), "variants": list(variants), "wheel_refuses": {}}
        for variant, res_type in variants.items():
            spec = spectrogram(path, res_type)
            arrays[f"{name}.{variant}.input"] = spec.astype(np.float32)
            entry.setdefault("frames", {})[variant] = int(spec.shape[0])
            for config, (emb_hop_size, drop) in CONFIGS.items():
                hop = int(np.round(inference.EMB_BLOCK_LENGTH * emb_hop_size))
                try:
                    embedding = inference.model_get_embedding(spec, emb_hop_size, drop, model, "cpu")
                    refused = False
                except AssertionError:  # compute_hopSize: hop must be < frames; block as `blocking` does
                    blocks = preprocessing.blocking(spec, inference.EMB_BLOCK_LENGTH, hop, drop)
                    with torch.no_grad():
                        embedding = model.get_embedding(torch.Tensor(blocks))
                    refused = True
                entry["wheel_refuses"][config] = refused
                arrays[f"{name}.{variant}.{config}"] = embedding.numpy().astype(np.float32)
        manifest[name] = entry

    with (out / "reference.npz").open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    import resampy
    import soxr

    payload = {
        "computed_by": "scripts/aisfx_reference.py",
        "aisfx": getattr(aisfx, "__version__", "0.1.2"),
        "versions": {"numpy": np.__version__, "librosa": librosa.__version__, "torch": torch.__version__,
                     "resampy": resampy.__version__, "soxr": soxr.__version__, "soundfile": sf.__version__},
        "keys": {
            "CLIP.VARIANT.input": "(frames, 96) normalised input: the wheel's spectrogram, transposed, min-max 'original'",
            "CLIP.VARIANT.h50_drop": "(n_blocks, 512) embeddings, emb_hop_size 0.5 (hop 50 frames), drop_partial_block True",
            "CLIP.VARIANT.h100_keep": "(n_blocks, 512) embeddings, emb_hop_size 1.0 (hop 100 frames), drop_partial_block False",
            "VARIANT": "wheel: as shipped (librosa 0.9.2 resamples with resampy kaiser_best); soxr: librosa.load(res_type='soxr_hq')",
        },
        "configs": {name: {"emb_hop_size": hop, "drop_partial_block": drop} for name, (hop, drop) in CONFIGS.items()},
        "clips": manifest,
    }
    (out / "reference.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(arrays)} arrays for {len(files)} clips to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
