"""The one engine behind the CLI, the app and the API: file -> chunks -> model -> overlap-add -> effects -> file."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .audio_io import AtomicWriter, AudioReader
from .chunking import OverlapAdd
from .effects import EffectChain, validate_chain
from .errors import Cancelled, QueryError, UsageValueError
from .mix import STEM_QUERIES, StemMix
from .model_runtime import DEFAULT_MODEL, OnnxModel
from .query import Query, parse
from .regions import Regions
from .resample import StreamResampler

MODEL_RATE = 44100
# 12.5 % overlap: 1.14 model passes per second of audio (25 % costs 1.33). On the held-out
# evaluation (64 clips per family, FluidR3_GM) the wide_mask model's gains moved by 0.01-0.05 dB
# between the two, far inside their intervals; the time saved pays for a wider model.
OVERLAP_FRACTION = 0.125
READ_BLOCK = 65536 * 4  # about 6 s: several chunks ready at once for the parallel runner


@dataclass(frozen=True)
class RenderParams:
    """What the model does: the query, the latent-channel gains, the direct path's weight, and the stem
    mixer over the result (mix.py)."""

    query: Query
    mask: tuple[tuple[float, ...], ...]
    direct_gain: float = 1.0
    mix: StemMix = StemMix()

    @classmethod
    def make(cls, query: Query | str, mask_shape: tuple[int, int], mask=None, direct_gain: float = 1.0,
             mix: StemMix | None = None):
        from .mask import check_gain, check_mask

        if isinstance(query, str):
            q = parse(query)
        elif isinstance(query, Query):
            q = query
        else:
            raise QueryError(f"a query must be text or a Query, got {type(query).__name__}")
        m = np.ones(mask_shape, np.float32) if mask is None else check_mask(mask, tuple(mask_shape))
        if mix is not None and not isinstance(mix, StemMix):
            raise UsageValueError(f"mix must be a StemMix, got {type(mix).__name__}")
        return cls(q, tuple(tuple(float(v) for v in row) for row in m), check_gain(direct_gain, "direct_gain"),
                   mix or StemMix())

    def mask_array(self) -> np.ndarray:
        return np.asarray(self.mask, np.float32)


_STEM_QUERY_CACHE: dict[str, Query] = {}


def stem_query(name: str) -> Query:
    """The parsed query of one stem of the mixer (and of the stem export)."""
    if name not in _STEM_QUERY_CACHE:
        _STEM_QUERY_CACHE[name] = parse(STEM_QUERIES[name])
    return _STEM_QUERY_CACHE[name]


def overlap_samples(chunk_samples: int) -> int:
    """How many samples neighbouring chunks share."""
    return int(chunk_samples * OVERLAP_FRACTION)


def channel_groups(channels: int) -> list[tuple[int, ...]]:
    """Channels are processed in pairs (1+2, 3+4, ...); an odd last channel is processed as mono."""
    return [tuple(range(i, min(i + 2, channels))) for i in range(0, channels, 2)]


@dataclass
class Report:
    output: Path | None = None
    frames: int = 0
    sample_rate: int = 0
    channels: int = 0
    seconds: float = 0.0
    clipped: int = 0
    warnings: list[str] = field(default_factory=list)


class _GroupStream:
    """One channel group at the source rate: resample -> stereo -> model OLA -> effects -> back."""

    def __init__(self, model: OnnxModel, n_ch: int, sample_rate: int, params_fn, chain_spec, executor=None):
        self.n_ch = n_ch
        c = model.contract
        self.model, self.params_fn = model, params_fn
        self.up = StreamResampler(sample_rate, MODEL_RATE, n_ch)
        self.down = StreamResampler(MODEL_RATE, sample_rate, n_ch)
        self.ola = OverlapAdd(self._chunk, 2, c.chunk_samples, overlap_samples(c.chunk_samples), executor)
        self.chain = EffectChain(chain_spec, MODEL_RATE)
        self.energies: deque = deque(maxlen=64)  # (chunk index, (heads, lach) power) of recent chunks

    def _chunk(self, audio: np.ndarray, index: int) -> np.ndarray:
        p: RenderParams = self.params_fn()
        if not audio.any():  # digital silence stays silence, and costs nothing
            return np.zeros_like(audio)
        y, energy = self.model.run_chunk(audio, p.query, p.mask_array(), p.direct_gain)
        if energy is not None:
            self.energies.append((index, energy))
        for name in p.mix.touched():  # the stem mixer: one pass per stem it changes
            stem, _ = self.model.run_chunk(audio, stem_query(name), np.ones(self.model.mask_shape, np.float32))
            y = y + getattr(p.mix, name).apply(stem) - stem
        return y

    def _to_stereo(self, x):
        return np.repeat(x, 2, 0) if self.n_ch == 1 else x

    def _from_stereo(self, y):
        return y.mean(0, keepdims=True) if self.n_ch == 1 else y

    def _tail(self, y: np.ndarray) -> np.ndarray:
        return self.down.process(self._from_stereo(self.chain.process(y)))

    def process(self, x: np.ndarray) -> np.ndarray:
        return self._tail(self.ola.process(self._to_stereo(self.up.process(x))))

    def flush(self) -> np.ndarray:
        a = self._tail(self.ola.process(self._to_stereo(self.up.flush())))
        b = self._tail(self.ola.flush())
        return np.concatenate([a, b, self.down.flush()], 1)

    def reset(self) -> None:
        for stage in (self.up, self.down, self.ola, self.chain):
            stage.reset()


class Stream:
    """process(block) / flush() / reset() over (channels, time) audio at the source rate.

    Output has exactly the input's length and channel count, whatever the block sizes.
    `params_fn` is asked once per model chunk, so a change takes effect from the next chunk.
    """

    def __init__(self, model: OnnxModel, sample_rate: int, channels: int,
                 params_fn: Callable[[], RenderParams], chain_spec=None, executor=None):
        self.groups = [(g, _GroupStream(model, len(g), sample_rate, params_fn, chain_spec, executor))
                       for g in channel_groups(channels)]
        self.channels = channels
        self.sample_rate = sample_rate
        self.reset()

    def take_meters(self) -> list[tuple[int, np.ndarray]]:
        """The latent-channel power ((heads, lach) array) of every chunk rendered since the last call, each
        with the source frame where its chunk starts, counted from the stream's first input frame (the
        first channel pair's; the model's mask-free outputs give none)."""
        group = self.groups[0][1]
        step = group.ola.step * self.sample_rate / MODEL_RATE
        out = []
        while group.energies:
            index, energy = group.energies.popleft()
            out.append((int(index * step), energy))
        return out

    @property
    def warnings(self) -> list[str]:
        return [w for _, g in self.groups for w in g.chain.warnings]

    def _join(self, parts: list[np.ndarray]) -> np.ndarray:
        """Interleave the groups' outputs; a group that is ahead keeps its surplus for next time."""
        self._pending = [np.concatenate([q, p], 1) for q, p in zip(self._pending, parts)]
        n = min(min(q.shape[1] for q in self._pending), self._in - self._out)
        out = np.zeros((self.channels, n), np.float32)
        for (idx, _), q in zip(self.groups, self._pending):
            out[list(idx)] = q[:, :n]
        self._pending = [q[:, n:] for q in self._pending]
        self._out += n
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        self._in += block.shape[1]
        return self._join([g.process(block[list(idx)]) for idx, g in self.groups])

    def flush(self) -> np.ndarray:
        out = self._join([g.flush() for _, g in self.groups])
        missing = self._in - self._out
        if missing > 0:  # resampling rounds down by at most a sample or two at the very end
            out = np.concatenate([out, np.zeros((self.channels, missing), np.float32)], 1)
            self._out += missing
        self.reset()
        return out

    def reset(self) -> None:
        for _, g in self.groups:
            g.reset()
        self._in = self._out = 0
        self._pending = [np.zeros((len(idx), 0), np.float32) for idx, _ in self.groups]


