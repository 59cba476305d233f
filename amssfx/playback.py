"""Playing a file live: the interpreter tuning live audio needs (entered by the app and `amssfx play`)
and the headless preview of `amssfx play`. The player itself is player.py."""
from __future__ import annotations

import gc
import sys
import time
from contextlib import contextmanager
from typing import Callable

from .audio_io import AudioReader
from .devices import SoundDeviceOutput
from .engine import Engine, RenderParams
from .errors import DeviceError
from .player import Player, PlayStats
from .regions import Regions


@contextmanager
def interpreter_tuned():
    """Tune the interpreter for live audio while the block runs (the app and `amssfx play` enter it;
    the library never changes process-wide state on its own), and restore it after.

    - the switch interval drops to 1 ms, so the audio thread gets the GIL back quickly;
    - a full garbage collection walks every object alive (about 70,000 once numpy and onnxruntime are
      loaded) while holding the GIL: 40-70 ms, as long as the device's queue. Garbage is collected once
      on entry and the objects alive then are left out of the collector's walks (reference counting
      still frees them); objects created later are collected as usual.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        sys.setswitchinterval(interval)


def play_file(engine: Engine, path, params: RenderParams, chain=None, duration: float | None = None,
              device=None, start_seconds: float = 0.0, regions: Regions | None = None,
              position: Callable[[float, float], None] | None = None) -> PlayStats:
    """Headless preview (the CLI's `play`): play from `start_seconds`, wait, stop, report; `position`
    is called with (seconds heard, duration) about four times a second."""
    out = device if device is not None and not isinstance(device, (str, int)) else None
    dev = out or SoundDeviceOutput(None, 2, device=device)
    info = AudioReader(path).info
    player = Player(engine, path, params, chain, device=dev, start_frame=int(start_seconds * info.sample_rate))
    if regions is not None:
        player.update(regions=regions)
    with interpreter_tuned():
        player.start()
        limit = duration if duration is not None else info.duration_seconds - start_seconds + 1.0
        t0 = last = time.perf_counter()
        try:
            while time.perf_counter() - t0 < limit and not player.finished.is_set():
                err = player.device_error()
                if err is not None:
                    raise err if isinstance(err, DeviceError) else DeviceError(str(err))
                time.sleep(0.02)
                if position is not None and time.perf_counter() - last >= 0.25:
                    last = time.perf_counter()
                    position(player.position_frames() / info.sample_rate, info.duration_seconds)
        finally:
            player.stop()
    player.stats.warnings += player.reader.warnings
    return player.stats
