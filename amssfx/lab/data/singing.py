"""Recorded voices in a song: words spoken on the beat, or sung on a melody with the WORLD vocoder
(pitch moved onto the notes with a scoop and vibrato, the vowel held for the note's length)."""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from .sampler import SAMPLE_RATE, add_at, load
from .sources import padded

FRAME_MS = 5.0
TRIM_DB = -40.0  # a padded take keeps what is within this of its peak, with short margins
TRIM_MARGINS_S = (0.01, 0.05)


@lru_cache(maxsize=512)
def take(path: str) -> np.ndarray:
    """A recorded word as (2, time) float32: the file as it is, or, for a take its package pads with
    silence (sources.padded), cut to the span within TRIM_DB of its peak."""
    x = load(path)
    if not padded(path) or not np.any(x):
        return x
    env = np.abs(x).max(0)
    loud = np.flatnonzero(env >= env.max() * 10 ** (TRIM_DB / 20))  # not empty: the peak is in it
    a = max(int(loud[0]) - int(TRIM_MARGINS_S[0] * SAMPLE_RATE), 0)
    b = min(int(loud[-1]) + int(TRIM_MARGINS_S[1] * SAMPLE_RATE), x.shape[-1])
    return x[:, a:b]


@lru_cache(maxsize=256)
def _analysis(path: str):
    """WORLD analysis of a word (mono): (f0, spectral envelope, aperiodicity), 5 ms frames."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports pkg_resources, which warns on import
        import pyworld
    x = take(path).mean(0).astype(np.float64)
    f0, t = pyworld.dio(x, SAMPLE_RATE, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, t, SAMPLE_RATE)
    sp = pyworld.cheaptrick(x, f0, t, SAMPLE_RATE)
    ap = pyworld.d4c(x, f0, t, SAMPLE_RATE)
    return f0, sp, ap


def _hz(midi: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, np.float64) - 69.0) / 12.0)


def sing_word(path: str, midi: float, seconds: float, rng: np.random.Generator, formant: float = 1.0) -> np.ndarray:
    """One word sung on one note for `seconds`: its voiced frames stretched (the vowel held), its
    consonants kept, f0 replaced by the note with a scoop into it and delayed vibrato; mono."""
    import pyworld

    f0, sp, ap = _analysis(path)
    voiced = np.flatnonzero(f0 > 0)
    n_out = max(int(seconds * 1000 / FRAME_MS), 4)
    if len(voiced) < 3:  # nothing to sing: speak it
        idx = np.arange(len(f0))
        new_f0 = f0.copy()
    else:
        a, b = int(voiced[0]), int(voiced[-1]) + 1
        head, tail = np.arange(0, a), np.arange(b, len(f0))
        body_n = max(n_out - len(head) - len(tail), b - a)
        body = np.linspace(a, b - 1, body_n).round().astype(int)
        idx = np.concatenate([head, body, tail])
        t = np.arange(body_n) * FRAME_MS / 1000
        rate, depth = rng.uniform(4.5, 6.5), rng.uniform(0.15, 0.5)  # Hz, semitones
        onset = np.clip((t - rng.uniform(0.15, 0.35)) / 0.2, 0.0, 1.0)  # vibrato fades in after the attack
        scoop = -rng.uniform(0.3, 1.2) * np.exp(-t / rng.uniform(0.03, 0.08))
        drift = np.cumsum(rng.normal(0, 0.01, body_n))
        pitch = midi + scoop + onset * depth * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3)) + drift
        new_f0 = np.zeros(len(idx))
        body_f0 = _hz(pitch)
        body_f0[f0[body] <= 0] = 0.0  # unvoiced frames inside the word stay unvoiced
        new_f0[len(head):len(head) + body_n] = body_f0
    new_sp, new_ap = sp[idx], ap[idx]
    if formant != 1.0:  # a longer or shorter vocal tract: the envelope warped along frequency
        bins = np.arange(new_sp.shape[1])
        src = np.clip(bins / formant, 0, new_sp.shape[1] - 1)
        new_sp = np.stack([np.interp(src, bins, row) for row in new_sp])
    y = pyworld.synthesize(np.ascontiguousarray(new_f0), np.ascontiguousarray(new_sp),
                           np.ascontiguousarray(new_ap), SAMPLE_RATE, FRAME_MS)
    peak = np.max(np.abs(y)) if len(y) else 0.0
    return (y / peak * 0.5 if peak > 0 else y).astype(np.float32)


def sung_line(notes, words: list[str], n_samples: int, rng: np.random.Generator, transpose: int = 0,
              pan: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """A melody (the voice part's notes) sung by one speaker, one word per note."""
    out = np.zeros((2, n_samples), np.float32)
    formant = float(rng.uniform(0.92, 1.08))
    for n in notes:
        midi = n.key + transpose
        while midi > 76:
            midi -= 12
        while midi < 50:
            midi += 12
        y = sing_word(words[int(rng.integers(len(words)))], midi, n.duration_s, rng, formant)
        release = min(len(y), int(0.04 * SAMPLE_RATE))
        if release:
            y[-release:] *= np.linspace(1, 0, release, dtype=np.float32)
        add_at(out, np.stack([y, y]), int(n.time_s * SAMPLE_RATE), gain * (0.6 + 0.4 * n.velocity / 127), pan)
    return out


def spoken_line(words: list[str], beat_s: float, n_samples: int, rng: np.random.Generator,
                pan: float = 0.0) -> np.ndarray:
    """Words spoken on the beat in phrases of two to six, a rest between phrases (a rap or a
    spoken verse)."""
    out = np.zeros((2, n_samples), np.float32)
    t = float(rng.integers(0, 4)) * beat_s
    step = beat_s * float(rng.choice([0.5, 1.0]))
    while t * SAMPLE_RATE < n_samples:
        for _ in range(int(rng.integers(2, 7))):
            x = take(words[int(rng.integers(len(words)))])
            add_at(out, x.mean(0, keepdims=True).repeat(2, 0), int(t * SAMPLE_RATE), float(rng.uniform(0.6, 1.0)), pan)
            t += max(step, x.shape[-1] / SAMPLE_RATE * 0.8)
        t += beat_s * float(rng.integers(2, 6))
    return out