MAX_THREADS = 256


class Engine:
    """Loads one model and renders audio with it; safe to share between threads for reads.

    Files run chunks in parallel, one single-threaded onnxruntime call per core (here two
    single-threaded calls beat one two-threaded call); the preview runs one chunk at a time, on
    up to PREVIEW_THREADS onnxruntime threads (model_runtime.py).
    """

    def __init__(self, model: OnnxModel | str | Path | None = None, threads: int | None = None,
                 preview: bool = False):
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or not 1 <= threads <= MAX_THREADS):
            raise UsageValueError(f"threads must be a whole number from 1 to {MAX_THREADS}, got {threads!r}")
        workers = 1 if preview else (threads or os.cpu_count() or 1)
        if isinstance(model, OnnxModel):
            self.model = model
        else:
            self.model = OnnxModel(model or DEFAULT_MODEL, 1 if workers > 1 else threads, preview)
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="amssfx-chunk") if workers > 1 else None

    @property
    def mask_shape(self) -> tuple[int, int]:
        return self.model.mask_shape

    def params(self, query: Query | str, mask=None, direct_gain: float = 1.0, mix: StemMix | None = None) -> RenderParams:
        return RenderParams.make(query, self.mask_shape, mask, direct_gain, mix)

    def stream(self, sample_rate: int, channels: int, params: RenderParams | Callable[[], RenderParams],
               chain=None) -> Stream:
        fn = params if callable(params) else (lambda: params)
        return Stream(self.model, sample_rate, channels, fn, validate_chain(chain or []), self.executor)

    def process_array(self, audio: np.ndarray, sample_rate: int, params: RenderParams, chain=None,
                      block: int = READ_BLOCK) -> np.ndarray:
        """(channels, time) -> (channels, time); the input array is not modified."""
        audio = np.asarray(audio, np.float32)
        if not np.isfinite(audio).all():
            from .errors import NonFiniteAudioError
            bad = np.argwhere(~np.isfinite(audio))[0]
            raise NonFiniteAudioError(f"audio has NaN/Inf samples, first at frame {bad[1]} channel {bad[0]}")
        s = self.stream(sample_rate, audio.shape[0], params, chain)
        outs = [s.process(audio[:, i:i + block]) for i in range(0, audio.shape[1], block)]
        outs.append(s.flush())
        return np.concatenate(outs, 1)

    def process_file(self, in_path, out_path, params: RenderParams, chain=None, format_name: str | None = None,
                     force: bool = False, nonfinite: str = "error",
                     progress: Callable[[int, int], None] | None = None,
                     cancel: threading.Event | None = None, corrupt: str = "stop",
                     regions: Regions | None = None) -> Report:
        """Stream a file through the engine into `out_path` (atomic, never over the input).
        corrupt: 'stop' at a block that cannot be decoded, or 'skip' it (silent, with a warning).
        regions: edit only inside these time ranges; elsewhere the output is the input (regions.py)."""
        t0 = time.perf_counter()
        reader = AudioReader(in_path, nonfinite, corrupt)
        info = reader.info
        writer = AtomicWriter(out_path, info.sample_rate, info.channels, format_name, force, protect=(in_path,))
        stream = self.stream(info.sample_rate, info.channels, params, chain)
        blend = regions.aligner(info.sample_rate) if regions is not None else None
        done = 0
        with writer:
            for block in reader.blocks(READ_BLOCK):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled; no output was written")
                y = stream.process(block)
                if blend is not None:
                    blend.read(block)
                    y = blend.blend(y)
                writer.write(y)
                done += block.shape[1]
                if progress:
                    progress(done, info.frames)
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled; no output was written")
            y = stream.flush()
            writer.write(blend.blend(y) if blend is not None else y)
        return Report(Path(out_path), writer.frames, info.sample_rate, info.channels, time.perf_counter() - t0,
                      writer.clipped, reader.warnings + stream.warnings)


def solo(mask_shape: tuple[int, int], head: int, lach: int) -> np.ndarray:
    """A mask with one latent channel at gain 1 and the rest at 0."""
    from .mask import solo as solo_mask

    return solo_mask(tuple(mask_shape), head, lach)


__all__ = ["Engine", "RenderParams", "Report", "Stream", "solo", "channel_groups"]
