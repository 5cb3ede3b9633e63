"""Training throughput: samples/s of forward+backward+optimiser step for the default CNN and ResNet-50
(built with `sonolab.models.registry.build_model`, random initialisation), on the CPU and on a GPU
when one is available. Inputs are log-mel-shaped batches `(batch, 1, n_mels, frames)`.

    python benchmarks/train_speed.py                     # CPU (+ GPU if present), default sizes
    python benchmarks/train_speed.py --steps 5 --batch-size 16 --devices cpu
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line  # noqa: E402

# name -> (model config, input (n_mels, frames)): the default CNN on the recipe's framing, and
# ResNet-50 on the users' 224 x 224 spectrogram size.
MODELS: dict[str, tuple[dict[str, Any], tuple[int, int]]] = {
    "default CNN": ({}, (64, 128)),  # filled with RECIPE_DEFAULTS["model"] at run time
    "resnet50": ({"name": "resnet50"}, (224, 224)),
}


def samples_per_second(config: dict[str, Any], shape: tuple[int, int], device: torch.device, batch_size: int,
                       steps: int, warmup: int, num_classes: int = 50) -> float:
    from sonolab.models.registry import build_model

    torch.manual_seed(0)
    model = build_model(dict(config), num_classes).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    features = torch.randn(batch_size, 1, *shape, device=device)
    labels = torch.randint(0, num_classes, (batch_size,), device=device)
    use_amp = device.type == "cuda"  # what the trainer uses on a GPU (16-mixed)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            loss = torch.nn.functional.cross_entropy(model(features), labels)
        loss.backward()
        optimiser.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch_size * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32, help="samples per step (the recipe default is 32)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model and device")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--devices", default="auto", help="auto (cpu, plus cuda if available), cpu, or cuda")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = parser.parse_args()

    from sonolab.train.config import RECIPE_DEFAULTS

    MODELS["default CNN"] = (dict(RECIPE_DEFAULTS["model"]), MODELS["default CNN"][1])
    if args.devices == "auto":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    else:
        devices = [part.strip() for part in args.devices.split(",")]
    print("# Training speed benchmark (forward + backward + AdamW step, random init)")
    print(machine_line())
    results: dict[str, dict[str, float]] = {}
    for device_name in devices:
        device = torch.device(device_name)
        label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
        print(f"\ndevice: {device_name} = {label}")
        for name, (config, shape) in MODELS.items():
            rate = samples_per_second(config, shape, device, args.batch_size, args.steps, args.warmup)
            results.setdefault(name, {})[device_name] = rate
            print(f"  {name:12s} ({config['name']}, input 1x{shape[0]}x{shape[1]}, batch {args.batch_size}): {rate:9.1f} samples/s", flush=True)
    if "cuda" in devices:
        print()
        for name, rates in results.items():
            gpu_over_cpu = rates["cuda"] / rates["cpu"] if "cpu" in rates else float("nan")
            print(f"  {name}: GPU {gpu_over_cpu:.1f}x faster than CPU")
    if args.json:
        args.json.write_text(json.dumps({"devices": devices, "samples_per_s": results}, indent=2))


if __name__ == "__main__":
    main()
