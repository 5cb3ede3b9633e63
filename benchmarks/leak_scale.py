"""Where planted long-clip copies are lost in a large generated draw (the draw of `leak_audit.py`).

Each planted (copy, source) pair falls in one stage:

  not-shortlisted/cap   the triplet index votes for it, but neither clip keeps it among its
                        `candidates_per_item` first candidates (it is there with a cap of 64)
  not-shortlisted/none  no (or too few) votes
  top-pairs             shortlisted, then removed by `_top_pairs`
  score                 confirmed with a score under its required score
  found                 flagged

Only the planted pairs are confirmed (the confirmation of a pair does not depend on the other clips),
so this costs two shortlists and a few hundred confirmations, not a full audit. `--groups G` then
shortlists the same copies again in G small sets (each copy with its source only) and confirms them
there: what the large set loses against a small one.

    PYTHONPATH=src python benchmarks/leak_scale.py --seed 1 --esc-clips 2000 --cache /tmp/leak_scale
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

import sonolab.data.content_index as ci
from sonolab.data.fingerprint import Fingerprint, FingerprintSettings
from sonolab.data.fingerprint_store import load_fingerprints

sys.path.insert(0, str(Path(__file__).resolve().parent))
import leak_audit  # noqa: E402  (the draw: `make_generated_set`, `plant`)

Pair = tuple[int, int]


def draw(cache: Path, clips: int, per_kind: int, per_pair: int, seed: int, workers: int) -> tuple[list[Fingerprint], dict]:
    """Fingerprints of `leak_audit.py`'s generated draw for `seed` (pickled in `cache`) and copy id -> source id, kinds."""
    stored = cache / f"draw_seed{seed}_{clips}_{per_kind}_{per_pair}.pkl"
    if stored.exists():
        return pickle.loads(stored.read_bytes())
    sources = leak_audit.make_generated_set(cache / f"seed{seed}" / "generated", clips, seed=7 + seed)
    planted = leak_audit.plant(sources, cache / f"seed{seed}" / "copies", per_kind, per_pair, seed=2 + seed)
    paths = {**sources, **{c: cache / f"seed{seed}" / "copies" / f"{c}.wav" for c in planted}}
    prints, _, _ = load_fingerprints(paths, FingerprintSettings(), None, workers, progress=False)
    result = ([prints[i] for i in sorted(prints)], {c: (source, "+".join(kinds)) for c, (source, kinds, _) in planted.items()})
    stored.write_bytes(pickle.dumps(result))
    return result


def _key(candidate: ci.Candidate) -> Pair:
    return min(candidate.first, candidate.second), max(candidate.first, candidate.second)


def raw_shortlist(usable: list[Fingerprint], search: ci.SearchSettings) -> dict[Pair, ci.Candidate]:
    """`shortlist` before `_top_pairs`: the best direction of every voted pair."""
    return ci.voted_pairs(usable, FingerprintSettings(), search)[0]


def confirm_pairs(usable: list[Fingerprint], candidates: list[ci.Candidate], search: ci.SearchSettings) -> dict[Pair, tuple[float, float]]:
    """(score, required score) of each candidate, as `find_copies` confirms it; a match that `find_copies` flags under
    its required score (`ci.is_copy`: consistency, the background score, waveform tests)
    gets required score = its score."""
    ordered = sorted(candidates, key=lambda c: (c.first, c.second))
    settings = FingerprintSettings()
    ci._JOB.update(usable=usable, settings=settings, search=search, all_scores=True)
    try:
        matches = ci._confirm_chunk(ordered)
    finally:
        ci._JOB.clear()
    out = {}
    for match, candidate in zip(matches, ordered):
        first, second = usable[candidate.first], usable[candidate.second]
        shorter_s = min(first.duration_s, second.duration_s)
        required = ci.required_score(match.overlap_s, search, shorter_s, ci.is_transformed(match))
        flagged = ci.is_copy(match, shorter_s, settings, search)
        out[_key(candidate)] = (match.score, min(required, match.score) if flagged else required)
    return out


