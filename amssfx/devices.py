"""Audio outputs of the preview: the `AudioOutput` protocol, the sounddevice/PortAudio device, and a
fake device that plays at real-time pace (or as fast as asked) and records what it played."""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from .errors import DeviceError

Callback = Callable[[np.ndarray], None]


@runtime_checkable
class AudioOutput(Protocol):
    """What the player needs of a device. `start` calls `callback(block)` for every block the device
    takes ((frames, channels) float32, to be filled in place), from a thread of the device's."""

    sample_rate: int
    channels: int
    error: Exception | None

    def start(self, callback: Callback) -> None: ...

    def stop(self) -> None: ...

    def queued_frames(self) -> int:
        """Frames handed to the device and not heard yet (0 if it keeps none)."""
        ...

    @property
    def underflows(self) -> int:
        """Gaps the device itself reported or saw (its buffer ran dry)."""
        ...


class FakeOutput:
    """A device that pulls blocks at real-time pace (or as fast as asked) and records them."""

    def __init__(self, sample_rate: int = 44100, channels: int = 2, blocksize: int = 512, realtime: bool = True,
                 record: bool = True):
        self.sample_rate, self.channels, self.blocksize = sample_rate, channels, blocksize
        self.realtime, self.record = realtime, record
        self.recorded: list[np.ndarray] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.fail_after_blocks: int | None = None  # simulate a device that dies mid-play
        self.error: Exception | None = None

    def start(self, callback: Callable[[np.ndarray], None]) -> None:
        self._stop.clear()
        buf = np.zeros((self.blocksize, self.channels), np.float32)

        def run():
            t0 = time.perf_counter()
            k = 0
            while not self._stop.is_set():
                if self.fail_after_blocks is not None and k >= self.fail_after_blocks:
                    self.error = DeviceError("the audio device stopped during playback")
                    return
                callback(buf)
                if self.record:
                    self.recorded.append(buf.copy())
                k += 1
                if self.realtime:
                    delay = t0 + k * self.blocksize / self.sample_rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)

        self._thread = threading.Thread(target=run, name="fake-audio", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2.0)

    close = stop

    def queued_frames(self) -> int:
        return 0  # it hands each block over as it takes it

    @property
    def underflows(self) -> int:
        return 0  # its pace never slips: a late renderer shows as the player's ring underruns

    def output(self) -> np.ndarray:
        return np.concatenate(self.recorded, 0) if self.recorded else np.zeros((0, self.channels), np.float32)


