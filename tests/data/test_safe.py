"""SAFE-DB parsing: descriptor cleaning, malformed rows reported, contributors pseudonymised and grouped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from sonolab.data.safe import (
    bundled_safe_csv,
    clean_descriptor,
    grouped_holdout,
    hash_contributor,
    load_safe_csv,
    write_pseudonymised_copy,
)
from sonolab.errors import DatasetError

GOOD_VALUES = ["3", "100", "2", "300", "0.71", "-1", "1000", "1.5", "0", "3000", "0.71", "4", "8000"]
IP_PATTERN = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


def _row(entry_id: int, descriptor: str, ip: str, values: list[str] | None = None) -> str:
    values = GOOD_VALUES if values is None else values
    cells = [str(entry_id), f'"{descriptor}"', ip, "1", "1", *values, "", "", "", "", "", "", "abc123"]
    return ",".join(cells)


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "SAFEEqualiserUserData.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_descriptors_are_cleaned_and_aliased() -> None:
    assert clean_descriptor("  Warm ") == "warm"
    assert clean_descriptor("Brighter") == "bright"
    assert clean_descriptor("BASS   boost ") == "bass boost"
    assert clean_descriptor("brighter", aliases={}) == "brighter"


def test_malformed_rows_are_reported_with_row_number_and_reason(tmp_path: Path) -> None:
    bad_gain = list(GOOD_VALUES)
    bad_gain[0] = "15"
    not_number = list(GOOD_VALUES)
    not_number[3] = "abc"
    non_finite = list(GOOD_VALUES)
    non_finite[12] = "nan"
    lines = [_row(i, "Warm ", f"10.0.0.{i}") for i in range(1, 6)]
    lines += [
        _row(6, "warm", "10.0.0.9", bad_gain),  # row 6: gain outside ±12 dB
        _row(7, "warm", "10.0.0.9", not_number),  # row 7
        "8,warm,10.0.0.9,1,1,3,100",  # row 8: wrong column count
        _row(9, "warm", "10.0.0.9", non_finite),  # row 9
        _row(10, "test", "10.0.0.9"),
        _row(11, "re27", "10.0.0.9"),
        _row(12, "brighter", "10.0.0.1"),  # alias, but too rare
    ]
    dataset = load_safe_csv(_write(tmp_path, lines), min_count_per_term=3)
    problems = {problem.row_number: problem.reason for problem in dataset.problems}
    assert set(problems) == {6, 7, 8, 9}
    assert "low_shelf_gain_db=15" in problems[6] and "outside" in problems[6]
    assert "band1_centre_hz is not a number" in problems[7]
    assert "expected 25 columns, found 7" in problems[8]
    assert "not finite" in problems[9]
    assert dataset.terms == ["warm"] and len(dataset.rows) == 5
    assert dataset.dropped == {"non-descriptor 'test'": 1, "non-descriptor 're27'": 1, "terms with fewer than 3 rows": 1}
    assert dataset.summary()["problems"] == 4
    # the non-descriptor list is configurable
    assert "test" in load_safe_csv(tmp_path, non_descriptors=set(), min_count_per_term=1).terms


def test_contributors_are_hashed_never_kept_as_ips(tmp_path: Path) -> None:
    lines = [_row(i, "warm", f"192.168.1.{i % 3}") for i in range(1, 10)]
    dataset = load_safe_csv(_write(tmp_path, lines))
    assert len({row.contributor_id for row in dataset.rows}) == 3
    assert not any(IP_PATTERN.search(repr(row)) for row in dataset.rows)
    assert not IP_PATTERN.search(str(dataset.summary()))
    assert hash_contributor("1.2.3.4", "a") != hash_contributor("1.2.3.4", "b")  # salted
    copy = tmp_path / "copy" / "SAFEEqualiserUserData.csv"
    write_pseudonymised_copy(tmp_path, copy, "secret")
    assert not IP_PATTERN.search(copy.read_text())
    reloaded = load_safe_csv(copy)
    np.testing.assert_array_equal(reloaded.group_indices(), dataset.group_indices())
    np.testing.assert_allclose(reloaded.vectors(), dataset.vectors())


def test_grouped_holdout_keeps_contributors_whole(tmp_path: Path) -> None:
    lines = [_row(i, "warm" if i % 2 else "bright", f"10.1.{i % 11}.1") for i in range(1, 60)]
    dataset = load_safe_csv(_write(tmp_path, lines))
    train_index, holdout_index = grouped_holdout(dataset, 0.3, seed=0)
    train_groups = {dataset.rows[i].contributor_id for i in train_index}
    holdout_groups = {dataset.rows[i].contributor_id for i in holdout_index}
    assert train_groups.isdisjoint(holdout_groups) and holdout_groups
    assert len(train_index) + len(holdout_index) == len(dataset.rows)


def test_bundled_copy_is_clean_and_has_no_ip() -> None:
    path = bundled_safe_csv()
    assert not IP_PATTERN.search(path.read_text(encoding="utf-8"))
    dataset = load_safe_csv(path)
    assert dataset.rows_read == 1680 and dataset.problems == []
    counts = dataset.term_counts()
    assert counts["warm"] == 533 and counts["bright"] == 510  # 504 "bright" + 5 "brighter" + 1 "brightness"
    assert "test" not in counts and "re27" not in counts
    assert min(counts.values()) >= 5


def test_missing_csv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="SAFEEqualiserUserData.csv"):
        load_safe_csv(tmp_path)
