"""Task DSP of AMSS_TASKS.md: from four stems and a query to the (input, target) pair."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from .query import SOURCES, Query, parse

SAMPLE_RATE = 44100

# Cut-offs in Hz: (general, bass) per strength, per AMSS_TASKS.md.
LOWPASS_HZ = {"light": (1378.0, 172.0), "medium": (689.0, 86.0), "heavy": (344.0, 43.0)}
HIGHPASS_HZ = {"light": (1378.0, 86.0), "medium": (2756.0, 172.0), "heavy": (5512.0, 344.0)}
PAN_NEAR, PAN_FAR = 0.8, 0.2
VOLUME_UP, VOLUME_DOWN = 2.0, 0.5


@lru_cache(maxsize=64)
def _butter_sos(cutoff_hz: float, btype: str, sample_rate: int) -> np.ndarray:
    return signal.butter(4, cutoff_hz, btype=btype, fs=sample_rate, output="sos")


def butterworth(x: np.ndarray, cutoff_hz: float, btype: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """4th-order causal Butterworth per channel; x is (channels, time)."""
    y = signal.sosfilt(_butter_sos(float(cutoff_hz), btype, int(sample_rate)), x, axis=-1)
    return y.astype(np.float32)


def cutoff_hz(query: Query, stem: str) -> float:
    """The cut-off a filter query applies to `stem` (bass has its own column)."""
    table = LOWPASS_HZ if query.family == "lowpass" else HIGHPASS_HZ
    general, bass = table[query.strength or "medium"]
    return bass if stem == "bass" else general


def pan(x: np.ndarray, side: str, hard: bool) -> np.ndarray:
    """Mono-sum a stereo (2, time) signal and place it towards `side`."""
    m = 0.5 * (x[0] + x[1])
    near, far = (1.0, 0.0) if hard else (PAN_NEAR, PAN_FAR)
    left, right = (near, far) if side == "left" else (far, near)
    return np.stack([left * m, right * m]).astype(np.float32)


def reverb(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The dereverb task's reverb, cut to the input length."""
    import pedalboard

    rv = pedalboard.Reverb(room_size=0.8, damping=0.5, wet_level=0.33, dry_level=1.0, width=1.0)
    return rv(np.ascontiguousarray(x, dtype=np.float32), sample_rate)[:, : x.shape[-1]]


def edit_stem(x: np.ndarray, query: Query, stem: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The edit of one target stem for families that transform a stem in place."""
    f = query.family
    if f == "mute":
        return np.zeros_like(x)
    if f == "volume_up":
        return (VOLUME_UP * x).astype(np.float32)
    if f == "volume_down":
        return (VOLUME_DOWN * x).astype(np.float32)
    if f in ("pan", "hard_pan"):
        return pan(x, query.side or "left", hard=f == "hard_pan")
    if f in ("lowpass", "highpass"):
        return butterworth(x, cutoff_hz(query, stem), f, sample_rate)
    raise ValueError(f"family {f!r} has no per-stem edit")


def make_pair(stems: dict[str, np.ndarray], query: Query | str,
              sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) for a query; stems are (2, time) float32 arrays keyed by stem name.

    Both are divided by the same factor if either peaks above 1, so the pair stays consistent.
    """
    q = parse(query) if isinstance(query, str) else query
    mix = sum(stems.values())
    if q.family == "separate":
        inp, tgt = mix, sum(stems[s] for s in q.targets)
    elif q.family == "dereverb":
        wet = {k: (reverb(v, sample_rate) if k in q.targets else v) for k, v in stems.items()}
        inp, tgt = sum(wet.values()), mix
    else:
        edited = {k: (edit_stem(v, q, k, sample_rate) if k in q.targets else v) for k, v in stems.items()}
        inp, tgt = mix, sum(edited.values())
    inp, tgt = np.asarray(inp, np.float32), np.asarray(tgt, np.float32)
    peak = max(float(np.max(np.abs(inp), initial=0.0)), float(np.max(np.abs(tgt), initial=0.0)))
    if peak > 1.0:
        inp, tgt = inp / peak, tgt / peak
    return inp, tgt


def global_dsp(mix: np.ndarray, query: Query | str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The baseline 'edit the whole mixture' for a query.

    Filters use the bass column only when bass is the sole target; separate and mute
    (which have no whole-mix meaning) return the mixture and silence respectively.
    """
    q = parse(query) if isinstance(query, str) else query
    f = q.family
    if f == "separate" or f == "dereverb":
        return mix.astype(np.float32)
    stem = "bass" if q.targets == ("bass",) else "vocals"
    return edit_stem(mix, q, stem, sample_rate)


def sdr(target: np.ndarray, estimate: np.ndarray) -> float:
    """10·log10(Σt² / Σ(t−e)²) over the whole clip and all channels, in dB."""
    t = np.asarray(target, np.float64)
    e = np.asarray(estimate, np.float64)
    num = float(np.sum(t * t))
    den = float(np.sum((t - e) ** 2))
    return 10.0 * np.log10((num + 1e-12) / (den + 1e-12))


__all__ = ["SOURCES", "make_pair", "global_dsp", "sdr", "butterworth", "pan", "reverb", "cutoff_hz"]
