"""Streaming polyphase resampling whose output does not depend on the block size."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal

MAX_DENOMINATOR = 2000  # rates whose ratio needs more are approximated to < 1e-6 relative


def ratio(source_rate: float, target_rate: float) -> tuple[int, int]:
    """(up, down) with target/source ≈ up/down."""
    exact = Fraction(target_rate / source_rate) \
        if (isinstance(source_rate, float) and not float(source_rate).is_integer()) \
        else Fraction(int(target_rate), int(source_rate))
    f = exact.limit_denominator(MAX_DENOMINATOR)
    if f.numerator == 0 or abs(float(f) / float(exact) - 1) > 1e-6:  # a ratio too far from 1 to approximate
        f = exact
    return f.numerator, f.denominator


class StreamResampler:
    """process(block) / flush() / reset(); blocks are (channels, time) float32.

    Equivalent to scipy.signal.resample_poly over the whole signal: each segment is
    resampled with enough real neighbouring input on both sides to cover the filter.
    """

    def __init__(self, source_rate: float, target_rate: float, channels: int, segment: int = 16384):
        self.up, self.down = ratio(source_rate, target_rate)
        self.channels = channels
        half = 10 * max(self.up, self.down) / self.up + 2  # filter half-length in input samples
        self.context = self.down * int(np.ceil(half / self.down))
        self.segment = self.down * max(1, segment // self.down)
        self.reset()

    @property
    def identity(self) -> bool:
        return self.up == self.down

    def reset(self) -> None:
        self._buf = np.zeros((self.channels, self.context), np.float32)  # left context: silence
        self._start = self.context  # index in _buf of the first input sample not yet emitted
        self._in_total = 0
        self._out_total = 0

    def _resample(self, x: np.ndarray) -> np.ndarray:
        return signal.resample_poly(x, self.up, self.down, axis=-1).astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32)
        if self.identity:
            return block.copy()
        self._buf = np.concatenate([self._buf, block], axis=1)
        self._in_total += block.shape[1]
        outs = []
        while self._buf.shape[1] - self._start >= self.segment + self.context:
            outs.append(self._emit(self.segment))
        return np.concatenate(outs, 1) if outs else np.zeros((self.channels, 0), np.float32)

    def _emit(self, n: int) -> np.ndarray:
        a, c = self._start, self.context
        window = self._buf[:, a - c:a + n + c]
        if window.shape[1] < n + 2 * c:
            window = np.pad(window, ((0, 0), (0, n + 2 * c - window.shape[1])))
        y = self._resample(window)
        off = c * self.up // self.down
        count = n * self.up // self.down
        self._buf = self._buf[:, a + n - c:]
        self._start = c
        self._out_total += count
        return y[:, off:off + count]

    def flush(self) -> np.ndarray:
        """The rest of the output; total output = ceil(input * up / down)."""
        if self.identity:
            return np.zeros((self.channels, 0), np.float32)
        want = -(-self._in_total * self.up // self.down) - self._out_total
        remaining = self._buf.shape[1] - self._start
        n = self.down * int(np.ceil(remaining / self.down)) if remaining else 0
        out = self._emit(n)[:, :want] if n else np.zeros((self.channels, 0), np.float32)
        self.reset()
        return out
