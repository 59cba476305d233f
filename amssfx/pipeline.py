"""One render of the preview: from a source position with one snapshot of the controls, the input read
block by block, the engine's stream, the resamplers to the device rate, and the source frame of every
output frame. A loop is read round without a break: the model hears the loop's end run into its start,
as the listener does, so the wrap costs no restart and leaves no short blocks."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .audio_io import AudioReader
from .engine import Engine, RenderParams
from .regions import Regions
from .resample import StreamResampler


@dataclass(frozen=True)
class Snapshot:
    """An immutable description of what to render; a new one bumps the generation."""

    params: RenderParams
    chain: tuple = ()
    mode: str = "processed"
    loop: tuple[int, int] | None = None  # source frames [start, end)
    regions: Regions | None = None  # the edit only inside these (the input elsewhere)


def wrap(pos, loop: tuple[int, int] | None):
    """Source frame(s) of stream position(s) `pos` counted on without wrapping: past the loop's end
    they come round to its start."""
    if loop is None:
        return pos
    a, b = loop
    return np.where(pos >= b, a + (pos - b) % (b - a), pos) if isinstance(pos, np.ndarray) else \
        (a + (pos - b) % (b - a) if pos >= b else pos)


class Pipeline:
    """The render from `source_pos` (a quarter chunk of preroll before it, dropped from the output).
    Positions kept here (`out_src`, `y_src`) count on past a loop's end; `wrap` maps them back."""

    def __init__(self, engine: Engine, reader: AudioReader, snap: Snapshot, source_pos: int, out_rate: int,
                 out_ch: int, block_frames: int):
        info = reader.info
        self.snap, self.reader, self.block, self.out_ch = snap, reader, block_frames, out_ch
        self.rate_ratio = info.sample_rate / out_rate
        loop = snap.loop
        if loop is not None:
            loop = (max(0, loop[0]), min(loop[1], info.frames))
            loop = loop if loop[1] > loop[0] else None
            if loop is not None and source_pos >= loop[1]:
                source_pos = loop[0]
        self.loop = loop
        preroll = min(source_pos, engine.model.contract.chunk_samples // 4)
        self.stream = engine.stream(info.sample_rate, info.channels, snap.params, list(snap.chain))
        self.rs = StreamResampler(info.sample_rate, out_rate, out_ch)
        self.rs_orig = StreamResampler(info.sample_rate, out_rate, out_ch)
        self.src = source_pos - preroll   # source frame of the first block read (preroll included)
        self.skip = preroll               # preroll frames still to drop from the output
        self.out_src = source_pos         # source frame of the next output frame (counting on past a loop)
        self.y_src = self.src             # the same for the stream's next output frame (preroll included)
        self.orig = np.zeros((info.channels, 0), np.float32)  # input read and not yet matched by output
        self.blocks: Iterator[np.ndarray] = self._read(self.src)
        self.done = False                 # the input ended (the stream was flushed)
        self.t_start: float | None = time.perf_counter()  # until its first audio (the restart cost)
        self.xfade_at: int | None = None  # ring position it replaces the queued audio from (change, seek)
        self.seek = False                 # it starts at a sought position

    def _read(self, start: int) -> Iterator[np.ndarray]:
        if self.loop is None:
            yield from self.reader.blocks(self.block, start=start)
            return
        a, b = self.loop
        pos = start
        while True:
            blocks = self.reader.blocks(self.block, start=pos)
            try:
                for x in blocks:
                    n = min(x.shape[1], b - pos)
                    yield x[:, :n]
                    pos += n
                    if pos >= b:
                        break
            finally:
                blocks.close()
            while pos < b:  # the file ended before the frame count its header gave: silence to the loop's end
                n = min(self.block, b - pos)
                yield np.zeros((self.reader.info.channels, n), np.float32)
                pos += n
            pos = a

    def _spans(self, start: int, n: int) -> list[tuple[int, int, int]]:
        """(offset, length, source frame) of the runs of consecutive source frames in n frames from
        `start` (one unless the loop wraps inside them)."""
        out, off = [], 0
        while off < n:
            s = int(wrap(start + off, self.loop))
            k = n - off if self.loop is None else min(n - off, self.loop[1] - s)
            out.append((off, k, s))
            off += k
        return out

    def meters(self) -> list[tuple[int, np.ndarray]]:
        """(source frame, latent power) of the chunks rendered since the last call."""
        return [(int(wrap(self.src + frame, self.loop)), energy) for frame, energy in self.stream.take_meters()]

    def source_frames(self, start: int, n: int) -> np.ndarray:
        """The source frame of each of n output frames (at the device rate) from `start`."""
        return wrap(start + (np.arange(n) * self.rate_ratio).astype(np.int64), self.loop)

    def _to_device(self, x: np.ndarray) -> np.ndarray:
        """(ch, n) at the source layout -> (ch_out, n): mono is duplicated; >2 channels play 1-2."""
        if x.shape[0] == self.out_ch:
            return x
        if x.shape[0] == 1:
            return np.repeat(x, self.out_ch, 0)
        return x[: self.out_ch]

    @staticmethod
    def _resample(rs: StreamResampler, x: np.ndarray, last: bool) -> np.ndarray:
        return np.concatenate([rs.process(x), rs.flush()], 1) if last else rs.process(x)

    def next_block(self, meters: list) -> tuple[np.ndarray, np.ndarray, int] | None:
        """The next (heard, original) blocks at the device rate and the (unwrapped) source frame of their
        first sample; None when the input has ended. Latent meters are appended to `meters`."""
        sr = self.reader.info.sample_rate
        while True:
            try:
                block = next(self.blocks)
                self.orig = np.concatenate([self.orig, block], 1)
                y = self.stream.process(block)
            except StopIteration:
                if self.done:
                    return None
                self.done = True
                y = self.stream.flush()
            meters.extend(self.meters())
            n = y.shape[1]
            orig, self.orig = self.orig[:, :n], self.orig[:, n:]
            regions = self.snap.regions
            if regions is not None:
                y = np.concatenate([regions.blend(y[:, o:o + k], orig[:, o:o + k], s, sr)
                                    for o, k, s in self._spans(self.y_src, n)] or [y], 1)
            self.y_src += n
            mode = self.snap.mode
            if mode == "original":
                y = orig
            elif mode == "difference":
                y = orig - y
            if self.skip:
                k = min(self.skip, n)
                y, orig = y[:, k:], orig[:, k:]
                self.skip -= k
            y = self._resample(self.rs, self._to_device(y), self.done)
            orig = self._resample(self.rs_orig, self._to_device(orig), self.done)
            if y.shape[1]:
                start = self.out_src
                self.out_src += int(round(y.shape[1] * self.rate_ratio))
                return y, orig, start
            if self.done:
                return None


__all__ = ["Pipeline", "Snapshot", "wrap"]
