"""`find_copies(blocks=...)`: clips of one block (e.g. always in the same partition) never vote for each other, so
they take none of each clip's few candidates; copies across blocks are still found, long clips and short ones."""

from __future__ import annotations

import numpy as np

from sonolab.data.content_index import SearchSettings, _block_codes, find_copies, shortlist
from sonolab.data.copy_kinds import make_copy
from tests.data.test_content_index import SETTINGS, SR, fp, melody


def _clips(duration_s: float) -> list:
    source = melody(80, duration_s=duration_s)
    prints = [fp("source", source), fp("same_block_copy", -source)]
    noisy = make_copy(source, SR, ("noise_10_20db",), np.random.default_rng(4))
    prints.append(fp("other_block_copy", noisy.samples, noisy.sample_rate_hz))
    prints += [fp(f"other{i}", melody(90 + i, duration_s=duration_s)) for i in range(3)]
    return prints


def test_block_codes_give_unlabelled_clips_a_block_of_their_own():
    codes = _block_codes(["a", "b", "c", "d"], {"a": ("train", "test"), "b": ("train", "test"), "c": ("test", "train")})
    assert codes[0] == codes[1] != codes[2]
    assert codes[3] not in codes[:3]


def test_pairs_inside_a_block_are_not_shortlisted_and_copies_across_blocks_are_found():
    for duration_s in (5.0, 1.5):  # the triplet index (long clips) and the pair index (short clips)
        prints = _clips(duration_s)
        names = [p.item_id for p in prints]
        blocks = {"source": 0, "same_block_copy": 0, "other_block_copy": 1}
        codes = _block_codes(names, blocks)
        for candidate in shortlist(prints, SETTINGS, SearchSettings(), blocks=codes):
            assert codes[candidate.first] != codes[candidate.second], duration_s
        everywhere = {frozenset((m.first, m.second)) for m in find_copies(prints, SETTINGS)}
        across = {frozenset((m.first, m.second)) for m in find_copies(prints, SETTINGS, blocks=blocks)}
        assert frozenset(("source", "same_block_copy")) in everywhere - across, duration_s  # the block is what leaves it out
        assert frozenset(("source", "other_block_copy")) in across, duration_s
        assert frozenset(("same_block_copy", "other_block_copy")) in across, duration_s
        assert all(len({blocks.get(i, i) for i in pair}) == 2 for pair in across), duration_s
