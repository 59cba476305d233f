"""STFT in torch with the model's layout; matches amssfx.stft (numpy) used by the engine."""
from __future__ import annotations

import torch


def stft(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """(b, 2, time) -> (b, 4, frames, freq) as [Re_L, Re_R, Im_L, Im_R]; centred, zero-padded."""
    b, ch, t = audio.shape
    window = torch.hann_window(n_fft, device=audio.device)
    z = torch.stft(audio.reshape(b * ch, t), n_fft, hop, window=window, center=True,
                   pad_mode="constant", return_complex=True)  # (b*ch, freq, frames)
    z = z.reshape(b, ch, *z.shape[-2:]).transpose(-1, -2)  # (b, ch, frames, freq)
    return torch.cat([z.real, z.imag], 1)


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """(b, 4, frames, freq) -> (b, 2, length)."""
    b = spec.shape[0]
    z = torch.complex(spec[:, 0:2], spec[:, 2:4]).transpose(-1, -2)  # (b, 2, freq, frames)
    window = torch.hann_window(n_fft, device=spec.device)
    y = torch.istft(z.reshape(b * 2, *z.shape[-2:]), n_fft, hop, window=window, center=True, length=length)
    return y.reshape(b, 2, length)
