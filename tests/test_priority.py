"""Background work yields to live audio (priority.py)."""
import os
import sys
import threading

import pytest

from amssfx.priority import lower_this_thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_a_thread_lowers_its_own_priority_alone_and_its_children_inherit_it():
    main_before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def child():
        seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def worker():
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["lowered"] = lower_this_thread(5)
        seen["worker"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - before
        t = threading.Thread(target=child)
        t.start()
        t.join()
        seen["child"] -= before

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"lowered": True, "worker": min(5, 19 - main_before), "child": min(5, 19 - main_before)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main_before  # the caller's own is untouched


def test_out_of_range_niceness_changes_nothing():
    assert lower_this_thread(0) is False
    assert lower_this_thread(25) is False
