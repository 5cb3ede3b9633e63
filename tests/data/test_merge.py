"""MERGE indexing: joins, official splits, targets, and problems listed with reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from merge_fixtures import make_merge_tree  # noqa: E402

from sonolab.data.merge import load_merge, read_lyrics  # noqa: E402
from sonolab.errors import DatasetError  # noqa: E402


@pytest.fixture(scope="module")
def broken_tree(tmp_path_factory: pytest.TempPathFactory):
    return make_merge_tree(tmp_path_factory.mktemp("merge"), num_songs=12, broken=True, duration_s=0.5)


def test_items_join_audio_lyrics_targets_and_official_split(broken_tree) -> None:
    index = load_merge(broken_tree.root)
    assert index.name == "merge_bimodal_complete"
    assert index.classes == ["Q1", "Q2", "Q3", "Q4"]
    assert len(index.items) == 12
    by_id = index.by_id()
    for song in broken_tree.songs:
        item = by_id[song["audio_id"]]
        assert item.label == song["quadrant"]
        assert item.group == "artist:" + " ".join(song["artist"].split()).casefold()  # one artist per song here
        assert item.path == (broken_tree.root / "audio" / song["quadrant"] / f"{song['audio_id']}.mp3").resolve()
        assert item.metadata["lyrics_path"].endswith(f"lyrics/{song['quadrant']}/{song['lyric_id']}.txt")
        assert item.metadata["tvt"] == song["tvt"]
        assert item.targets["arousal"] == pytest.approx(song["arousal"], abs=1e-4)
        assert item.targets["valence"] == pytest.approx(song["valence"], abs=1e-4)


def test_missing_lyrics_unreadable_mp3_and_unlisted_song_are_each_listed(broken_tree) -> None:
    index = load_merge(broken_tree.root)
    ids = {item.item_id for item in index.items}
    assert not ids & {"AX01", "AX02", "AX03"}
    reasons = {problem.item_id: problem.reason for problem in index.problems}
    assert "lyrics file missing" in reasons["AX01"]
    assert "unreadable audio" in reasons["AX02"]
    assert "absent from the metadata" in reasons["AX03"]
    assert len(index.problems) == 3, [p.to_dict() for p in index.problems]


def test_path_escaping_the_root_is_refused(tmp_path: Path) -> None:
    tree = make_merge_tree(tmp_path / "m", num_songs=4, duration_s=0.3)
    metadata = tree.root / "merge_bimodal_complete_metadata.csv"
    av = tree.root / "merge_bimodal_complete_av_values.csv"
    metadata.write_text(metadata.read_text().replace("A000,", "../../../evil,"))
    av.write_text(av.read_text().replace("A000,", "../../../evil,"))
    index = load_merge(tree.root)
    assert "../../../evil" not in index.by_id()
    assert any("outside the dataset root" in p.reason for p in index.problems)


def test_missing_root_and_columns_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="MERGE root not found"):
        load_merge(tmp_path / "nowhere")
    (tmp_path / "merge_bimodal_complete_metadata.csv").write_text("Audio_Song,Quadrant\nA1,Q1\n")
    (tmp_path / "merge_bimodal_complete_av_values.csv").write_text("Audio_Song,Lyric_Song,Arousal,Valence\n")
    with pytest.raises(DatasetError, match="missing column"):
        load_merge(tmp_path)


def test_empty_lyrics_are_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("  \n")
    with pytest.raises(DatasetError, match="empty"):
        read_lyrics(path)
