"""A recipe's `features` section: which feature kind (`kind`, default `logmel`), its settings, and
`group_normalisation` (`none` or `per_group_standardise`). Torch-free, so recipes validate without torch.

`logmel` settings are `sonolab.audio.features.FeatureSettings`; the other kinds' settings classes live in
`sonolab.features` (aisfx, functionals, opensmile, musicnn). `kind` and `group_normalisation` never enter a
kind's settings, so cache fingerprints do not change with them.
"""

from __future__ import annotations

from typing import Any

from sonolab.errors import ConfigError

SECTION_KEYS: dict[str, str] = {"kind": "logmel", "group_normalisation": "none"}
GROUP_NORMALISATIONS: tuple[str, ...] = ("none", "per_group_standardise")


def feature_kind(section: dict[str, Any] | None) -> str:
    return str((section or {}).get("kind", "logmel"))


def group_normalisation(section: dict[str, Any] | None) -> str:
    value = str((section or {}).get("group_normalisation", "none"))
    if value not in GROUP_NORMALISATIONS:
        raise ConfigError(f"features.group_normalisation must be one of {', '.join(GROUP_NORMALISATIONS)}, got {value!r}")
    return value


def kind_values(section: dict[str, Any] | None) -> dict[str, Any]:
    """The kind's own settings: the section without `kind` and `group_normalisation`."""
    return {key: value for key, value in (section or {}).items() if key not in SECTION_KEYS}


def logmel_settings(section: dict[str, Any] | None) -> Any:
    """The `FeatureSettings` of a `logmel` features section (ConfigError for another kind)."""
    from sonolab.audio.features import FeatureSettings

    kind = feature_kind(section)
    if kind != "logmel":
        raise ConfigError(f"features.kind is {kind!r}, but this needs log-mel features (fix: features.kind: logmel)")
    return FeatureSettings.from_dict(kind_values(section))


def kind_settings(section: dict[str, Any] | None) -> Any:
    """The settings object of the section's kind (validated; unknown keys are errors naming the key)."""
    kind = feature_kind(section)
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


def refuse_non_logmel(section: dict[str, Any] | None, task: str) -> None:
    """Tasks that train networks on log-mels refuse other feature kinds and group normalisation."""
    if feature_kind(section) != "logmel":
        raise ConfigError(f"features.kind {feature_kind(section)!r} is not implemented by the {task} task, which trains on "
                          "log-mels (fix: task: classical for embeddings, functionals and openSMILE, or features.kind: logmel)")
    if group_normalisation(section) != "none":
        raise ConfigError(f"features.group_normalisation is not implemented by the {task} task (fix: task: classical, or "
                          "features.group_normalisation: none)")
