"""Feature kinds: one settings dataclass and one `extract` per kind, all cached by `sonolab.data.cache`.

Kinds: `logmel` (the log-mel matrices of `sonolab.audio.features`), `aisfx` (pretrained sound-effects
embeddings), `functionals` (clip-level statistics of librosa frame features) and `opensmile`
(eGeMAPSv02 / ComParE_2016 functionals; optional extra, research licence). See `kinds.py`.
"""

from sonolab.features.kinds import KINDS, extract, kind_of, settings_class, settings_from_dict

__all__ = ["KINDS", "extract", "kind_of", "settings_class", "settings_from_dict"]
