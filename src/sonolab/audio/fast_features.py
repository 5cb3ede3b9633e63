"""Batched, vectorised dB-re-unity log-mels in torch, equal to librosa's within 1e-3 dB.

(With `compression: aisfx_log1p` the same path yields the aisfx input scale instead of dB; see features.py.)

`log_mel_re_unity_batch` computes what `sonolab.audio.features.log_mel_re_unity` computes (librosa:
centred frames with constant zero padding, Hann window, Slaney mel filter bank, power -> dB re 1.0
with the same `amin`) for many waveforms at once:

- waveforms are grouped by length (sorted), zero-padded to the longest of their group and sent
  through one `torch.stft` call per group;
- each output is trimmed to `1 + n_samples // hop_length_samples` frames. This is exact, not an
  approximation: librosa pads centred frames with constant zeros, so every frame of a waveform sees
  the same samples whether the zeros after its end come from librosa's centre padding or from the
  batch padding (frame t covers samples t*hop - n_fft//2 .. t*hop + n_fft//2, and t*hop <= n_samples);
- the mel filter bank (librosa.filters.mel, the same float32 values librosa's melspectrogram uses) and
  the window are cached per `settings.cache_fingerprint()`;
- the STFT runs in float64: torch's float32 CPU FFT differs from librosa by up to ~0.4 dB in
  low-power bins (and ~1e-3 dB at 80 dB below a clip's maximum), float64 stays within ~2e-5 dB
  everywhere above `amin`.

Library code never changes torch's global thread count; the caller (a worker process, a benchmark)
decides it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from sonolab.audio import aisfx_input as aisfx
from sonolab.audio.features import AMIN_POWER, FeatureSettings, mel_filter_weights

DEFAULT_BATCH_SIZE = 32
# Upper bound on zero-padded input samples per torch.stft call: bounds peak memory. With n_fft=1024
# and hop 256, one input sample becomes ~32 bytes of complex128 STFT, so 2**22 samples is ~130 MB.
MAX_BATCH_SAMPLES = 2**22

_CACHE_LOCK = threading.Lock()
_MEL_BANKS: dict[tuple[str, str], torch.Tensor] = {}
_WINDOWS: dict[tuple[str, str], torch.Tensor] = {}


def mel_filter_bank(settings: FeatureSettings, device: torch.device | str = "cpu") -> torch.Tensor:
    """The mel filter bank `(n_mels, 1 + n_fft // 2)` (Slaney by default) as float64, cached per settings.

    Built from librosa's float32 filter values (what `librosa.feature.melspectrogram` multiplies by),
    so both paths weight the STFT bins identically.
    """
    key = (settings.cache_fingerprint(), str(device))
    with _CACHE_LOCK:
        bank = _MEL_BANKS.get(key)
        if bank is None:
            weights = mel_filter_weights(settings)
            bank = torch.from_numpy(weights).to(device=device, dtype=torch.float64)
            _MEL_BANKS[key] = bank
    return bank


def analysis_window(settings: FeatureSettings, device: torch.device | str = "cpu") -> torch.Tensor:
    """The periodic Hann window of `win_length_samples` (scipy's `fftbins=True`) as float64, cached."""
    key = (settings.cache_fingerprint(), str(device))
    with _CACHE_LOCK:
        window = _WINDOWS.get(key)
        if window is None:
            length = settings.win_length_samples or settings.n_fft
            window = torch.hann_window(length, periodic=True, dtype=torch.float64, device=device)
            _WINDOWS[key] = window
    return window


def _as_channels(waveform: np.ndarray, settings: FeatureSettings, index: int) -> np.ndarray:
    """float32 `(channels, samples)` exactly as the librosa path prepares it (mono: mean of channels)."""
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2 and settings.mono:
        samples = samples.mean(axis=0)
    if settings.peak_normalise and samples.size and np.all(np.isfinite(samples)):
        samples = aisfx.peak_normalise(samples)
    if samples.ndim == 1:
        samples = samples[np.newaxis, :]
    if samples.ndim != 2:
        raise ValueError(f"waveform {index} has shape {samples.shape}: pass (samples,) or (channels, samples)")
    if samples.shape[-1] == 0:
        raise ValueError(f"waveform {index} is empty (0 samples): drop it before computing features")
    if not np.all(np.isfinite(samples)):
        raise ValueError(f"waveform {index} contains NaN or infinite samples: check its source file")
    return samples


def _log_mel_padded(signals: torch.Tensor, settings: FeatureSettings) -> torch.Tensor:
    """dB-re-unity mel `(rows, n_mels, frames)` of equal-length float64 rows `(rows, samples)`."""
    device = signals.device
    window = analysis_window(settings, device)
    spectrum = torch.stft(
        signals,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length_samples,
        win_length=window.shape[0],
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    if settings.power == 2.0:
        power = spectrum.real.square() + spectrum.imag.square()  # faster than abs().square()
    else:
        power = spectrum.abs().pow(settings.power)
    del spectrum
    mel = torch.matmul(mel_filter_bank(settings, device), power)
    del power
    if settings.compression == "aisfx_log1p":
        scaled = torch.log10(mel.mul_(aisfx.LOG_SCALE).add_(1.0))
        return (scaled - aisfx.NORMALISATION_MIN) / (aisfx.NORMALISATION_MAX - aisfx.NORMALISATION_MIN)
    amin = AMIN_POWER ** (settings.power / 2.0)
    return settings.db_per_decade * torch.log10(mel.clamp_(min=amin))


def _length_groups(lengths: Sequence[int], batch_size: int, max_batch_samples: int) -> list[list[int]]:
    """Indices sorted by length, cut into groups of at most `batch_size` rows whose zero-padded size
    (rows x longest) stays within `max_batch_samples` (a single longer row still gets its own group)."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    groups: list[list[int]] = []
    current: list[int] = []
    for index in order:
        rows_if_added = len(current) + 1
        if current and (rows_if_added > batch_size or rows_if_added * lengths[index] > max_batch_samples):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


def log_mel_re_unity_batch(
    waveforms: list[np.ndarray],
    settings: FeatureSettings,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: torch.device | str = "cpu",
) -> list[np.ndarray]:
    """dB-re-unity log-mels (float32 `(n_mels, frames)`) of waveforms at `settings.sample_rate_hz`.

    Same inputs and outputs as the librosa loop `sonolab.audio.features.log_mel_re_unity_batch_librosa`
    (within 1e-3 dB): a waveform is `(samples,)` or `(channels, samples)`; with `settings.mono` the
    channels are averaged, otherwise the result is `(channels, n_mels, frames)`. `batch_size` is the
    most waveforms per `torch.stft` call (memory is also capped by `MAX_BATCH_SAMPLES`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    prepared = [_as_channels(waveform, settings, index) for index, waveform in enumerate(waveforms)]
    results: list[np.ndarray | None] = [None] * len(prepared)
    lengths = [item.shape[-1] for item in prepared]
    hop = settings.hop_length_samples
    with torch.inference_mode():
        for group in _length_groups(lengths, batch_size, MAX_BATCH_SAMPLES):
            longest = max(lengths[index] for index in group)
            rows = sum(prepared[index].shape[0] for index in group)
            padded = np.zeros((rows, longest), dtype=np.float64)
            row = 0
            for index in group:
                channels = prepared[index]
                padded[row : row + channels.shape[0], : channels.shape[-1]] = channels
                row += channels.shape[0]
            db = _log_mel_padded(torch.from_numpy(padded).to(device), settings).to(torch.float32).cpu().numpy()
            row = 0
            for index in group:
                channels = prepared[index].shape[0]
                frames = 1 + lengths[index] // hop
                matrix = db[row : row + channels, :, :frames]
                row += channels
                # Copy so each result owns its memory (a view would keep the whole batch alive).
                results[index] = np.array(matrix[0] if settings.mono or np.ndim(waveforms[index]) == 1 else matrix)
    return results  # type: ignore[return-value]
