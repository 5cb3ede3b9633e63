"""The input of the pretrained aisfx network, reimplemented exactly (no dependency on the aisfx package).

The aisfx wheel (0.1.2, librosa path `aisfx.spectrogram.spectrogram_librosa.compute_spectrogram` followed
by `aisfx.preprocessing.spectrogram_normalize` and `blocking`) does, in this order:

1. `librosa.load(path, sr=44100)`: float32 samples, channels averaged into mono, then resampled to 44.1 kHz
   and fixed to `ceil(n * 44100 / sr)` samples. librosa 0.9.2 (the wheel's pin) resamples with resampy
   `kaiser_best`. sonolab's default is soxr HQ (`resampler="soxr_hq"`, what librosa >= 0.10 uses: no extra
   dependency, fast); `resampler="kaiser_best"` (needs `pip install resampy`, extra `sonolab[aisfx-exact]`)
   reproduces the wheel bit for bit. Only clips not already at 44.1 kHz are affected: the two filters
   differ near the source's Nyquist frequency, which log10(1 + 10^4 x) magnifies (on 8 kHz speech, up to
   0.2 in input units and ~15 % of an embedding's largest value; measured in tests/models/test_aisfx.py).
2. peak normalisation `y / max|y|` (a silent clip is left as it is);
3. `librosa.feature.melspectrogram`: centred frames with constant zero padding, periodic Hann window of
   2048 samples, hop 1024, power 2, 96 HTK mel bands from 0 to 22050 Hz, each filter scaled to unit sum
   (`norm=1.0`);
4. `log10(1 + 10^4 * power)` then min-max with the paper's constants (0, 9.457798957824707);
5. 100-frame blocks (see `aisfx_blocks`).

Layout: sonolab's `(n_mels, frames)` = `(96, frames)`; the wheel works on the transpose.
"""

from __future__ import annotations

import functools
import math

import librosa
import numpy as np
import soxr

from sonolab.errors import ConfigError

SAMPLE_RATE_HZ = 44100
N_FFT = 2048
HOP_LENGTH_SAMPLES = 1024
N_MELS = 96
MIN_FREQUENCY_HZ = 0.0
MAX_FREQUENCY_HZ = 22050.0
LOG_SCALE = 10000.0  # log10(1 + LOG_SCALE * power)
NORMALISATION_MIN = 0.0  # the paper's min-max constants ('original' in aisfx.preprocessing)
NORMALISATION_MAX = 9.457798957824707
BLOCK_FRAMES = 100  # about 2.3 s at 44.1 kHz with hop 1024
DEFAULT_HOP_FRAMES = 50  # aisfx.inference.main's emb_hop_size=0.5 (the paper: 1 s hop)
DEFAULT_DROP_PARTIAL_BLOCK = True  # aisfx.inference.main's default
RESAMPLERS: tuple[str, ...] = ("soxr_hq", "kaiser_best")
DEFAULT_RESAMPLER = "soxr_hq"


def peak_normalise(samples: np.ndarray) -> np.ndarray:
    """`samples / max|samples|` in float32; silence (peak 0) is returned unchanged, as the wheel does."""
    peak = np.max(np.abs(samples))
    if peak == 0:
        peak = np.float32(1.0)
    return (samples / peak).astype(np.float32, copy=False)


def aisfx_waveform(waveform: np.ndarray, sample_rate_hz: int, resampler: str = DEFAULT_RESAMPLER) -> np.ndarray:
    """float32 mono `(samples,)` at 44.1 kHz, peak-normalised, from `(samples,)` or `(channels, samples)`."""
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=0)  # librosa.to_mono: the mean of the channels
    if samples.ndim != 1:
        raise ConfigError(f"aisfx input needs (samples,) or (channels, samples) audio, got shape {samples.shape}")
    if samples.shape[0] == 0:
        raise ConfigError("aisfx input got empty audio (0 samples) (fix: drop the file or check its source)")
    if not np.all(np.isfinite(samples)):
        raise ConfigError("aisfx input got NaN or infinite samples (fix: check the audio's source file)")
    if int(sample_rate_hz) <= 0:
        raise ConfigError(f"sample_rate_hz must be positive, got {sample_rate_hz}")
    if int(sample_rate_hz) != SAMPLE_RATE_HZ:
        samples = resample_like_librosa(samples, int(sample_rate_hz), SAMPLE_RATE_HZ, resampler)
    return peak_normalise(samples)


def resample_like_librosa(
    samples: np.ndarray, source_sample_rate_hz: int, target_sample_rate_hz: int, resampler: str = DEFAULT_RESAMPLER
) -> np.ndarray:
    """Resample `(samples,)` float32 as `librosa.resample(res_type=resampler, fix=True)` does: soxr HQ or
    resampy `kaiser_best`, then padded/trimmed to `ceil(n * ratio)` samples."""
    if resampler == "soxr_hq":
        resampled = soxr.resample(samples, source_sample_rate_hz, target_sample_rate_hz, quality="HQ")
    elif resampler == "kaiser_best":
        try:
            import resampy
        except ImportError as error:
            raise ConfigError("resampler 'kaiser_best' needs resampy (fix: pip install 'sonolab[aisfx-exact]' or use resampler 'soxr_hq')") from error
        resampled = resampy.resample(samples, source_sample_rate_hz, target_sample_rate_hz, filter="kaiser_best", axis=-1)
    else:
        raise ConfigError(f"resampler must be one of {', '.join(RESAMPLERS)}, got {resampler!r}")
    resampled = np.asarray(resampled, dtype=np.float32)
    length = int(math.ceil(samples.shape[0] * float(target_sample_rate_hz) / source_sample_rate_hz))
    return librosa.util.fix_length(resampled, size=length)


