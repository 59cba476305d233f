"""Entry point of the desktop app: `amssfx app [FILE]`."""
from __future__ import annotations

import sys
from amssfx.model_runtime import ASSETS

DEMO = ASSETS / "demo.flac"


def _excepthook(win_ref):
    """Report an exception from a Qt slot in the log and the status bar instead of aborting."""
    import traceback

    def hook(etype, value, tb):
        sys.stderr.write("".join(traceback.format_exception(etype, value, tb)))
        win = win_ref()
        if win is not None:
            win.statusBar().showMessage(f"internal error: {etype.__name__}: {value}", 15000)

    return hook


def stop_on_signals(app, win) -> list[int]:
    """SIGTERM (a logout, a service stop) and SIGHUP close the app as its Quit does: a running export
    is cancelled and cleaned up first. Returns the list the signals received are appended to (the exit
    code is then 128 + the signal). The window's refresh timer lets Python run the handler."""
    import signal

    received: list[int] = []

    def close(signum, frame):
        received.append(signum)
        win.close()
        app.quit()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, close)
    return received


def main(input_path=None, model_path=None, argv=None, screenshot: str | None = None,
         quit_after: float | None = None, play: bool = False) -> int:
    import weakref

    from PyQt6 import QtCore, QtWidgets

    from .window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv or sys.argv[:1])
    app.setApplicationName("amssfx")
    win = MainWindow(model_path)
    sys.excepthook = _excepthook(weakref.ref(win))
    win.resize(1400, 820)
    win.show()
    path = input_path or (DEMO if DEMO.exists() else None)
    if path:
        win.open_file(str(path))
    if play:
        def start_when_loaded():
            if win.info is None:
                QtCore.QTimer.singleShot(100, start_when_loaded)
            else:
                win.play()
        QtCore.QTimer.singleShot(100, start_when_loaded)
    if quit_after is not None:
        def finish():
            if screenshot:
                win.grab().save(screenshot)
            for line in win.log:
                print(f"app: {line}", file=sys.stderr)
            win.close()
            app.quit()
        QtCore.QTimer.singleShot(int(quit_after * 1000), finish)
    from amssfx.playback import interpreter_tuned

    received = stop_on_signals(app, win)
    with interpreter_tuned():  # live audio next to the GUI: the app's own process, for its lifetime
        code = app.exec()
    return 128 + received[-1] if received else code
