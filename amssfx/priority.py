"""Background work yields the processor to live audio.

An export or a batch running in the app's process while the preview plays competes for the same
cores as the audio writer (devices.py) and the render worker (player.py). On Linux a thread can
lower its own priority (its nice value; raising it back needs privileges), which lets the scheduler
run the audio threads first when both want a core, while the export still takes every cycle the
audio leaves idle. Elsewhere the nice value belongs to the whole process, so nothing is changed.
"""
from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICENESS = 10  # above the caller's own: a tenth of the weight of a normal thread


def lower_this_thread(niceness: int = BACKGROUND_NICENESS) -> bool:
    """Lower the calling thread's priority by `niceness` (Linux only; capped at 19). Returns whether
    it was lowered. Threads it starts afterwards inherit the lower priority."""
    if not sys.platform.startswith("linux") or not 0 < niceness <= 19:
        return False
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + niceness))
    except OSError:
        return False
    return True
