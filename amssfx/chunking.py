"""Overlap-add in three parts: a chunk planner, weights, and a streaming accumulator."""
from __future__ import annotations

from typing import Callable

import numpy as np


def plan(total: int, chunk: int, overlap: int) -> list[int]:
    """Start positions of chunks covering [0, total); the last one may run past the end."""
    if chunk <= overlap:
        raise ValueError("chunk must be longer than overlap")
    step = chunk - overlap
    n = 1 + max(0, -(-(total - chunk) // step))
    return [i * step for i in range(n)]


def weights(chunk: int, overlap: int) -> np.ndarray:
    """Linear ramps over the overlaps, 1 in between; never 0, so every sample has weight."""
    w = np.ones(chunk, np.float32)
    if overlap:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        w[:overlap] = ramp
        w[-overlap:] = ramp[::-1]
    return w


class OverlapAdd:
    """Stream stage: process(block) / flush() / reset(); latency = one chunk.

    `fn(chunk_audio, chunk_index)` maps a (channels, chunk) array to one of the same shape;
    it sees real neighbouring audio as context and zeros only past the ends of the signal.
    The output equals whole-signal processing for any block sizes, and has the input's length.
    """

    def __init__(self, fn: Callable[[np.ndarray, int], np.ndarray], channels: int, chunk: int, overlap: int,
                 executor=None):
        """`executor` (a concurrent.futures executor) runs the chunks that are ready at once in
        parallel; results are accumulated in order, so the output does not change."""
        self.fn, self.channels, self.chunk, self.overlap = fn, channels, chunk, overlap
        self.executor = executor
        self.step = chunk - overlap
        self.window = weights(chunk, overlap)
        self.reset()

    @property
    def latency_samples(self) -> int:
        return self.chunk

    def reset(self) -> None:
        self._in = np.zeros((self.channels, 0), np.float32)  # input from the current chunk start
        self._acc = np.zeros((self.channels, self.chunk), np.float32)
        self._wacc = np.zeros(self.chunk, np.float32)
        self._index = 0
        self._pending = 0  # input samples received but not yet emitted

    def _run(self, audio: np.ndarray) -> None:
        self._add(self.fn(audio, self._index))

    def _add(self, y: np.ndarray) -> None:
        self._acc += y * self.window
        self._wacc += self.window
        self._index += 1

    def _emit(self, n: int) -> np.ndarray:
        out = self._acc[:, :n] / self._wacc[:n]
        self._acc = np.concatenate([self._acc[:, n:], np.zeros((self.channels, n), np.float32)], 1)
        self._wacc = np.concatenate([self._wacc[n:], np.zeros(n, np.float32)])
        self._in = self._in[:, n:]
        self._pending -= n
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        self._in = np.concatenate([self._in, np.asarray(block, np.float32)], 1)
        self._pending += block.shape[1]
        outs = []
        ready = 1 + (self._in.shape[1] - self.chunk) // self.step if self._in.shape[1] >= self.chunk else 0
        if self.executor is not None and ready > 1:
            chunks = [self._in[:, k * self.step:k * self.step + self.chunk].copy() for k in range(ready)]
            results = list(self.executor.map(self.fn, chunks, range(self._index, self._index + ready)))
            for y in results:
                self._add(y)
                outs.append(self._emit(self.step))
        else:
            while self._in.shape[1] >= self.chunk:
                self._run(self._in[:, :self.chunk])
                outs.append(self._emit(self.step))
        return np.concatenate(outs, 1) if outs else np.zeros((self.channels, 0), np.float32)

    def flush(self) -> np.ndarray:
        outs = []
        while self._pending > 0:
            pad = np.zeros((self.channels, self.chunk - self._in.shape[1]), np.float32)
            self._run(np.concatenate([self._in, pad], 1))
            outs.append(self._emit(min(self.step, self._pending)))
        out = np.concatenate(outs, 1) if outs else np.zeros((self.channels, 0), np.float32)
        self.reset()
        return out
