"""verify: every kind of problem is found, listed with its file, and counted."""

from __future__ import annotations

import shutil

from dataset_fixtures import clip, make_esc50, make_folder_tree, make_fsdd, write_bad_files, write_wav

from sonolab.data.verify import verify_dataset


def test_clean_dataset_verifies_with_counts(tmp_path):
    report = verify_dataset("fsdd", make_fsdd(tmp_path, speakers=("a", "b", "c"), digits=range(4), takes=range(2)), workers=1)
    assert report.ok and report.file_count == 24 and report.readable_count == 24
    assert report.class_count == 4 and report.group_count == 3 and report.group_unit == "speakers"
    assert report.to_dict()["problems"] == []


def test_corrupt_empty_and_nan_files_are_all_listed(tmp_path):
    root = make_folder_tree(tmp_path, classes=("cat", "dog"), per_class=3)
    bad = write_bad_files(root / "dog")
    report = verify_dataset("folder", root, workers=1)
    assert not report.ok
    found = {problem.path: problem.kind for problem in report.problems}
    assert found == {str(bad["corrupt"]): "unreadable", str(bad["empty"]): "empty", str(bad["nan"]): "non_finite"}
    assert report.file_count == 9 and report.readable_count == 6
    assert report.to_dict()["problem_counts"] == {"unreadable": 1, "empty": 1, "non_finite": 1}


def test_truncated_duplicate_and_badly_named_files_are_listed(tmp_path):
    root = make_fsdd(tmp_path, speakers=("a", "b"), digits=range(2), takes=range(2))
    recordings = root / "recordings"
    shutil.copy(recordings / "0_a_0.wav", recordings / "1_b_7.wav")
    data = (recordings / "1_a_1.wav").read_bytes()
    (recordings / "1_a_1.wav").write_bytes(data[: len(data) // 2])
    write_wav(recordings / "one_a_9.wav", clip(5, 8000, 0.1), 8000)
    report = verify_dataset("fsdd", root, workers=2)
    kinds = {problem.item_id: problem.kind for problem in report.problems}
    assert kinds == {"1_b_7": "duplicate_content", "1_a_1": "truncated", "one_a_9": "bad_name"}
    duplicate = next(p for p in report.problems if p.kind == "duplicate_content")
    assert "0_a_0" in duplicate.reason


def test_esc50_metadata_vs_disk_and_clip_length(tmp_path):
    root = make_esc50(tmp_path, folds=range(1, 2), sources_per_fold=1)
    (root / "audio" / "1-100100-A-0.wav").unlink()
    write_wav(root / "audio" / "extra.wav", clip(1, 2000, 5.0), 2000)
    write_wav(root / "audio" / "1-100100-B-0.wav", clip(2, 2000, 3.0), 2000)  # not 5 s
    report = verify_dataset("esc50", root, workers=1)
    kinds = sorted(problem.kind for problem in report.problems)
    assert kinds == ["extra_file", "missing_file", "wrong_length"]
