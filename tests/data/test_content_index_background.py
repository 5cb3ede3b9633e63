"""Long clips: a copy under white noise at 10 dB SNR scores under the threshold (the source's own quiet background
and the added noise fill the same cells with two unrelated noises), and is still flagged by its score over the
cells well above both clips' backgrounds (`above_background_score`); other clips of its class, clean or noisy,
are not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from test_content_index import SETTINGS, fp

from sonolab.data.content_index import Match, SearchSettings, above_background_score, find_copies, fingerprint_decibels, is_long_copy

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_modules import load_benchmark  # noqa: E402

SR = 16000
SEARCH = SearchSettings()
CLASSES = (13, 37)  # the benchmark generator's band-passed noise bursts on a quiet noise floor


def with_white_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(samples.size).astype(np.float32)
    scale = np.sqrt(np.mean(samples**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return (samples + noise * np.float32(scale)).astype(np.float32)


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """Per class: a source, its copy under white noise at 10 dB SNR, two other clips of the class and a noisy
    copy of one of them (5 s at 16 kHz)."""
    leak_audit = load_benchmark("leak_audit")
    out = {}
    for cls in CLASSES:
        out[f"src{cls}"] = leak_audit.generated_clip(cls, 601 + cls, sr=SR)
        out[f"noisy{cls}"] = with_white_noise(out[f"src{cls}"], 10.0, seed=cls)
        for other in (900, 950):
            out[f"other{cls}_{other}"] = leak_audit.generated_clip(cls, other + cls, sr=SR)
        out[f"othernoisy{cls}"] = with_white_noise(out[f"other{cls}_900"], 10.0, seed=100 + cls)
    return out


@pytest.fixture(scope="module")
def matches(clips) -> list[Match]:
    return find_copies([fp(name, audio) for name, audio in clips.items()], SETTINGS, SEARCH, all_scores=True)


def _pair(matches: list[Match], first: str, second: str) -> Match:
    found = [m for m in matches if {m.first, m.second} == {first, second}]
    assert found, f"{first} ~ {second} not confirmed"
    return found[0]


@pytest.mark.parametrize("cls", CLASSES)
def test_a_noisy_copy_under_the_threshold_is_flagged_above_the_background(matches, cls):
    match = _pair(matches, f"src{cls}", f"noisy{cls}")
    assert match.score < SEARCH.threshold  # the threshold misses it ...
    assert match.background_score >= SEARCH.background_threshold  # ... the cells above the backgrounds do not
    assert is_long_copy(match, 5.0, SEARCH)
    # no pitch or tempo change (the noise bursts' few onsets leave the tempo within 3 %), and the middles aligned
    assert abs(match.pitch_semitones) < 0.2 and match.tempo_ratio == pytest.approx(1.0, abs=0.03)
    assert abs(match.lag_s + (match.tempo_ratio - 1.0) * 2.5) < 0.02
    assert "above the background" in match.describe() and match.to_dict()["background_score"] >= SEARCH.background_threshold


def test_only_copies_are_flagged(matches):
    """No clip is flagged with another clip of its class or that clip's noisy copy (the noisy copy of `other*_900`
    is flagged with its own source only)."""
    def root(name: str) -> str:
        cls = "".join(ch for ch in name.split("_")[0] if ch.isdigit())
        if name.startswith(("src", "noisy")):
            return f"a{cls}"
        if name.startswith("othernoisy"):
            return f"b{cls}_900"
        return f"b{cls}_{name.split('_')[1]}"

    flagged = [m for m in matches if is_long_copy(m, 5.0, SEARCH)]
    assert len(flagged) >= len(CLASSES)
    for match in flagged:
        assert root(match.first) == root(match.second), match


def test_the_background_score_needs_cells_above_both_backgrounds(clips):
    """A margin no cell reaches leaves nothing to score (-1); the copy's own cells above the background match."""
    first, second = (fingerprint_decibels(fp(name, clips[name])) for name in ("src13", "noisy13"))
    assert above_background_score(first, second, 0.0, 0.0, 1.0, SETTINGS, SEARCH) >= SEARCH.background_threshold
    unreachable = SearchSettings(background_margin_db=80.0)
    assert above_background_score(first, second, 0.0, 0.0, 1.0, SETTINGS, unreachable) == -1.0
