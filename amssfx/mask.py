"""Latent-channel masks: one meaning of solo, mute and gain for the CLI, the app, sessions and the API.

A mask is a (heads, lach) array of gains, 1 = keep. Gains apply first; if any channel is soloed,
every channel that is not soloed is silenced (soloed channels keep their gains); muted channels
are silenced last. Every gain is checked where it enters: finite, between 0 and MAX_GAIN.
"""
from __future__ import annotations

import numpy as np

from .errors import MaskError

MAX_GAIN = 16.0  # +24 dB: far beyond any useful boost, still far from float overflow


def check_gain(value, what: str = "gain") -> float:
    """`value` as a float if it is a finite number in [0, MAX_GAIN]; MaskError naming `what` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise MaskError(f"{what} must be a number between 0 and {MAX_GAIN:g}, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v) or not 0.0 <= v <= MAX_GAIN:
        raise MaskError(f"{what} must be between 0 and {MAX_GAIN:g}, got {v!r}")
    return v


def check_mask(mask, shape: tuple[int, int], what: str = "mask") -> np.ndarray:
    """A float32 copy of `mask` if it has `shape` and every gain is finite and in [0, MAX_GAIN]."""
    try:
        m = np.array(mask, np.float32)
    except (TypeError, ValueError):
        raise MaskError(f"{what} must be a {shape[0]} x {shape[1]} array of numbers") from None
    if m.shape != tuple(shape):
        raise MaskError(f"{what} shape {m.shape}, the model has {shape[0]} heads x {shape[1]} latent channels")
    if not np.isfinite(m).all():
        raise MaskError(f"{what} gains must be finite numbers")
    if (m < 0).any() or (m > MAX_GAIN).any():
        raise MaskError(f"{what} gains must be between 0 and {MAX_GAIN:g}; got {float(m.min()):g} to {float(m.max()):g}")
    return m


def check_channel(head: int, lach: int, shape: tuple[int, int]) -> tuple[int, int]:
    if not (0 <= head < shape[0] and 0 <= lach < shape[1]):
        raise MaskError(f"latent channel {head}:{lach} out of range: heads 0-{shape[0] - 1}, lach 0-{shape[1] - 1}")
    return head, lach


def compose(shape: tuple[int, int], solos=(), mutes=(), gains=(), base=None) -> np.ndarray:
    """The mask of `base` (ones by default) with `gains` ((head, lach, gain), ...) set, everything but
    `solos` ((head, lach), ...) silenced if any, and `mutes` silenced. A channel named twice in one
    list is refused (it would otherwise be summed or overwritten without a word)."""
    m = np.ones(shape, np.float32) if base is None else check_mask(base, shape, "base mask")
    for name, items in (("solo", solos), ("mute", mutes), ("gain", [(h, l) for h, l, _ in gains])):
        seen = set()
        for h, l in items:
            check_channel(h, l, shape)
            if (h, l) in seen:
                raise MaskError(f"{name} of latent channel {h}:{l} given twice")
            seen.add((h, l))
    for h, l, g in gains:
        m[h, l] = check_gain(g, f"gain of latent channel {h}:{l}")
    if len(solos):
        keep = np.zeros(shape, bool)
        for h, l in solos:
            keep[h, l] = True
        m[~keep] = 0.0
    for h, l in mutes:
        m[h, l] = 0.0
    return m


def solo(shape: tuple[int, int], head: int, lach: int) -> np.ndarray:
    """Only latent channel (head, lach) at gain 1."""
    return compose(shape, solos=[(head, lach)])
