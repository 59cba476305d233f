"""The preview's ring buffer: one producer (the render worker), one consumer (the audio device)."""
from __future__ import annotations

import numpy as np


class RingBuffer:
    """Single-producer single-consumer ring of (channels, capacity) float32 with absolute indices.

    The producer writes at `write_pos`; the consumer reads from `read_pos`. Both are plain ints
    whose assignment is atomic under the GIL, so neither side takes a lock.
    """

    def __init__(self, channels: int, capacity: int):
        self.channels, self.capacity = channels, capacity
        self.data = np.zeros((capacity, channels), np.float32)  # frame-major, as the device wants it
        self.source_pos = np.zeros(capacity, np.int64)  # source frame of each ring frame
        self.write_pos = 0
        self.read_pos = 0

    def space(self) -> int:
        return self.capacity - (self.write_pos - self.read_pos)

    def write(self, frames: np.ndarray, source: np.ndarray, at: int | None = None) -> None:
        """frames (n, channels) and the source frame of each; `at` rewinds the write position (only ahead
        of read_pos)."""
        pos = self.write_pos if at is None else at
        n = frames.shape[0]
        i = pos % self.capacity
        first = min(n, self.capacity - i)
        self.data[i:i + first] = frames[:first]
        self.data[:n - first] = frames[first:]
        self.source_pos[i:i + first] = source[:first]
        self.source_pos[:n - first] = source[first:]
        self.write_pos = pos + n

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to len(out) frames into `out` (preallocated by the device); return the count."""
        avail = self.write_pos - self.read_pos
        n = min(out.shape[0], avail)
        if n > 0:
            i = self.read_pos % self.capacity
            first = min(n, self.capacity - i)
            out[:first] = self.data[i:i + first]
            if n > first:
                out[first:n] = self.data[:n - first]
            self.read_pos += n
        return max(n, 0)

    def crossfade(self, new: np.ndarray, at: int, length: int) -> np.ndarray:
        """`new` (n, channels), to be written at `at`, with its first `length` frames faded in over the
        audio queued there (as much of it as is queued)."""
        n = min(length, new.shape[0], max(self.write_pos - at, 0))
        if n <= 0:
            return new
        old = self.data[np.arange(at, at + n) % self.capacity]
        r = ((np.arange(n) + 0.5) / n)[:, None].astype(np.float32)
        out = new.copy()
        # old + r*(new - old), not old*(1-r) + new*r: where old and new are the same audio (a change
        # that leaves this stretch as it was), the result is that audio bit for bit.
        out[:n] = old + r * (new[:n] - old)
        return out
