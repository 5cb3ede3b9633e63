"""A recipe's `features` section: which feature kind (`kind`, default `logmel`), its settings, and
`group_normalisation` (`none` or `per_group_standardise`). Torch-free, so recipes validate without torch.

`logmel` settings are `sonolab.audio.features.FeatureSettings`; the other kinds' settings classes live in
`sonolab.features` (aisfx, functionals, opensmile, musicnn). `kind` and `group_normalisation` never enter a
kind's settings, so cache fingerprints do not change with them.

The classical task also reads `extra` (further audio kinds concatenated to the first), `lyrics` (the lyrics
modality) and `ablation`, and accepts `kind: none` (no audio kind: lyrics only); see
`sonolab.train.classical_inputs`. Every other task refuses them.
"""

from __future__ import annotations

from typing import Any

from sonolab.errors import ConfigError

SECTION_KEYS: dict[str, Any] = {"kind": "logmel", "group_normalisation": "none", "extra": [], "lyrics": None, "ablation": True}
MULTI_KEYS: tuple[str, ...] = ("extra", "lyrics", "ablation")  # the classical task's multi-kind / modality keys
NO_AUDIO_KIND = "none"  # features.kind: none = no audio feature kind (the classical task with lyrics only)
GROUP_NORMALISATIONS: tuple[str, ...] = ("none", "per_group_standardise")


def feature_kind(section: dict[str, Any] | None) -> str:
    return str((section or {}).get("kind", "logmel"))


def group_normalisation(section: dict[str, Any] | None) -> str:
    value = str((section or {}).get("group_normalisation", "none"))
    if value not in GROUP_NORMALISATIONS:
        raise ConfigError(f"features.group_normalisation must be one of {', '.join(GROUP_NORMALISATIONS)}, got {value!r}")
    return value


def kind_values(section: dict[str, Any] | None) -> dict[str, Any]:
    """The kind's own settings: the section without `kind`, `group_normalisation` and the multi-kind keys."""
    return {key: value for key, value in (section or {}).items() if key not in SECTION_KEYS}


def logmel_settings(section: dict[str, Any] | None) -> Any:
    """The `FeatureSettings` of a `logmel` features section (ConfigError for another kind)."""
    from sonolab.audio.features import FeatureSettings

    kind = feature_kind(section)
    if kind != "logmel":
        raise ConfigError(f"features.kind is {kind!r}, but this needs log-mel features (fix: features.kind: logmel)")
    return FeatureSettings.from_dict(kind_values(section))


def kind_settings(section: dict[str, Any] | None) -> Any:
    """The settings object of the section's kind (validated; unknown keys are errors naming the key); None for
    `kind: none`."""
    kind = feature_kind(section)
    if kind == NO_AUDIO_KIND:
        return None
    if kind == "logmel":
        return logmel_settings(section)
    from sonolab.features.kinds import settings_from_dict

    try:
        return settings_from_dict(kind, kind_values(section))
    except ConfigError as error:
        raise ConfigError(f"features: {error}") from None


def check_feature_section(section: dict[str, Any] | None) -> None:
    group_normalisation(section)
    kind_settings(section)
    check_inputs(section)


def audio_sections(section: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each audio kind's own section (`kind` + its settings), the first kind then `extra`; [] for `kind: none`."""
    section = section or {}
    first = {key: value for key, value in section.items() if key not in ("extra", "lyrics", "ablation", "group_normalisation")}
    sections = [] if feature_kind(section) == NO_AUDIO_KIND else [{"kind": feature_kind(section), **first}]
    extra = section.get("extra") or []
    if not isinstance(extra, list) or not all(isinstance(entry, dict) and entry.get("kind") for entry in extra):
        raise ConfigError("features.extra must be a list of feature sections, each with a kind (e.g. [{kind: aisfx}])")
    for entry in extra:
        if entry["kind"] in (NO_AUDIO_KIND, "logmel") or set(entry) & {"extra", "lyrics", "ablation", "group_normalisation"}:
            raise ConfigError(f"features.extra: {entry!r} is not a clip-vector kind with its own settings (fix: kinds "
                              "aisfx, functionals, opensmile or musicnn, without extra/lyrics/ablation/group_normalisation)")
        sections.append(dict(entry))
    return sections


def lyrics_settings(section: dict[str, Any] | None) -> Any:
    """The `LyricsSettings` of `features.lyrics`, or None when the recipe has no lyrics modality."""
    value = (section or {}).get("lyrics")
    if value is None or value is False:
        return None
    from sonolab.features.lyrics import LyricsSettings

    return LyricsSettings.from_dict({} if value is True else value)


def check_inputs(section: dict[str, Any] | None) -> None:
    """Validate the multi-kind and lyrics keys (torch-free); each audio kind's settings too."""
    sections = audio_sections(section)
    if feature_kind(section) == NO_AUDIO_KIND and kind_values(section):
        raise ConfigError(f"features.kind is none (no audio kind), so features.{sorted(kind_values(section))[0]} would do "
                          "nothing (fix: remove it, or name the audio kind it belongs to)")
    for entry in sections[1:]:
        try:
            kind_settings(entry)
        except ConfigError as error:
            raise ConfigError(f"features.extra: {error}") from None
    lyrics = lyrics_settings(section)
    if not sections and lyrics is None:
        raise ConfigError("features.kind: none leaves no modality (fix: add features.lyrics, or name an audio kind)")
    if not isinstance((section or {}).get("ablation", True), bool):
        raise ConfigError(f"features.ablation must be true or false, got {(section or {})['ablation']!r}")


def refuse_non_logmel(section: dict[str, Any] | None, task: str, group_normalisation_allowed: bool = False) -> None:
    """Tasks that train networks on log-mels refuse other feature kinds, several kinds, lyrics and (unless the task
    implements it: `group_normalisation_allowed`) group normalisation."""
    for key in ("extra", "lyrics"):
        if (section or {}).get(key):
            raise ConfigError(f"features.{key} is implemented by the classical task only, not by the {task} task (fix: "
                              f"remove features.{key}, or task: classical)")
    if feature_kind(section) != "logmel":
        raise ConfigError(f"features.kind {feature_kind(section)!r} is not implemented by the {task} task, which trains on "
                          "log-mels (fix: task: classical for embeddings, functionals and openSMILE, or features.kind: logmel)")
    if group_normalisation(section) != "none" and not group_normalisation_allowed:
        raise ConfigError(f"features.group_normalisation is not implemented by the {task} task (fix: task: classical or classification, or "
                          "features.group_normalisation: none)")
