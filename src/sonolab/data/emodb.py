"""Berlin EmoDB: `wav/*.wav`, names like `03a01Fa.wav` (speaker, text, emotion letter, version).

Item id = file stem, label = emotion name, group = speaker ("03").
"""

from __future__ import annotations

import re
from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import audio_files
from sonolab.errors import DatasetError

EMOTIONS: dict[str, str] = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral",
}
SPEAKERS: tuple[str, ...] = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
NAME_PATTERN = re.compile(r"^(?P<speaker>[0-9]{2})(?P<text>[ab][0-9]{2})(?P<emotion>[WLEAFTN])(?P<version>[a-z])$")
SAMPLE_RATE_HZ = 16000


def wav_folder(root: Path) -> Path:
    """`root/wav` if present, else `root` when it holds the WAV files directly."""
    if (root / "wav").is_dir():
        return root / "wav"
    if root.is_dir() and any(path.suffix.lower() == ".wav" for path in root.iterdir()):
        return root
    raise DatasetError(f"{root}: no EmoDB wav/ folder found (fix: pass the EmoDB root that holds wav/*.wav)")


def parse_name(path: Path) -> dict[str, str]:
    """Speaker, text, emotion and version from an EmoDB name; DatasetError naming the file otherwise."""
    match = NAME_PATTERN.match(path.stem)
    if match is None:
        raise DatasetError(
            f"{path}: file name does not follow EmoDB's SSTTTEV.wav convention, e.g. 03a01Fa.wav "
            f"(emotion letter one of {''.join(EMOTIONS)}) (fix: rename or remove the file)"
        )
    return {
        "speaker": match["speaker"], "text": match["text"], "emotion_code": match["emotion"],
        "emotion": EMOTIONS[match["emotion"]], "version": match["version"],
    }


def load_emodb(root: Path | str, strict: bool = True) -> DatasetIndex:
    """Index an EmoDB folder. `strict=False` lists unparseable names as problems instead of raising."""
    root = Path(root)
    folder = wav_folder(root)
    items: list[Item] = []
    problems: list[Problem] = []
    for path in audio_files(folder):
        try:
            parts = parse_name(path)
        except DatasetError as error:
            if strict:
                raise
            problems.append(Problem(str(path), f"unparseable name: {error}", path.stem))
            continue
        items.append(Item(path.stem, path, parts["emotion"], parts["speaker"], metadata=parts))
    classes = sorted({item.label for item in items if item.label is not None})
    return DatasetIndex("emodb", root, items, classes, problems)
