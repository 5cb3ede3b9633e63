"""Cold cache-building time of each clip-level feature kind on FSDD (or any dataset root), one run.

    python benchmarks/feature_kinds.py --limit 300                     # functionals (with/without F0), openSMILE
    python benchmarks/feature_kinds.py --limit 300 --kinds functionals --workers 2

Prints seconds, clips/s and the extrapolated time for 3,000 one-second clips (time scales with audio
duration: FSDD clips average ~0.5 s, so the extrapolation doubles the per-clip time).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_FSDD_ROOT, machine_line  # noqa: E402

CONFIGS = {
    "functionals": ("functionals", {}),
    "functionals_no_f0": ("functionals", {"f0": False}),
    "opensmile_egemaps": ("opensmile", {"feature_set": "eGeMAPSv02"}),
    "opensmile_compare": ("opensmile", {"feature_set": "ComParE_2016"}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DEFAULT_FSDD_ROOT)
    parser.add_argument("--dataset", default="fsdd")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None, help="default: sonolab's choice")
    parser.add_argument("--kinds", default=",".join(CONFIGS), help=f"comma-separated: {', '.join(CONFIGS)}")
    args = parser.parse_args()

    from sonolab.audio.io import audio_info_frames
    from sonolab.data.cache import build_feature_cache, open_feature_cache
    from sonolab.data.registry import load_dataset
    from sonolab.features import settings_from_dict

    print("# Feature kinds: cold cache building", flush=True)
    print(machine_line(), flush=True)
    items = load_dataset(args.dataset, args.root).items[: args.limit]
    seconds_of_audio = sum(frames / rate for frames, rate, _ in (audio_info_frames(item.path) for item in items))
    print(f"{len(items)} clips, {seconds_of_audio:.0f} s of audio (mean {seconds_of_audio / len(items):.2f} s)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="sonolab-kinds-"))
    try:
        for name in [part.strip() for part in args.kinds.split(",") if part.strip()]:
            kind, payload = CONFIGS[name]
            settings = settings_from_dict(kind, payload)
            start = time.perf_counter()
            result = build_feature_cache(items, settings, work / name, workers=args.workers, progress=False)
            elapsed_s = time.perf_counter() - start
            dim = open_feature_cache(work / name, settings).dim
            per_audio_second = elapsed_s / seconds_of_audio
            print(f"{name:20s} {elapsed_s:7.1f} s  {len(items) / elapsed_s:6.1f} clips/s  dim {dim:5d}  "
                  f"{result.cached_count} cached, {len(result.failures)} failed; 3,000 one-second clips: "
                  f"~{per_audio_second * 3000 / 60:.1f} min", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
