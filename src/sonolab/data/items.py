"""The items every dataset module yields, and the problems it lists instead of dropping files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Item:
    """One example: a stable id, its file, its label(s) and its group (the unit a split keeps whole)."""

    item_id: str
    path: Path
    label: str | None
    group: str
    parent_id: str | None = None  # set on augmented variants: the original's id (they share its group)
    targets: dict[str, float] = field(default_factory=dict)  # regression targets (e.g. valence, arousal)
    metadata: dict[str, Any] = field(default_factory=dict)  # dataset extras (fold, take, lyrics path, ...)


@dataclass(frozen=True)
class Problem:
    """A file or row that could not be used, with the reason. Problems are listed, counted, reported."""

    path: str
    reason: str
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "item_id": self.item_id}


@dataclass
class DatasetIndex:
    """A dataset's items, its class names (sorted), and every problem met while indexing it."""

    name: str
    root: Path
    items: list[Item]
    classes: list[str]
    problems: list[Problem] = field(default_factory=list)

    def by_id(self) -> dict[str, Item]:
        return {item.item_id: item for item in self.items}
