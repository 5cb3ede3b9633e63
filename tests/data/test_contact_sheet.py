"""Contact sheet: a grid image of log-mels, written atomically."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.audio.features import FeatureSettings
from sonolab.data.contact_sheet import save_contact_sheet
from sonolab.errors import ConfigError


def test_contact_sheet_writes_a_png_grid(tmp_path):
    settings = FeatureSettings(sample_rate_hz=8000, n_mels=32, hop_length_samples=128)
    rng = np.random.default_rng(0)
    matrices = [rng.uniform(-80, 0, (32, 20 + 5 * k)).astype(np.float32) for k in range(5)]
    path = save_contact_sheet(matrices, [f"id{k}: label{k}" for k in range(5)], tmp_path / "sheet.png", settings)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]  # no temporary left behind
    with pytest.raises(ConfigError):
        save_contact_sheet(matrices, ["only one title"], tmp_path / "bad.png", settings)
