"""MERGE audio-only, lyrics-only and balanced parts: detection, forced parts, artist groups, listed problems."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge_fixtures import make_merge_tree  # noqa: E402

from sonolab.cli import app  # noqa: E402
from sonolab.data.merge import load_merge  # noqa: E402
from sonolab.data.merge_parts import normalise_artist, require_targets, targets_available  # noqa: E402
from sonolab.data.registry import load_dataset  # noqa: E402
from sonolab.data.splits import make_splits  # noqa: E402
from sonolab.data.verify import verify_index  # noqa: E402
from sonolab.errors import DatasetError  # noqa: E402

runner = CliRunner()


def _reasons(index) -> dict[str | None, str]:
    return {problem.item_id: problem.reason for problem in index.problems}


@pytest.fixture(scope="module")
def audio_tree(tmp_path_factory: pytest.TempPathFactory):
    return make_merge_tree(tmp_path_factory.mktemp("audio"), num_songs=12, duration_s=0.3, part="audio",
                           songs_per_artist=3, broken=True, broken_row=True)


@pytest.fixture(scope="module")
def lyrics_tree(tmp_path_factory: pytest.TempPathFactory):
    return make_merge_tree(tmp_path_factory.mktemp("lyrics"), num_songs=8, part="lyrics", broken=True)


def test_audio_only_root_loads_without_lyrics_and_lists_every_problem(audio_tree) -> None:
    index = load_dataset("merge", audio_tree.root)  # auto-detected: no lyrics on disk needed
    assert index.name == "merge_audio_complete" and len(index.items) == 12
    assert not list(audio_tree.root.rglob("*.txt"))
    song = audio_tree.songs[0]
    item = index.by_id()[song["audio_id"]]
    assert item.path == (audio_tree.root / song["quadrant"] / f"{song['audio_id']}.mp3").resolve()
    assert "lyrics_path" not in item.metadata and item.metadata["tvt"] == song["tvt"]
    assert item.targets["valence"] == pytest.approx(song["valence"], abs=1e-4)
    assert targets_available(index) == {"arousal", "valence"}
    require_targets(index)  # MERGE has valence/arousal: no error
    reasons = _reasons(index)
    assert reasons["AX01"] == "audio file missing"
    assert "unreadable audio" in reasons["AX02"]
    assert "absent from the metadata" in reasons["AX03"]
    broken = [p for p in index.problems if p.reason.startswith("bad metadata row")]
    assert len(broken) == 1 and "line 16" in broken[0].reason and "5 fields where the header has 4" in broken[0].reason
    assert len(index.problems) == 4, [p.to_dict() for p in index.problems]


def test_songs_are_grouped_by_normalised_artist_and_verify_reports_songs_per_artist(audio_tree) -> None:
    index = load_dataset("merge_audio", audio_tree.root)
    groups = {item.item_id: item.group for item in index.items}
    assert groups["A000"] == groups["A001"] == groups["A002"] == "artist:the artist 000"  # 'The Artist 000' / '  the  ARTIST 000 '
    assert groups["A003"] != groups["A000"]
    assert normalise_artist("  The\tBEATLES  ") == "the beatles"
    report = verify_index(index, workers=1)
    assert report.group_count == 4 and report.group_unit == "artists"
    assert report.songs_per_artist == {"artists": 4, "max_songs_per_artist": 3, "artists_with_several_songs": 4, "songs_without_artist": 0}
    assert report.to_dict()["songs_per_artist"]["max_songs_per_artist"] == 3


def test_lyrics_only_root_indexes_text_files_and_verify_does_not_decode_them(lyrics_tree) -> None:
    index = load_dataset("merge_lyrics", lyrics_tree.root)
    assert index.name == "merge_lyrics_complete" and len(index.items) == 8
    item = index.by_id()["L000"]
    assert item.path.suffix == ".txt" and item.metadata["lyrics_path"] == str(item.path)
    reasons = _reasons(index)
    assert reasons["LX01"] == "lyrics file missing"
    assert "empty" in reasons["LX02"]
    assert "absent from the metadata" in reasons["LX03"]
    report = verify_index(index, workers=1)
    assert report.readable_count == 8
    assert {p.item_id for p in report.problems} == {"LX01", "LX02", "LX03"}


def test_balanced_variant_and_a_folder_of_parts(tmp_path: Path) -> None:
    base = tmp_path / "MERGE"
    make_merge_tree(base / "MERGE_Audio_Balanced", num_songs=8, duration_s=0.3, part="audio", variant="balanced")
    make_merge_tree(base / "MERGE_Bimodal_Complete", num_songs=8, duration_s=0.3, seed=1)
    assert load_dataset("merge", base).name == "merge_bimodal_complete"  # bimodal first
    audio = load_dataset("merge_audio", base)
    assert audio.name == "merge_audio_balanced" and len(audio.items) == 8
    assert load_dataset("merge_audio", base, variant="balanced").name == "merge_audio_balanced"
    assert load_dataset("merge-audio-balanced", base).name == "merge_audio_balanced"
    with pytest.raises(DatasetError, match="no merge_audio_complete_metadata.csv.*found: merge_bimodal_complete_metadata.csv"):
        load_dataset("merge_audio_complete", base)
    with pytest.raises(DatasetError, match="no merge_lyrics"):
        load_dataset("merge_lyrics", base)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("merge_video", base)
    # the old single-argument API still reads a bimodal root
    assert load_merge(base / "MERGE_Bimodal_Complete").name == "merge_bimodal_complete"


def test_official_split_uses_the_parts_tvt_files(audio_tree) -> None:
    index = load_dataset("merge_audio", audio_tree.root)
    splits = make_splits(index, "official")
    expected = {s["audio_id"] for s in audio_tree.songs if s["tvt"] == "test"}
    assert set(splits.folds[0].test) == expected


def test_verify_cli_on_an_audio_only_root(audio_tree, tmp_path: Path) -> None:
    clean = make_merge_tree(tmp_path / "clean", num_songs=8, duration_s=0.3, part="audio", songs_per_artist=2)
    result = runner.invoke(app, ["verify", "merge_audio", "--root", str(clean.root), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "songs per artist: 4 artists, at most 2 songs by one artist, 4 artists with more than one song" in result.output
    result = runner.invoke(app, ["verify", "merge", "--root", str(audio_tree.root), "--json", "--workers", "1"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["dataset"] == "merge_audio_complete" and report["problem_counts"]["bad_row"] == 1


def test_tvt_file_missing_is_listed(tmp_path: Path) -> None:
    tree = make_merge_tree(tmp_path / "m", num_songs=4, duration_s=0.3, part="audio")
    shutil.rmtree(tree.root / "tvt_dataframes")
    index = load_dataset("merge", tree.root)
    assert len(index.items) == 4 and all("tvt" not in item.metadata for item in index.items)
    assert sum("official split file missing" in p.reason for p in index.problems) == 3


def test_bimodal_balanced_with_a_broken_row_and_a_missing_lyrics_file(tmp_path: Path) -> None:
    tree = make_merge_tree(tmp_path / "MERGE_Bimodal_Balanced", num_songs=8, duration_s=0.3, variant="balanced",
                           songs_per_artist=4, broken=True, broken_row=True)
    index = load_dataset("merge_bimodal", tree.root)
    assert index.name == "merge_bimodal_balanced" and len(index.items) == 8
    assert len({item.group for item in index.items}) == 2
    reasons = _reasons(index)
    assert reasons["AX01"] == "lyrics file missing" and "unreadable audio" in reasons["AX02"]
    assert any(p.reason.startswith("bad metadata row (line 12)") for p in index.problems)
