"""STFT / iSTFT in numpy float32 with the model's layout (batch-free): (4, frames, freq)."""
from __future__ import annotations

import numpy as np


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
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]  # (frames, n_fft)
    z = np.fft.rfft(x[:, idx] * hann(n_fft), axis=-1)  # (2, frames, freq)
    return np.concatenate([z.real, z.imag]).astype(np.float32)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """(4, frames, freq) -> (2, length), by windowed overlap-add divided by the summed window²."""
    z = spec[0:2].astype(np.float32) + 1j * spec[2:4].astype(np.float32)
    frames = z.shape[1]
    w = hann(n_fft)
    y = np.fft.irfft(z, n=n_fft, axis=-1).astype(np.float32) * w  # (2, frames, n_fft)
    total = n_fft + hop * (frames - 1)
    out = np.zeros((2, total), np.float32)
    norm = np.zeros(total, np.float32)
    for i in range(frames):  # frames are few (a chunk); this loop is not the cost
        out[:, i * hop:i * hop + n_fft] += y[:, i]
        norm[i * hop:i * hop + n_fft] += w * w
    pad = n_fft // 2
    out = out[:, pad:pad + length]
    norm = norm[pad:pad + length]
    return out / np.where(norm > 1e-8, norm, 1.0)
