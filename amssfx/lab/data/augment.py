"""Timbre augmentation of training stems: a random low shelf and high shelf per stem.

Training audio comes from one soundfont, so every piano, bass or drum kit the model hears has
that soundfont's tone. Tilting each stem's spectrum by a few dB at random (a brighter snare, a
duller bass) makes the model pick sources by more than one sample set's exact colour. The
shelves are applied to the stems before the task, so the target is built from the same
equalised stems as the mix and the task's DSP is unchanged.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal

LOW_SHELF_HZ = (80.0, 400.0)  # corner ranges, drawn log-uniformly
HIGH_SHELF_HZ = (2000.0, 8000.0)


def shelf_sos(kind: str, corner_hz: float, gain_db: float, sample_rate: int) -> np.ndarray:
    """One second-order shelving section (slope 1) as a (1, 6) sos array; kind 'low' or 'high'."""
    if kind not in ("low", "high"):
        raise ValueError(f"shelf kind must be 'low' or 'high', got {kind!r}")
    sign = 1.0 if kind == "high" else -1.0  # the two shelves differ only in the sign of these terms
    a = 10 ** (gain_db / 40)
    w = 2 * math.pi * corner_hz / sample_rate
    cw, alpha = math.cos(w), math.sin(w) / 2 * math.sqrt(2)
    sa = 2 * math.sqrt(a) * alpha
    p, m = (a + 1) + sign * (a - 1) * cw, (a + 1) - sign * (a - 1) * cw
    b = [a * (p + sa), -2 * sign * a * ((a - 1) + sign * (a + 1) * cw), a * (p - sa)]
    den = [m + sa, 2 * sign * ((a - 1) - sign * (a + 1) * cw), m - sa]
    return np.array([b + den], np.float64) / den[0]


def random_shelves(x: np.ndarray, rng: np.random.Generator, max_db: float, sample_rate: int) -> np.ndarray:
    """x (channels, time) through a low and a high shelf with gains uniform in +-max_db and
    log-uniform corners; both channels alike. max_db 0 returns x unchanged."""
    if max_db <= 0:
        return x
    sos = np.concatenate([
        shelf_sos("low", math.exp(rng.uniform(*np.log(LOW_SHELF_HZ))), rng.uniform(-max_db, max_db), sample_rate),
        shelf_sos("high", math.exp(rng.uniform(*np.log(HIGH_SHELF_HZ))), rng.uniform(-max_db, max_db), sample_rate),
    ])
    return signal.sosfilt(sos, x, axis=-1).astype(np.float32)
