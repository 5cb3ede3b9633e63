"""The generator interface (term -> EQ setting) and the two reference generators.

Every generator answers `generate(term, strength)`, `interpolate(a, b, steps, strength)` and
`sample(term, count, seed, strength)` with settings inside the plug-in's limits, so the model and its
baselines (per-term median of the normalised training settings; a random valid setting) are evaluated
the same way, side by side.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from sonolab.audio.eq import PLUGIN_LIMITS, EqSetting
from sonolab.errors import SonolabError
from sonolab.semantic_eq.normalise import from_unit, to_unit


class UnknownTermError(SonolabError):
    """A descriptor the generator was not trained on."""

    def __init__(self, term: str, known_terms: list[str], source: str = "the model") -> None:
        self.term = term
        self.known_terms = list(known_terms)
        super().__init__(
            f"unknown term {term!r} for {source} (fix: use one of the known terms: {', '.join(known_terms)})"
        )


@runtime_checkable
class SettingGenerator(Protocol):
    """What every term -> setting generator offers."""

    name: str
    terms: list[str]

    def generate(self, term: str, strength: float = 1.0) -> EqSetting: ...

    def interpolate(self, term_a: str, term_b: str, steps: int, strength: float = 1.0) -> list[EqSetting]: ...

    def sample(self, term: str, count: int, seed: int = 0, strength: float = 1.0) -> list[EqSetting]: ...


def normalise_term(term: str) -> str:
    """The same cleaning the dataset applies (lower-case, stripped, aliases)."""
    from sonolab.data.safe import clean_descriptor

    return clean_descriptor(term)


def check_term(term: str, terms: list[str], source: str) -> str:
    cleaned = normalise_term(term)
    if cleaned not in terms:
        raise UnknownTermError(term, terms, source)
    return cleaned


def check_steps(steps: int) -> None:
    if steps < 2:
        raise SonolabError(f"--steps must be at least 2 (the two end points), got {steps} (fix: pass --steps 2 or more)")


def settings_from_unit(unit_rows: np.ndarray, strength: float) -> list[EqSetting]:
    return [EqSetting.from_vector(row).scaled(strength) for row in from_unit(np.atleast_2d(unit_rows))]


class MedianGenerator:
    """Reference: the per-term median of the normalised training settings (interpolates linearly in [0, 1])."""

    name = "median"
    FILE_NAME = "median.json"

    def __init__(self, unit_medians: dict[str, np.ndarray], metadata: dict | None = None) -> None:
        self.unit_medians = {term: np.asarray(value, dtype=np.float64) for term, value in unit_medians.items()}
        self.terms = list(self.unit_medians)
        self.metadata = dict(metadata or {})

    def source_name(self) -> str:
        return str(self.metadata.get("model_dir", "the median generator"))

    def save(self, model_dir, extra: dict | None = None):
        """Write `median.json` (per-term medians on the normalised scale, plus `extra`) atomically."""
        from pathlib import Path

        from sonolab.atomic import write_json_atomic

        payload = {"generator": "median", "normalisation": "plugin-limits-log-freq-q-v1", "terms": self.terms,
                   "unit_medians": {t: [float(v) for v in self.unit_medians[t]] for t in self.terms},
                   "settings": {t: self.generate(t).to_dict() for t in self.terms}, **(extra or {})}
        return write_json_atomic(Path(model_dir) / self.FILE_NAME, payload)

    @classmethod
    def load(cls, model_dir) -> "MedianGenerator":
        import json
        from pathlib import Path

        path = Path(model_dir) / cls.FILE_NAME
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            medians = {t: np.asarray(payload["unit_medians"][t], dtype=np.float64) for t in payload["terms"]}
        except (OSError, ValueError, KeyError) as error:
            raise SonolabError(f"{path}: not a readable median generator ({error}) (fix: regenerate it or drop --model)") from error
        metadata = {k: v for k, v in payload.items() if k not in ("unit_medians", "settings")}
        metadata["model_dir"] = str(model_dir)
        return cls(medians, metadata)

    @classmethod
    def fit(cls, vectors: np.ndarray, labels: np.ndarray, terms: list[str]) -> MedianGenerator:
        unit = to_unit(vectors)
        labels = np.asarray(labels)
        return cls({term: np.median(unit[labels == term], axis=0) for term in terms if np.any(labels == term)})

    def generate(self, term: str, strength: float = 1.0) -> EqSetting:
        return settings_from_unit(self.unit_medians[check_term(term, self.terms, "the median generator")], strength)[0]

    def interpolate(self, term_a: str, term_b: str, steps: int, strength: float = 1.0) -> list[EqSetting]:
        check_steps(steps)
        start = self.unit_medians[check_term(term_a, self.terms, "the median generator")]
        end = self.unit_medians[check_term(term_b, self.terms, "the median generator")]
        weights = np.linspace(0.0, 1.0, steps)[:, None]
        return settings_from_unit((1 - weights) * start + weights * end, strength)

    def sample(self, term: str, count: int, seed: int = 0, strength: float = 1.0) -> list[EqSetting]:
        return [self.generate(term, strength)] * count


class RandomGenerator:
    """Reference: a uniformly random valid setting (uniform on the normalised scale), whatever the term."""

    name = "random"

    def __init__(self, terms: list[str], seed: int = 0) -> None:
        self.terms = list(terms)
        self.rng = np.random.default_rng(seed)

    def generate(self, term: str, strength: float = 1.0) -> EqSetting:
        check_term(term, self.terms, "the random generator")
        return settings_from_unit(self.rng.uniform(size=len(PLUGIN_LIMITS)), strength)[0]

    def interpolate(self, term_a: str, term_b: str, steps: int, strength: float = 1.0) -> list[EqSetting]:
        check_steps(steps)
        start = to_unit(self.generate(term_a).to_vector())
        end = to_unit(self.generate(term_b).to_vector())
        weights = np.linspace(0.0, 1.0, steps)[:, None]
        return settings_from_unit((1 - weights) * start + weights * end, strength)

    def sample(self, term: str, count: int, seed: int = 0, strength: float = 1.0) -> list[EqSetting]:
        check_term(term, self.terms, "the random generator")
        rng = np.random.default_rng(seed)
        return settings_from_unit(rng.uniform(size=(count, len(PLUGIN_LIMITS))), strength)
