"""Mechanics and wall time of `recipes/music_emotion_cpu.yaml` on generated MERGE-layout audio (30 s songs).

    python benchmarks/music_emotion.py --songs 40          # prints wall time per 1,000 songs (target: 15 min on 2 cores)

The songs are synthetic (tones, chords and noise per quadrant): the scores say only that the pipeline runs end to
end with artist-grouped folds; the wall time is what matters. The stages are timed from the run's own output.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=40)
    parser.add_argument("--duration-s", type=float, default=30.0)
    args = parser.parse_args()
    from merge_fixtures import make_merge_tree

    from sonolab.train.config import load_recipe
    from sonolab.train.runner import run

    work = Path(tempfile.mkdtemp(prefix="sonolab-music-"))
    started = time.perf_counter()
    tree = make_merge_tree(work / "merge", num_songs=args.songs, duration_s=args.duration_s, part="audio", songs_per_artist=2)
    print(f"generated {args.songs} songs of {args.duration_s:.0f} s in {time.perf_counter() - started:.0f} s")
    recipe = load_recipe(ROOT / "recipes" / "music_emotion_cpu.yaml", ["baseline.enabled=false"])
    started = time.perf_counter()
    out = run(recipe, root=tree.root, out_dir=work / "run", progress=False)
    seconds = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    print(f"music_emotion_cpu on {args.songs} generated songs ({summary['n_folds']} artist-grouped folds, head selected: "
          f"{summary.get('best_trial')}): {seconds:.0f} s = {seconds / args.songs * 1000 / 60:.1f} min per 1,000 songs "
          f"(target 15 min); macro-F1 {summary['metrics']['macro_f1']['mean']:.3f} (synthetic songs)")


if __name__ == "__main__":
    main()
