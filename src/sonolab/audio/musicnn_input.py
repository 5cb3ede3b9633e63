"""musicnn's input: the log-compressed mel patches of the `musicnn==0.1.0` extractor (Pons & Serra 2019).

Follows the wheel's `configuration.py` and `extractor.batch_data` step by step:

1. mono at 16 kHz: `librosa.load(file, sr=16000)` averages the channels and resamples with librosa's
   default resampler (soxr "HQ" since librosa 0.10; musicnn was trained with librosa 0.6's resampy
   `kaiser_best`, a negligible difference below 7.2 kHz);
2. `librosa.feature.melspectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=96)`: centred frames,
   periodic Hann window, power 2, Slaney mel scale (`htk=False`) with Slaney area normalisation
   (`norm="slaney"`), fmin 0, fmax 8 kHz. The centre padding is librosa >= 0.10's `pad_mode="constant"`
   (zeros), what the wheel's code does with today's librosa (0.6 padded by reflection: only the first and last
   frame differ). Every value is passed explicitly, so a change of librosa's defaults cannot change it;
3. the power mel rounded to float16 (the wheel's `astype(np.float16)`), then `log10(1 + 10000 x)`;
   the wheel evaluates this in float16 too, which overflows to inf where 10000 x > 65504 (x > 6.55, e.g. a
   sine of amplitude 0.3), and its network then outputs NaN. Here those values are computed in float32
   (finite); everywhere else the result is bit-identical to the wheel's;
4. patches of 187 frames (3 s: `librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1`),
   the extractor's default `input_overlap=False`, i.e. consecutive patches without overlap; trailing frames
   that do not fill a patch are dropped, as the wheel does. A clip shorter than one patch (the wheel fails on
   it) is repeat-padded to 187 frames, the `pad_short: repeat-pad` of the model's training config.
"""

from __future__ import annotations

import librosa
import numpy as np

SAMPLE_RATE_HZ = 16000
N_FFT_SAMPLES = 512
HOP_LENGTH_SAMPLES = 256
N_MELS = 96
PATCH_FRAMES = 187  # 3 s
FLOAT16_MAX = float(np.finfo(np.float16).max)


def to_model_rate(waveform_mono: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """The waveform at 16 kHz, float32, resampled as `librosa.load(sr=16000)` does (soxr HQ)."""
    waveform = np.asarray(waveform_mono, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"waveform_mono must be one-dimensional (samples,), got shape {waveform.shape}; average the channels first")
    if int(sample_rate_hz) != SAMPLE_RATE_HZ:
        waveform = librosa.resample(waveform, orig_sr=int(sample_rate_hz), target_sr=SAMPLE_RATE_HZ, res_type="soxr_hq")
    return waveform.astype(np.float32, copy=False)


def musicnn_log_mel(waveform_16k: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 log-compressed mel spectrogram of a 16 kHz mono waveform, as the wheel computes it."""
    mel = librosa.feature.melspectrogram(
        y=np.asarray(waveform_16k, dtype=np.float32), sr=SAMPLE_RATE_HZ, n_fft=N_FFT_SAMPLES, hop_length=HOP_LENGTH_SAMPLES,
        win_length=None, window="hann", center=True, pad_mode="constant", power=2.0,
        n_mels=N_MELS, fmin=0.0, fmax=None, htk=False, norm="slaney",
    ).T
    mel16 = np.minimum(mel, FLOAT16_MAX).astype(np.float16)
    with np.errstate(over="ignore"):
        as_wheel = np.log10(np.float16(10000) * mel16 + np.float16(1))  # float16 arithmetic, as the wheel
    exact = np.log10(10000.0 * mel16.astype(np.float32) + 1.0)
    return np.where(np.isfinite(as_wheel), as_wheel.astype(np.float32), exact).astype(np.float32)


def musicnn_patches(log_mel: np.ndarray, patch_frames: int = PATCH_FRAMES) -> np.ndarray:
    """(n_patches, 187, 96) consecutive non-overlapping patches; a shorter clip is repeat-padded to one patch."""
    frames = log_mel.shape[0]
    if frames == 0:
        raise ValueError("empty waveform: no frames to make a musicnn patch from")
    if frames < patch_frames:
        log_mel = np.tile(log_mel, (int(np.ceil(patch_frames / frames)), 1))[:patch_frames]
        frames = patch_frames
    starts = range(0, frames - patch_frames + 1, patch_frames)
    return np.stack([log_mel[start:start + patch_frames] for start in starts]).astype(np.float32)


def musicnn_input(waveform_mono: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """(n_patches, 187, 96) network input for a mono waveform at any sample rate."""
    return musicnn_patches(musicnn_log_mel(to_model_rate(waveform_mono, sample_rate_hz)))
