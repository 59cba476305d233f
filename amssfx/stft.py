"""STFT / iSTFT in numpy float32 with the model's layout (batch-free): (4, frames, freq)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import fft as sfft


def hann(n_fft: int) -> np.ndarray:
    """Periodic Hann window (as torch.hann_window)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def num_frames(length: int, hop: int) -> int:
    """Frames of a centred STFT of `length` samples."""
    return 1 + length // hop


def freq_bins(n_fft: int) -> int:
    return n_fft // 2 + 1


def chunk_samples(hop: int, frames: int) -> int:
    """Samples whose centred STFT has exactly `frames` frames."""
    return hop * (frames - 1)


def stft(audio: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(2, time) -> (4, frames, freq) as [Re_L, Re_R, Im_L, Im_R]; centred, zero-padded."""
    pad = n_fft // 2
    x = np.pad(np.asarray(audio, np.float32), ((0, 0), (pad, pad)))
    frames = num_frames(audio.shape[-1], hop)
    windows = sliding_window_view(x, n_fft, axis=-1)[:, ::hop][:, :frames]  # a view: (2, frames, n_fft)
    z = sfft.rfft(windows * hann(n_fft), axis=-1)  # complex64 for float32 input
    out = np.empty((2 * z.shape[0],) + z.shape[1:], np.float32)
    out[: z.shape[0]] = z.real
    out[z.shape[0]:] = z.imag
    return out


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """(ch, frames, n) frames placed `hop` apart and summed -> (ch, n + hop * (frames - 1))."""
    ch, count, n = frames.shape
    if n % hop:
        out = np.zeros((ch, n + hop * (count - 1)), np.float32)
        for i in range(count):
            out[:, i * hop:i * hop + n] += frames[:, i]
        return out
    r = n // hop  # n / hop shifted sums of hop-long pieces
    acc = np.zeros((ch, count + r - 1, hop), np.float32)
    pieces = frames.reshape(ch, count, r, hop)
    for k in range(r):
        acc[:, k:k + count] += pieces[:, :, k]
    return acc.reshape(ch, -1)


@lru_cache(maxsize=8)
def _window_sum(n_fft: int, hop: int, frames: int) -> np.ndarray:
    """Sum of the squared windows of `frames` frames; 1 where it is ~0 (the division leaves those alone)."""
    norm = _overlap_add(np.broadcast_to(hann(n_fft) ** 2, (1, frames, n_fft)), hop)[0]
    norm[norm <= 1e-8] = 1.0
    norm.flags.writeable = False
    return norm


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """(4, frames, freq) -> (2, length), by windowed overlap-add divided by the summed window²."""
    half = spec.shape[0] // 2
    z = np.empty((half,) + spec.shape[1:], np.complex64)
    z.real = spec[:half]
    z.imag = spec[half:]
    frames = z.shape[1]
    out = _overlap_add(sfft.irfft(z, n=n_fft, axis=-1) * hann(n_fft), hop)  # float32 frames
    pad = n_fft // 2
    return out[:, pad:pad + length] / _window_sum(n_fft, hop, frames)[pad:pad + length]