class SoundDeviceOutput:
    """The default (or a named) output device through sounddevice/PortAudio.

    The stream runs in PortAudio's blocking mode and a writer thread of ours keeps about
    `queue_seconds` of audio queued in PortAudio's buffer. The device's own thread then only copies
    from that buffer and never runs Python. A Python callback would need the GIL and a CPU within
    one device period (23 ms for JACK at 1024 frames); on two busy vCPUs it missed that a few
    times in three minutes of preview next to a full-speed export, while the writer's stalls
    are absorbed by the queue. The queue is 100 ms: stalls of up to ~60 ms were measured often,
    and a 60 ms queue still ran dry 4 times in one 3-minute run. The writer never blocks in PortAudio:
    it writes only what fits, so a device that stops consuming is noticed, not waited on.
    """

    STALL_SECONDS = 2.0  # a device that takes nothing for this long has stopped

    def __init__(self, sample_rate: int | None = None, channels: int = 2, blocksize: int = 256,
                 device=None, latency: str | float = "high", queue_seconds: float = 0.1):
        try:
            import sounddevice as sd
        except (ImportError, OSError) as e:
            raise DeviceError(f"no audio output: sounddevice/PortAudio is not available ({e})") from None
        self.sd = sd
        self.device = int(device) if isinstance(device, str) and device.isdigit() else device
        try:
            info = sd.query_devices(self.device, "output")
        except Exception:  # noqa: BLE001 - PortAudio reports missing devices in several ways
            # PortAudio lists devices once, when it starts; a server started later (JACK, a USB
            # interface plugged in) is seen after a re-scan.
            try:
                sd._terminate()
                sd._initialize()
                info = sd.query_devices(self.device, "output")
            except Exception as e:  # noqa: BLE001
                raise DeviceError(f"no audio output device available: {str(e).splitlines()[0]}") from None
        self.sample_rate = int(sample_rate or info["default_samplerate"])
        self.channels = min(channels, int(info["max_output_channels"])) or 1
        self.blocksize, self.latency = blocksize, latency
        self.queue = max(int(queue_seconds * self.sample_rate), 2 * blocksize)
        self.stream = None
        self.status_underflows = 0
        self.capacity: int | None = None  # frames PortAudio's buffer holds, read once it has drained
        self.error: Exception | None = None
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None

    def start(self, callback: Callable[[np.ndarray], None]) -> None:
        def finished():
            if not self._stopping.is_set():
                self.error = DeviceError("the audio device stopped during playback")

        try:
            self.stream = self.sd.OutputStream(samplerate=self.sample_rate, channels=self.channels, dtype="float32",
                                               latency=self.latency, device=self.device, finished_callback=finished)
            self.stream.start()
        except Exception as e:  # noqa: BLE001
            self.stream = None
            raise DeviceError(f"cannot open the audio device: {str(e).splitlines()[0]}") from None
        self._stopping.clear()
        self._writer = threading.Thread(target=self._write_loop, args=(callback,), name="audio-writer", daemon=True)
        self._writer.start()

    def _drained_capacity(self) -> int:
        """The buffer's size: its free space once what the stream starts with has played (JACK
        starts it full of silence, other APIs empty); read when it stops growing."""
        last, t0 = -1, time.perf_counter()
        while not self._stopping.is_set():
            avail = self.stream.write_available
            if avail == last and avail > 0:
                return avail
            if time.perf_counter() - t0 > self.STALL_SECONDS:
                raise DeviceError("the audio device does not play (its buffer never drains)")
            last = avail
            time.sleep(0.05)  # longer than a period of any usual device, so a draining buffer grows
        return max(last, 1)

    def _write_loop(self, callback: Callable[[np.ndarray], None]) -> None:
        try:
            self.capacity = cap = self._drained_capacity()
            target = max(self.blocksize, min(self.queue, cap - self.blocksize))
            buf = np.zeros((target, self.channels), np.float32)
            wrote = False
            last_progress, last_avail = time.perf_counter(), -1
            while not self._stopping.is_set():
                avail = self.stream.write_available
                now = time.perf_counter()
                if avail != last_avail:
                    last_progress, last_avail = now, avail
                elif now - last_progress > self.STALL_SECONDS:
                    raise DeviceError("the audio device stopped taking audio")
                missing = target - (cap - avail)
                if missing < self.blocksize:
                    time.sleep(0.002)
                    continue
                # An empty buffer means the device ran out and played silence (JACK's blocking
                # mode fills the gap without reporting it; other APIs report it on the next write).
                # Counted conservatively: a buffer that reached exactly zero between two periods
                # counts too.
                drained = wrote and avail >= cap
                # Everything missing in one call (whole blocks): after a stall of the writer the
                # queue is refilled at once, not one block per turn of this loop.
                block = buf[:missing - missing % self.blocksize]
                callback(block)
                underflowed = self.stream.write(block)
                if drained or (wrote and underflowed):
                    self.status_underflows += 1
                wrote = True
        except Exception as e:  # noqa: BLE001 - a device that vanished; reported, never raised here
            if not self._stopping.is_set():
                self.error = e if isinstance(e, DeviceError) else \
                    DeviceError(f"the audio device stopped during playback: {str(e).splitlines()[0]}")

    def queued_frames(self) -> int:
        """Frames handed to the device and not played yet."""
        if self.stream is None or not self.capacity:
            return 0
        try:
            return max(0, self.capacity - self.stream.write_available)
        except Exception:  # noqa: BLE001 - a closed stream has nothing queued
            return 0

    @property
    def active(self) -> bool:
        return self.stream is not None and self._writer is not None and self._writer.is_alive()

    @property
    def underflows(self) -> int:
        return self.status_underflows

    def stop(self) -> None:
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(2.0)
        stream, self.stream = self.stream, None
        if stream is not None:
            # PortAudio can wait forever to close a stream whose server has gone (JACK killed):
            # the close runs on a thread of its own and is given up on after a second.
            closer = threading.Thread(target=_close_quietly, args=(stream,), name="audio-close", daemon=True)
            closer.start()
            closer.join(1.0)
            if closer.is_alive():
                # PortAudio's own exit handler would wait on the same dead server and the process
                # could never end; the OS reclaims the stream when it exits.
                import atexit

                handler = getattr(self.sd, "_exit_handler", None)
                if handler is not None:
                    atexit.unregister(handler)


def _close_quietly(stream) -> None:
    try:
        stream.abort()
        stream.close()
    except Exception:  # noqa: BLE001 - a vanished device may fail to close; it is gone either way
        pass
