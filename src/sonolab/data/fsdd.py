"""Free Spoken Digit Dataset: `recordings/{digit}_{speaker}_{take}.wav`, 8 kHz, 6 speakers.

Item id = file stem, label = the digit as a string, group = speaker, metadata {"speaker", "take"}.
"""

from __future__ import annotations

import re
from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import audio_files
from sonolab.errors import DatasetError

NAME_PATTERN = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<take>[0-9]+)$")
SAMPLE_RATE_HZ = 8000


def recordings_folder(root: Path) -> Path:
    """`root/recordings` if present, else `root` itself when it holds the WAV files directly."""
    root = Path(root)
    if (root / "recordings").is_dir():
        return root / "recordings"
    if root.is_dir() and any(path.suffix.lower() == ".wav" for path in root.iterdir()):
        return root
    raise DatasetError(
        f"{root}: no FSDD recordings found (fix: pass the folder that holds recordings/ "
        "with files named {digit}_{speaker}_{take}.wav)"
    )


def parse_name(path: Path) -> tuple[str, str, int]:
    """(digit, speaker, take) from a file name; DatasetError naming the file if it does not parse."""
    match = NAME_PATTERN.match(path.stem)
    if match is None:
        raise DatasetError(
            f"{path}: file name does not follow FSDD's {{digit}}_{{speaker}}_{{take}}.wav "
            "(fix: rename or remove the file)"
        )
    return match["digit"], match["speaker"], int(match["take"])


def load_fsdd(root: Path | str, strict: bool = True) -> DatasetIndex:
    """Index an FSDD folder. `strict=False` lists unparseable names as problems instead of raising."""
    folder = recordings_folder(Path(root))
    items: list[Item] = []
    problems: list[Problem] = []
    for path in audio_files(folder):
        try:
            digit, speaker, take = parse_name(path)
        except DatasetError as error:
            if strict:
                raise
            problems.append(Problem(str(path), f"unparseable name: {error}", path.stem))
            continue
        items.append(Item(path.stem, path, digit, speaker, metadata={"speaker": speaker, "take": take}))
    classes = sorted({item.label for item in items if item.label is not None})
    return DatasetIndex("fsdd", Path(root), items, classes, problems)
