"""`verify` reports clusters of recordings that are copies of one another inside a dataset."""

from __future__ import annotations

import numpy as np
from dataset_fixtures import write_wav
from test_content_index import melody

from sonolab.data.copy_kinds import make_copy
from sonolab.data.verify import verify_dataset


def test_verify_lists_a_near_duplicate_cluster_with_what_matched(tmp_path):
    for number in range(4):
        write_wav(tmp_path / "a" / f"clip{number}.wav", melody(700 + number, duration_s=1.0), 16000)
    source = melody(700, duration_s=1.0)
    copy = make_copy(source, 16000, ("shift_trim", "noise_10_20db"), np.random.default_rng(2))  # 18 dB SNR
    write_wav(tmp_path / "b" / "upload.wav", copy.samples, 16000, subtype="FLOAT")
    report = verify_dataset("folder", tmp_path, workers=1, near_duplicates=True)
    clusters = [p for p in report.problems if p.kind == "near_duplicates"]
    assert not report.ok and len(clusters) == 1
    assert "a/clip0" in clusters[0].reason and "b/upload" in clusters[0].reason and "lag" in clusters[0].reason
    assert "a/clip1" not in clusters[0].reason
    assert verify_dataset("folder", tmp_path, workers=1).ok  # off by default (sonolab verify --near-duplicates)
