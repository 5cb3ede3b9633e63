"""The shared behaviour of every feature kind's settings dataclass: dict round trip, fingerprint, files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sonolab.atomic import write_json_atomic
from sonolab.errors import ConfigError

S = TypeVar("S", bound="KindSettings")


class KindSettings:
    """Mixin for a frozen dataclass of one feature kind's settings.

    `kind` names the kind; `algorithm_version` is part of the fingerprint, so a change to how a kind
    computes its features (not only to its settings) invalidates old caches.
    """

    kind: ClassVar[str] = ""
    algorithm_version: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[S], payload: dict[str, Any]) -> S:
        """Build from a plain dict; an unknown key is a ConfigError naming it (lists become tuples)."""
        known = {field.name: field for field in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(payload) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown {cls.kind} feature setting {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in payload.items()}
        return cls(**values)

    def cache_fingerprint(self) -> str:
        """A hash of the kind, its algorithm version and every setting (16 hex digits)."""
        payload = {"kind": self.kind, "algorithm_version": self.algorithm_version, "settings": self.to_dict()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def fingerprint(self) -> str:
        return self.cache_fingerprint()

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls: type[S], path: str | Path) -> S:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