def stages(usable: list[Fingerprint], planted: dict[Pair, str], search: ci.SearchSettings) -> dict[Pair, tuple[str, int, float | None]]:
    """Stage, votes and score of every planted pair (module docstring)."""
    raw = raw_shortlist(usable, search)
    wide = raw_shortlist(usable, replace(search, candidates_per_item=64, short_candidates_per_item=64))
    long = np.array([fp.duration_s > search.triplets_above_s for fp in usable], dtype=bool)
    kept = {_key(c) for c in ci._top_pairs([c for c in raw.values() if long[c.first] and long[c.second]], search)}
    kept |= {p for p in raw if not (long[p[0]] and long[p[1]])}
    chosen = [raw.get(p) or wide[p] for p in planted if p in raw or p in wide]
    scores = confirm_pairs(usable, chosen, search)
    out = {}
    for pair in planted:
        score = scores.get(pair)
        if pair not in raw:
            stage = "not-shortlisted/cap" if pair in wide else "not-shortlisted/none"
        elif pair not in kept:
            stage = "top-pairs"
        else:
            stage = "found" if score[0] >= score[1] else "score"
        votes = (raw.get(pair) or wide.get(pair)).votes if pair in raw or pair in wide else 0
        out[pair] = (stage, votes, None if score is None else score[0])
    return out


def small_sets(prints: list[Fingerprint], truth: dict, groups: int, search: ci.SearchSettings) -> dict[str, tuple[float, float] | None]:
    """Copy id -> (score, required) of its pair found by the full `shortlist` of a small set (copies[g::groups] and
    their sources), None when that shortlist misses it."""
    by_id = {fp.item_id: fp for fp in prints if not fp.silent}
    copies = sorted(c for c in truth if c in by_id and truth[c][0] in by_id)
    out: dict[str, tuple[float, float] | None] = {}
    for group in range(groups):
        mine = copies[group::groups]
        ids = sorted(set(mine) | {truth[c][0] for c in mine})
        usable = [by_id[i] for i in ids]
        index = {item_id: k for k, item_id in enumerate(ids)}
        shortlisted = {_key(c): c for c in ci.shortlist(usable, FingerprintSettings(), search)}
        pairs = {c: tuple(sorted((index[c], index[truth[c][0]]))) for c in mine}
        scores = confirm_pairs(usable, [shortlisted[p] for p in pairs.values() if p in shortlisted], search)
        out.update({c: scores.get(p) for c, p in pairs.items()})
    return out


def group_of(kinds: str) -> str:
    return "pairs of kinds" if "+" in kinds else kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True, help="validation draws: 1, 2 (0 is the reported draw)")
    parser.add_argument("--esc-clips", type=int, default=2000)
    parser.add_argument("--per-kind", type=int, default=20)
    parser.add_argument("--per-pair", type=int, default=4)
    parser.add_argument("--groups", type=int, default=4, help="small sets for the comparison (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="fingerprinting processes")
    parser.add_argument("--cache", type=Path, required=True, help="folder for the draw's audio and pickled fingerprints")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    search = ci.SearchSettings()
    prints, truth = draw(args.cache, args.esc_clips, args.per_kind, args.per_pair, args.seed, args.workers)
    usable = [fp for fp in prints if not fp.silent]
    index = {fp.item_id: k for k, fp in enumerate(usable)}
    planted = {tuple(sorted((index[c], index[s]))): c for c, (s, _) in truth.items() if c in index and s in index}
    start = time.perf_counter()
    found = stages(usable, planted, search)
    print(f"seed {args.seed}: {len(usable):,} clips, {len(planted)} planted pairs; stages in {time.perf_counter() - start:.0f} s")
    table: dict[str, Counter] = defaultdict(Counter)
    low: dict[str, list[float]] = defaultdict(list)
    for pair, (stage, _, score) in found.items():
        kind = group_of(truth[planted[pair]][1])
        table[kind][stage] += 1
        if stage == "score":
            low[kind].append(score)
    for kind in sorted(table):
        scores = f"; scores under the threshold: median {np.median(low[kind]):.3f}, {sum(s >= 0.85 for s in low[kind])} of " \
                 f"{len(low[kind])} at 0.85 or more" if low[kind] else ""
        print(f"  {kind:16s} {dict(sorted(table[kind].items()))}{scores}")
    if args.groups:
        small = small_sets(prints, truth, args.groups, search)
        print(f"the same copies in {args.groups} small sets (each copy with its source), flagged there / in the large set:")
        flagged: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for pair, copy_id in planted.items():
            kind = group_of(truth[copy_id][1])
            there = small.get(copy_id)
            flagged[kind][0] += bool(there and there[0] >= there[1])
            flagged[kind][1] += found[pair][0] == "found"
            flagged[kind][2] += 1
        for kind, (there, here, total) in sorted(flagged.items()):
            print(f"  {kind:16s} small {there}/{total}, large {here}/{total}")


if __name__ == "__main__":
    main()
