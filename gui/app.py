"""Entry point of the desktop app: `amssfx app [FILE]`."""
from __future__ import annotations

import sys
from amssfx.model_runtime import ASSETS

DEMO = ASSETS / "demo.flac"


def main(input_path=None, model_path=None, argv=None) -> int:
    from PyQt6 import QtWidgets

    from .window import MainWindow

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(argv or sys.argv[:1])
    app.setApplicationName("amssfx")
    win = MainWindow(model_path)
    win.resize(1400, 820)
    win.show()
    path = input_path or (DEMO if DEMO.exists() else None)
    if path:
        win.open_file(str(path))
    return app.exec()
