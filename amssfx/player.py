"""Live preview: a render worker runs the engine ahead of the playhead into a ring buffer that the
audio callback only copies from. Changes re-render from just after the playhead with a crossfade.

Threads: the device's callback (copy only: no allocation, no locks, no Qt; with a real device it
runs on the writer thread that feeds PortAudio's buffer), one render worker, and the caller (the
GUI or the CLI), which sets parameters and reads the playhead.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .audio_io import AudioReader
from .devices import AudioOutput, FakeOutput, SoundDeviceOutput
from .engine import Engine, RenderParams
from .pipeline import Pipeline, Snapshot
from .ring import RingBuffer

MODES = ("processed", "original", "difference")  # B, A, delta


@dataclass
class PlayStats:
    underruns: int = 0  # gaps heard: the renderer was late (ring_underruns) or the device ran dry
    ring_underruns: int = 0
    late_switches: int = 0  # changes whose restart outlasted the margin: switched later, without a gap
    seconds_played: float = 0.0
    warnings: list[str] = field(default_factory=list)
    change_latencies_s: list[float] = field(default_factory=list)


class Player:
    """Plays a file through the engine on an output device, re-rendering on every change."""

    def __init__(self, engine: Engine, path, params: RenderParams, chain=None, device: AudioOutput | None = None,
                 ahead_seconds: float = 1.5, margin_seconds: float = 0.12, crossfade_seconds: float = 0.02,
                 block_frames: int = 4096, start_frame: int = 0, nonfinite: str = "error"):
        self.engine = engine
        self.reader = AudioReader(path, nonfinite)
        self.info = self.reader.info
        self.device = device if device is not None else SoundDeviceOutput(self.info.sample_rate)
        self.out_rate, self.out_ch = self.device.sample_rate, self.device.channels
        # The model hands out a whole chunk step at once (about 1.3 s), on top of up to `ahead` queued:
        # the ring holds both, so a write never reaches audio that has not been played yet.
        chunk_out = int(np.ceil(engine.model.contract.chunk_samples * self.out_rate / 44100))
        self.ring = RingBuffer(self.out_ch, int(ahead_seconds * self.out_rate) + 2 * chunk_out + 8 * block_frames)
        self.original = RingBuffer(self.out_ch, self.ring.capacity)  # the input, aligned with `ring` (for views)
        self.ahead = int(ahead_seconds * self.out_rate)
        self.margin = int(margin_seconds * self.out_rate)
        self.xfade = max(1, int(crossfade_seconds * self.out_rate))
        self.block = block_frames
        self._snapshot = Snapshot(params, tuple(chain or ()))
        self._generation = 0
        self._seek_to: int | None = int(np.clip(start_frame, 0, self.info.frames - 1))
        # A seek while playing is heard once the new position is rendered (the audio queued before it
        # plays on meanwhile, so there is no gap); until then the playhead shows where it is going.
        self._seek_shown: int | None = None
        self._seek_switch: int | None = None  # ring position where the sought audio starts
        self._primed = False  # no underrun is counted before the first audio arrives
        self.meters: deque = deque(maxlen=256)  # (source frame, (heads, lach) latent power)
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.stats = PlayStats()
        self.finished = threading.Event()
        self.error: Exception | None = None
        self._end_pos: int | None = None  # ring position where the source ends
        self._change_times: dict[int, float] = {}
        self._pending: list[tuple[int, float]] = []  # changes not heard yet: (switch ring pos, time of the change)
        self._restart_cost: float | None = None  # seconds from a change to its first rendered audio

    # ---- caller side ----------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def update(self, **changes) -> None:
        """Replace parts of the snapshot (params, chain, mode, loop); heard ~margin later."""
        from dataclasses import replace

        if "chain" in changes:
            changes["chain"] = tuple(changes["chain"] or ())
        self._snapshot = replace(self._snapshot, **changes)
        self._change_times[self._generation + 1] = time.perf_counter()
        self._generation += 1

    def seek(self, source_frame: int) -> None:
        target = int(np.clip(source_frame, 0, self.info.frames - 1))
        self._seek_switch = None
        self._seek_shown = target
        self._seek_to = target
        self._generation += 1

    def position_frames(self) -> int:
        """Source frame now being heard: the ring's read position less what the device still holds.
        After a seek, the sought frame until its audio is heard (the playhead never runs back)."""
        rp = self.ring.read_pos - self._device_queued()
        shown, switch = self._seek_shown, self._seek_switch
        if shown is not None:
            if switch is None or rp <= switch:
                return shown
            self._seek_shown = None
        if rp <= 0:
            return 0
        return int(self.ring.source_pos[(rp - 1) % self.ring.capacity])

    def taken_since(self, since: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """What the device took since ring position `since` (at most half the ring, the newest):
        (the position now, the output frames (n, channels), the input frames aligned with them, and the
        source frame of each), for views that follow the playback."""
        rp = self.ring.read_pos
        n = max(0, min(rp - since, self.ring.capacity // 2))
        idx = np.arange(rp - n, rp) % self.ring.capacity
        return rp, self.ring.data[idx], self.original.data[idx], self.ring.source_pos[idx]

    def _device_queued(self) -> int:
        return min(self.device.queued_frames(), self.ring.read_pos)

    def start(self, wait: bool = True) -> None:
        """Start rendering and the device; with wait=False the caller never blocks (the device
        plays silence until the first audio is rendered, which is not counted as an underrun)."""
        self._worker = threading.Thread(target=self._work, name="render-worker", daemon=True)
        self._worker.start()
        t0 = time.perf_counter()
        while wait and self.ring.write_pos - self.ring.read_pos < min(self._switch_margin(), self.info.frames) \
                and time.perf_counter() - t0 < 10 and self.error is None:
            time.sleep(0.005)
        if self.error:
            raise self.error
        self.device.start(self._callback)

    def meter(self) -> np.ndarray | None:
        """Latent-channel power of the chunk now playing (None before the first chunk)."""
        pos = self.position_frames()
        best = None
        for start, energy in list(self.meters):
            if start <= pos:
                best = energy
        return best

    def stop(self) -> None:
        self._stop.set()
        self.device.stop()
        if self._worker:
            self._worker.join(5.0)
        self.stats.seconds_played = self.ring.read_pos / self.out_rate
        self.stats.underruns += self.device.underflows

    def device_error(self) -> Exception | None:
        return self.error or self.device.error

    # ---- audio thread ---------------------------------------------------------------------------
    def _callback(self, outdata: np.ndarray) -> None:
        n = self.ring.read_into(outdata)
        if n:
            self._primed = True
        if n < outdata.shape[0]:
            outdata[n:] = 0.0
            end = self._end_pos
            if end is not None and self.ring.read_pos >= end:
                self.finished.set()
            elif self._primed:
                self.stats.underruns += 1
                self.stats.ring_underruns += 1

    # ---- render worker --------------------------------------------------------------------------
    def _new_pipeline(self, source_pos: int, snap: Snapshot) -> Pipeline:
        return Pipeline(self.engine, self.reader, snap, source_pos, self.out_rate, self.out_ch, self.block)

    def _work(self) -> None:
        try:
            self._work_loop()
        except Exception as e:  # noqa: BLE001 - reported to the caller, never raised on the audio thread
            self.error = e

    def _work_loop(self) -> None:
        gen = -1
        p = None
        while not self._stop.is_set():
            # A change that arrives while the previous one has not produced audio yet waits for it:
            # restarting again would throw that work away, and changes faster than a restart would
            # starve the device. The newest state is rendered as soon as the previous one lands.
            restarting = p is not None and p.xfade_at is not None
            if gen != self._generation and not restarting:
                gen = self._generation
                snap = self._snapshot
                at = min(self.ring.write_pos, self.ring.read_pos + self._switch_margin())
                if self._seek_to is not None:
                    # A seek: what is queued up to the switch point plays on while the new position
                    # renders (no gap), then a short crossfade jumps there.
                    src, self._seek_to = self._seek_to, None
                    if not self._primed and self.ring.write_pos == 0:  # the first start: nothing plays yet
                        p = self._new_pipeline(src, snap)
                        self._seek_shown = None
                        continue
                    p = self._new_pipeline(src, snap)
                    p.xfade_at = at
                    p.seek = True
                    self._end_pos = None
                else:  # a change: keep what plays while the new render starts, then crossfade
                    src = int(self.ring.source_pos[(at - 1) % self.ring.capacity]) + 1 if at > 0 else 0
                    if snap.loop is not None and not (snap.loop[0] <= src < snap.loop[1]):
                        src = snap.loop[0]
                    p = self._new_pipeline(src, snap)
                    p.xfade_at = at
                    handled = [(g, t) for g, t in list(self._change_times.items()) if g <= gen]
                    for g, _ in handled:
                        self._change_times.pop(g, None)
                    # Coalesced changes, and earlier ones whose switch this one replaces, are heard at its
                    # switch: the earliest of them is the latency the user felt.
                    times = [t for _, t in handled] + [t for a, t in self._pending if a >= at]
                    self._pending = [(a, t) for a, t in self._pending if a < at]
                    if times:
                        self._pending.append((at, min(times)))
                    self._end_pos = None
                continue
            self._check_change_heard()
            # After a change the ring is rewound to the switch point when the new audio lands, so
            # what counts as queued is measured from there, not from the old write position.
            write_at = p.xfade_at if restarting else self.ring.write_pos
            if p is None or write_at - self.ring.read_pos >= self.ahead or self._end_pos is not None:
                time.sleep(0.003)
                continue
            r = p.next_block(self.meters)
            if r is None:  # the input ended (a looped render never does)
                self._end_pos = self.ring.write_pos
                continue
            y, orig, src = r
            at, p.xfade_at = p.xfade_at, None
            if at is not None:
                late = self._late_switch(at)
                if late >= y.shape[1]:  # all of this block would have played already: the next one switches
                    p.xfade_at = at + y.shape[1]
                    continue
                if late:
                    y, orig, at = y[:, late:], orig[:, late:], at + late
                    src += int(round(late * p.rate_ratio))
            if p.t_start is not None:  # how long a (re)start takes to produce audio, for the next margin
                cost = time.perf_counter() - p.t_start
                p.t_start = None
                # Peak-hold with a slow decay: one slow restart on a loaded machine raises the margin
                # at once, and it comes back down over the next few restarts.
                prev = self._restart_cost
                self._restart_cost = cost if prev is None else max(cost, 0.85 * prev)
            frames = np.ascontiguousarray(y.T)
            if at is not None:
                frames = self.ring.crossfade(frames, at, self.xfade)
                if p.seek:
                    p.seek = False
                    self._seek_switch = at
            if not self._wait_for_space((self.ring.write_pos if at is None else at) + frames.shape[0]):
                return
            source = p.source_frames(src, frames.shape[0])
            self.original.write(np.ascontiguousarray(orig.T), source, at=at)
            self.ring.write(frames, source, at=at)

    def _wait_for_space(self, end: int) -> bool:
        """Wait until writing up to ring position `end` overwrites nothing unplayed (the ring is sized so
        this is at most a block's wait); False if the player stops meanwhile."""
        while end - self.ring.read_pos > self.ring.capacity:
            if self._stop.is_set():
                return False
            time.sleep(0.003)
        return True

    def _late_switch(self, at: int) -> int:
        """Frames to move a change's switch later when its restart outlasted the margin and the device
        plays the audio queued beyond `at`: just ahead of the playhead (heard later, never a gap or jump)."""
        lead = self.ring.read_pos + self.xfade + int(0.03 * self.out_rate)  # a device read may land meanwhile
        new_at = min(max(at, lead), self.ring.write_pos)
        if new_at > at:
            self.stats.late_switches += 1
            self._pending = [(new_at if a == at else a, t) for a, t in self._pending]
        return max(new_at - at, 0)

    def _switch_margin(self) -> int:
        """Frames of queued audio to keep before a change: the configured margin, or more when a
        restart has been measured to take longer (a loaded machine), so the switch never starves."""
        cost = self._restart_cost
        if cost is None:
            return self.margin
        return max(self.margin, int((1.5 * cost + 0.05) * self.out_rate))

    def _check_change_heard(self) -> None:
        if self._pending and self.ring.read_pos >= self._pending[0][0]:
            # Taken from the ring now; heard once what the device still holds has played.
            heard = time.perf_counter() + self._device_queued() / self.out_rate
            rp = self.ring.read_pos
            self.stats.change_latencies_s += [heard - t for a, t in self._pending if rp >= a]
            self._pending = [(a, t) for a, t in self._pending if rp < a]


__all__ = ["Player", "PlayStats", "Snapshot", "MODES", "AudioOutput", "FakeOutput", "SoundDeviceOutput", "RingBuffer"]
