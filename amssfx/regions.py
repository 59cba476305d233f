"""Edits on a region: the query, channels, mixer and effects apply inside time ranges only.

Outside every region the output is the input, sample for sample; inside, the edit fades in and out
over CROSSFADE_SECONDS at each edge (the fades lie inside the region, so nothing outside changes).
Regions are kept in seconds (a session replays on a resampled copy of its input too) and turned into
frames of each file's own rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import UsageValueError

CROSSFADE_SECONDS = 0.01
MAX_REGIONS = 1000


@dataclass(frozen=True)
class Regions:
    """Sorted, non-overlapping [start, end) ranges in seconds."""

    spans: tuple[tuple[float, float], ...]

    @classmethod
    def make(cls, spans) -> "Regions":
        if isinstance(spans, (str, bytes)) or not hasattr(spans, "__iter__"):
            raise UsageValueError("regions must be a list of [start, end] pairs in seconds")
        out = []
        for k, span in enumerate(spans):
            if isinstance(span, (str, bytes)) or not hasattr(span, "__len__") or len(span) != 2:
                raise UsageValueError(f"region {k + 1} must be a [start, end] pair in seconds")
            a, b = span
            for v in (a, b):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or \
                        (v is a and math.isinf(v)) or v == -math.inf:
                    raise UsageValueError(f"region {k + 1}: times must be finite numbers of seconds, got {v!r}")
            if not 0 <= a < b:
                raise UsageValueError(f"region {k + 1}: start {a:g} s must be at least 0 and before its end {b:g} s")
            out.append((float(a), float(b)))
        if not out:
            raise UsageValueError("regions: give at least one [start, end] range (or none at all for the whole file)")
        if len(out) > MAX_REGIONS:
            raise UsageValueError(f"at most {MAX_REGIONS} regions")
        out.sort()
        for (a0, b0), (a1, b1) in zip(out, out[1:]):
            if a1 < b0:
                raise UsageValueError(f"regions {a0:g}-{b0:g} s and {a1:g}-{b1:g} s overlap")
        return cls(tuple(out))

    @classmethod
    def parse(cls, start: float | None, end: float | None) -> "Regions | None":
        """The CLI's --start/--end (either may be left out: from the beginning, to the end)."""
        if start is None and end is None:
            return None
        return cls.make([(0.0 if start is None else start, math.inf if end is None else end)])

    def to_list(self) -> list[list[float | None]]:
        """For sessions (JSON): an open end is null."""
        return [[a, None if math.isinf(b) else b] for a, b in self.spans]

    @classmethod
    def from_list(cls, spans) -> "Regions":
        if not isinstance(spans, list):
            raise UsageValueError("regions must be a list of [start, end] pairs in seconds")
        return cls.make([(s[0], math.inf if s[1] is None else s[1]) if isinstance(s, list) and len(s) == 2 else s
                         for s in spans])

    def frames(self, sample_rate: int) -> list[tuple[int, int]]:
        return [(int(round(a * sample_rate)), int(round(b * sample_rate)) if math.isfinite(b) else 2 ** 62)
                for a, b in self.spans]

    def weights(self, start: int, n: int, sample_rate: int) -> np.ndarray:
        """The edit's weight (0 = the input, 1 = the edit) of frames start..start+n at `sample_rate`."""
        t = np.arange(start, start + n, dtype=np.float64)
        w = np.zeros(n, np.float64)
        fade = max(1.0, CROSSFADE_SECONDS * sample_rate)
        for a, b in self.frames(sample_rate):
            if b <= start or a >= start + n:
                continue
            inside = (t >= a) & (t < b)
            ramp = np.minimum((t - a + 0.5) / fade, (b - t - 0.5) / fade)
            w = np.where(inside, np.clip(ramp, 0.0, 1.0), w)
        return w.astype(np.float32)

    def blend(self, edited: np.ndarray, original: np.ndarray, start: int, sample_rate: int) -> np.ndarray:
        """(channels, n) blocks aligned at source frame `start` -> the input outside the regions, the edit
        inside (exactly the input where the weight is 0)."""
        w = self.weights(start, edited.shape[1], sample_rate)
        if not w.any():
            return original.copy()
        return original * (1 - w) + edited * w  # exactly the input at 0, exactly the edit at 1

    def aligner(self, sample_rate: int) -> "RegionBlend":
        return RegionBlend(self, sample_rate)

    def describe(self) -> str:
        return ", ".join(f"{a:g}-{'end' if math.isinf(b) else f'{b:g}'} s" for a, b in self.spans)


class RegionBlend:
    """Streams: the input blocks as they are read, and the edit's output blocks as they come (of other
    lengths, the same frames in total), blended frame by frame."""

    def __init__(self, regions: Regions, sample_rate: int):
        self.regions, self.sample_rate = regions, sample_rate
        self._held: list[np.ndarray] = []
        self._pos = 0  # source frame of the next output frame

    def read(self, block: np.ndarray) -> None:
        self._held.append(block)

    def blend(self, edited: np.ndarray) -> np.ndarray:
        n = edited.shape[1]
        held = np.concatenate(self._held, 1) if len(self._held) != 1 else self._held[0]
        original, rest = held[:, :n], held[:, n:]
        self._held = [rest] if rest.shape[1] else []
        out = self.regions.blend(edited, original, self._pos, self.sample_rate)
        self._pos += n
        return out


__all__ = ["Regions", "RegionBlend", "CROSSFADE_SECONDS"]
