"""Convert the aisfx wheel's checkpoint into sonolab's shipped asset (safetensors + provenance JSON).

Usage (once, by a maintainer; sonolab itself never needs the aisfx package):

    pip download aisfx==0.1.2 --no-deps -d /tmp/aisfx_wheel
    python scripts/convert_aisfx.py /tmp/aisfx_wheel/aisfx-0.1.2-py2.py3-none-any.whl

It reads `aisfx/models/checkpoint.pth` straight out of the wheel (a zip) with
`torch.load(weights_only=True)` (no pickled code runs; the few numpy scalar types in the checkpoint's
dataset dictionary are allow-listed by name), keeps only the embedding network (`embedding_net.*`,
without BatchNorm's `num_batches_tracked` counters), and writes:

- `src/sonolab/assets/aisfx/aisfx_embedding.safetensors` (float32, names without the `embedding_net.` prefix)
- `src/sonolab/assets/aisfx/aisfx_embedding.json` (provenance: wheel name and sha256, source path,
  tensor names and shapes, the checkpoint's dataset keys, licence and citation)

The per-dataset classifier heads (`fc.*`) of the checkpoint are not shipped: the embedding is the product.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT / "src"))

from sonolab.atomic import atomic_path, write_json_atomic  # noqa: E402

CHECKPOINT_MEMBER = "aisfx/models/checkpoint.pth"
EMBEDDING_PREFIX = "embedding_net."
DEFAULT_OUT = REPOSITORY_ROOT / "src" / "sonolab" / "assets" / "aisfx"
WEIGHTS_NAME = "aisfx_embedding.safetensors"
PROVENANCE_NAME = "aisfx_embedding.json"
CITATION = (
    "Alison Bernice Ma and Alexander Lerch. Representation Learning for the Automatic Indexing of Sound "
    "Effects Libraries. Proceedings of the 23rd International Society for Music Information Retrieval "
    "Conference (ISMIR), Bengaluru, India, 2022, pp. 866-875."
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_checkpoint(wheel: Path) -> tuple[dict[str, torch.Tensor], dict, bytes]:
    """The (state_dict, dataset dict) tuple stored in the wheel, loaded without executing pickled code."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(CHECKPOINT_MEMBER)
    # The checkpoint was pickled under numpy 1.x: its dataset dictionary holds numpy int64 scalars,
    # referenced as `numpy.core.multiarray.scalar`. Allow exactly those types, by name.
    from numpy._core.multiarray import scalar  # numpy >= 2 location of the same function

    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, np.dtypes.Int64DType]
    with torch.serialization.safe_globals(allowed):
        state, datasets = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    return state, datasets, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="aisfx-0.1.2-py2.py3-none-any.whl from `pip download aisfx==0.1.2 --no-deps`")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    arguments = parser.parse_args(argv)

    wheel: Path = arguments.wheel
    if not wheel.is_file():
        parser.error(f"{wheel}: not found (fix: pip download aisfx==0.1.2 --no-deps -d DIR)")
    state, datasets, raw = load_checkpoint(wheel)

    embedding = {
        name[len(EMBEDDING_PREFIX):]: tensor.detach().to(torch.float32).contiguous()
        for name, tensor in state.items()
        if name.startswith(EMBEDDING_PREFIX) and not name.endswith("num_batches_tracked")
    }
    counters = {
        name[len(EMBEDDING_PREFIX):]: int(tensor)
        for name, tensor in state.items()
        if name.startswith(EMBEDDING_PREFIX) and name.endswith("num_batches_tracked")
    }
    out: Path = arguments.out
    out.mkdir(parents=True, exist_ok=True)
    metadata = {"source": f"{wheel.name}:{CHECKPOINT_MEMBER}", "licence": "CC-BY-4.0"}
    with atomic_path(out / WEIGHTS_NAME) as temporary:
        save_file(embedding, str(temporary), metadata=metadata)

    provenance = {
        "name": "aisfx embedding network (X-Sequential-CE, EmbeddingNet('max', 3, 1, 64))",
        "wheel": wheel.name,
        "wheel_sha256": sha256_of(wheel),
        "source_path": CHECKPOINT_MEMBER,
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": sha256_of(out / WEIGHTS_NAME),
        "weights_bytes": (out / WEIGHTS_NAME).stat().st_size,
        "dtype": "float32",
        "tensors": {name: list(tensor.shape) for name, tensor in embedding.items()},
        "dropped": {
            "classifier_heads": sorted({name.split(".")[1] for name in state if name.startswith("fc.")}),
            "num_batches_tracked": counters,
        },
        "training_datasets": {name: {"index": int(index), "num_classes": int(classes)} for name, (index, classes) in datasets.items()},
        "licence": "CC BY 4.0 (Creative Commons Attribution 4.0 International)",
        "authors": "Alison Bernice Ma, Alexander Lerch",
        "citation": CITATION,
        "project_url": "https://github.com/alisonbma/aisfx",
    }
    write_json_atomic(out / PROVENANCE_NAME, provenance)
    print(f"wrote {out / WEIGHTS_NAME} ({provenance['weights_bytes'] / 1e6:.1f} MB, {len(embedding)} tensors)")
    print(f"wrote {out / PROVENANCE_NAME} (wheel sha256 {provenance['wheel_sha256']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