@functools.lru_cache(maxsize=1)
def mel_filter_bank() -> np.ndarray:
    """The 96 HTK mel filters `(96, 1025)` (float32), each scaled to unit sum (librosa `norm=1.0`)."""
    weights = librosa.filters.mel(
        sr=SAMPLE_RATE_HZ, n_fft=N_FFT, n_mels=N_MELS, fmin=MIN_FREQUENCY_HZ, fmax=MAX_FREQUENCY_HZ, htk=True, norm=1.0
    )
    weights.setflags(write=False)
    return weights


def frames_for_samples(num_samples_44k: int) -> int:
    """STFT frames (centred) for `num_samples_44k` samples at 44.1 kHz."""
    return 1 + int(num_samples_44k) // HOP_LENGTH_SAMPLES


def mel_power(samples_44k: np.ndarray) -> np.ndarray:
    """Mel power spectrogram `(96, frames)` float32 of prepared 44.1 kHz mono samples (step 3)."""
    return librosa.feature.melspectrogram(
        y=np.asarray(samples_44k, dtype=np.float32),
        sr=SAMPLE_RATE_HZ,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH_SAMPLES,
        win_length=N_FFT,
        window="hann",
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=N_MELS,
        fmin=MIN_FREQUENCY_HZ,
        fmax=MAX_FREQUENCY_HZ,
        htk=True,
        norm=1.0,
    ).astype(np.float32, copy=False)


def compress_and_normalise(power: np.ndarray) -> np.ndarray:
    """`(log10(1 + 10^4 power) - 0) / (9.4578 - 0)` in float32 (step 4); silence maps to 0."""
    compressed = np.log10(np.asarray(power, dtype=np.float32) * np.float32(LOG_SCALE) + np.float32(1.0))
    return ((compressed - NORMALISATION_MIN) / (NORMALISATION_MAX - NORMALISATION_MIN)).astype(np.float32)


def aisfx_input(waveform: np.ndarray, sample_rate_hz: int, resampler: str = DEFAULT_RESAMPLER) -> np.ndarray:
    """The network's input `(96, frames)` float32 for one clip (steps 1-4), frames = 1 + n_44k // 1024."""
    return compress_and_normalise(mel_power(aisfx_waveform(waveform, sample_rate_hz, resampler)))


def block_starts(num_frames: int, hop_frames: int = DEFAULT_HOP_FRAMES, drop_partial_block: bool = DEFAULT_DROP_PARTIAL_BLOCK) -> list[int]:
    """Start frames of the 100-frame blocks, exactly as `aisfx.preprocessing.blocking` counts them.

    `ceil((frames - 100) / hop + 1)` blocks; one fewer when `drop_partial_block` and the last block would
    run past the end (`(frames - 100) % hop != 0`); never fewer than one, so a clip shorter than 100
    frames gives one block, zero-padded. (The wheel's `compute_hopSize` also asserts `hop < frames`, which
    makes `model_get_embedding` fail on clips of at most `hop` frames; sonolab skips that assertion and
    blocks them as `blocking` itself does.)
    """
    if hop_frames < 1:
        raise ConfigError(f"hop_frames must be at least 1, got {hop_frames}")
    count = int(np.ceil((num_frames - BLOCK_FRAMES) / hop_frames + 1))
    if (num_frames - BLOCK_FRAMES) % hop_frames != 0 and drop_partial_block:
        count -= 1
    count = max(count, 1)
    return [index * hop_frames for index in range(count)]


def aisfx_blocks(
    spectrogram: np.ndarray, hop_frames: int = DEFAULT_HOP_FRAMES, drop_partial_block: bool = DEFAULT_DROP_PARTIAL_BLOCK
) -> np.ndarray:
    """Cut a `(96, frames)` aisfx input into `(n_blocks, 96, 100)` blocks; frames past the end are 0 (silence)."""
    spectrogram = np.asarray(spectrogram, dtype=np.float32)
    if spectrogram.ndim != 2 or spectrogram.shape[0] != N_MELS:
        raise ConfigError(f"aisfx blocks need a (96, frames) aisfx input, got shape {spectrogram.shape}")
    num_frames = spectrogram.shape[1]
    padded = np.concatenate([spectrogram, np.zeros((N_MELS, BLOCK_FRAMES), dtype=np.float32)], axis=1)
    starts = block_starts(num_frames, hop_frames, drop_partial_block)
    return np.stack([padded[:, start : start + BLOCK_FRAMES] for start in starts])
