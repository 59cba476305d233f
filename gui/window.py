"""The main window: wires the view models and widgets to the engine, the player and the workers."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from amssfx.audio_io import AudioReader
from amssfx.engine import Engine
from amssfx.errors import AmssfxError, Cancelled
from amssfx.player import Player, SoundDeviceOutput

from .exports import NONFINITE, ExportsMixin
from .transport import TransportMixin
from .mixer import StemMixer
from .viewmodels import EditState, UndoStack
from .views import Overview, SpectrogramView, WaveView
from .widgets import ChainEditor, LachGrid, QueryBuilder

ENVELOPE_BINS = 2000
AUDIO_FILTER = "Audio (*.wav *.flac *.ogg *.mp3);;All files (*)"


class Bridge(QtCore.QObject):
    """Signals that worker threads emit; Qt delivers them on the GUI thread."""

    loaded = QtCore.pyqtSignal(object, object)  # info, ((t, lo, hi), spectrogram)
    failed = QtCore.pyqtSignal(str)
    progress = QtCore.pyqtSignal(int, int)
    finished = QtCore.pyqtSignal(str)


def overview(path, cancel: threading.Event | None = None):
    """(info, ((t, lo, hi), spectrogram)): the waveform overview and the whole-file spectrogram, computed
    block by block in the load worker (views.Overview)."""
    r = AudioReader(path, nonfinite=NONFINITE)
    ov = Overview(r.info.frames, r.info.sample_rate, ENVELOPE_BINS)
    for block in r.blocks(1 << 16):
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        ov.feed(block)
    return r.info, ov.result()


class MainWindow(TransportMixin, ExportsMixin, QtWidgets.QMainWindow):
    def __init__(self, model_path=None, device_factory=None):
        super().__init__()
        self.setWindowTitle("amssfx")
        self.setAcceptDrops(True)
        self.settings = QtCore.QSettings("amssfx", "amssfx")
        self.engine = Engine(model_path, preview=True)
        self.export_engine: Engine | None = None
        self.device_factory = device_factory or (lambda: SoundDeviceOutput(None, 2))
        self.preview_enabled = True
        self.path: Path | None = None
        self.info = None
        self.player: Player | None = None
        self.position = 0  # source frames, while paused
        self.mode = "processed"
        self.bridge = Bridge()
        self.bridge.loaded.connect(self._loaded)
        self.bridge.failed.connect(self._error)
        self.bridge.progress.connect(self._progress)
        self.bridge.finished.connect(self._job_done)
        # One cancel token per job: the export's (the Cancel button) and the load's (a newer load).
        self._cancel = threading.Event()
        self._load_cancel = threading.Event()
        self._job: threading.Thread | None = None
        self._out_env = None
        self._last_read = 0
        self.log: list[str] = []
        self._build()
        h, l = self.engine.mask_shape
        self.undo = UndoStack(self._edit_state())
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(33)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # ---- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        self.setCentralWidget(central)
        root = QtWidgets.QVBoxLayout(central)
        self.wave_in = WaveView("input")
        self.wave_out = WaveView("output (as heard)")
        self.spec_in = SpectrogramView("input spectrogram")
        self.spec_out = SpectrogramView("output spectrogram")
        for w in (self.wave_in, self.wave_out):
            w.seek_requested.connect(self.seek_seconds)
        views = QtWidgets.QGridLayout()
        views.addWidget(self.wave_in, 0, 0)
        views.addWidget(self.spec_in, 0, 1)
        views.addWidget(self.wave_out, 1, 0)
        views.addWidget(self.spec_out, 1, 1)
        # The spectrograms show the time span of the waveform beside them (zoomed and scrolled with it).
        for wave, spec in ((self.wave_in, self.spec_in), (self.wave_out, self.spec_out)):
            wave.sigXRangeChanged.connect(lambda _vb, r, spec=spec: spec.setXRange(*r, padding=0))
        views.setColumnStretch(0, 3)
        views.setColumnStretch(1, 1)
        root.addLayout(views)
        root.addLayout(self._transport())
        body = QtWidgets.QHBoxLayout()
        self.query = QueryBuilder()
        self.query.query_changed.connect(lambda t: self._edited(f"query: {t}", "query"))
        h, l = self.engine.mask_shape
        from amssfx import channels

        names_query, names = channels.load(self.engine.model.path, self.engine.model.contract.checkpoint_sha256)
        self.grid = LachGrid(h, l, names=names, names_query=names_query)
        self.grid.mask_changed.connect(lambda: self._edited(*self.grid.last_change))
        self.chain = ChainEditor()
        self.chain.chain_changed.connect(lambda: self._edited(*self.chain.last_change))
        self.chain.error.connect(self._error)
        body.addWidget(self.query, 2)
        # On a small screen the grid scrolls instead of squeezing its cells into unreadable controls.
        self.grid_area = QtWidgets.QScrollArea()
        self.grid_area.setWidget(self.grid)
        self.grid_area.setWidgetResizable(True)
        self.grid_area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        self.grid.setMinimumSize(self.grid.minimumSizeHint())
        body.addWidget(self.grid_area, 4)
        self.mixer = StemMixer()
        self.mixer.mix_changed.connect(lambda: self._edited(*self.mixer.last_change))
        side = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.mixer)
        column.addWidget(self.chain, 1)
        side.setMinimumSize(side.minimumSizeHint())
        # Like the grid: on a small screen the effects and the mixer scroll instead of being squeezed.
        self.side_area = QtWidgets.QScrollArea()
        self.side_area.setWidget(side)
        self.side_area.setWidgetResizable(True)
        self.side_area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body.addWidget(self.side_area, 3)
        root.addLayout(body)
        self.status_model = QtWidgets.QLabel(f"model: {self.engine.model.describe()}")
        self.status_underruns = QtWidgets.QLabel("underruns: 0")
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.hide()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: self._cancel.set())
        self.cancel_button.hide()
        sb = self.statusBar()
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_button)
        sb.addPermanentWidget(self.status_model)
        sb.addPermanentWidget(self.status_underruns)
        self._menus()

    def _transport(self) -> QtWidgets.QHBoxLayout:
        row = QtWidgets.QHBoxLayout()
        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        stop = QtWidgets.QPushButton("Stop")
        stop.clicked.connect(self.stop)
        self.loop_box = QtWidgets.QCheckBox("loop")
        self.loop_box.toggled.connect(self._loop_toggled)
        self.region_box = QtWidgets.QCheckBox("edit only the region")
        self.region_box.setToolTip("The query, channels, mixer and effects apply inside the loop region only (10 ms "
                                   "fades inside its edges); outside it the song stays as it is. Kept in exports "
                                   "and sessions.")
        self.region_box.toggled.connect(self._region_toggled)
        self.wave_in.region.sigRegionChangeFinished.connect(lambda *_: self._region_moved())
        self.ab = {}
        for key, label in (("original", "A original"), ("processed", "B processed"), ("difference", "Δ difference")):
            b = QtWidgets.QRadioButton(label)
            b.toggled.connect(lambda on, key=key: on and self.set_mode(key))
            self.ab[key] = b
        self.ab["processed"].setChecked(True)
        self.pos_label = QtWidgets.QLabel("0:00.0 / 0:00.0")
        for w in (self.play_button, stop, self.loop_box, self.region_box, *self.ab.values()):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.pos_label)
        return row

    def _menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open…", "Ctrl+O", self.open_dialog)
        self.recent_menu = m.addMenu("Open &Recent")
        self._refresh_recent()
        self._action(m, "&Export…", "Ctrl+E", self.export_dialog)
        self._action(m, "Export a &folder…", "Ctrl+Shift+E", self.folder_export_dialog)
        self._action(m, "&Save session…", "Ctrl+S", self.save_session_dialog)
        self._action(m, "&Load session…", "Ctrl+L", self.load_session_dialog)
        self._action(m, "&Quit", "Ctrl+Q", self.close)
        e = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(e, "&Undo", "Ctrl+Z", self.undo_edit)
        self.redo_action = self._action(e, "&Redo", "Ctrl+Shift+Z", self.redo_edit)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self._action(e, "Reset latent channels", "Ctrl+R", self.grid.reset)
        p = self.menuBar().addMenu("&Play")
        self._action(p, "Play / pause", "Space", self.toggle_play)
        # Space plays and pauses from anywhere but a text field: a focused spin box, list or button
        # would otherwise take it (a spin box's value replaced by a space, a button pressed).
        QtWidgets.QApplication.instance().installEventFilter(self)
        self._action(p, "Stop", "Home", self.stop)
        self._action(p, "A: original", "1", lambda: self.ab["original"].setChecked(True))
        self._action(p, "B: processed", "2", lambda: self.ab["processed"].setChecked(True))
        self._action(p, "Δ: difference", "3", lambda: self.ab["difference"].setChecked(True))
        self._action(p, "Back 5 s", "Left", lambda: self.seek_seconds(self.position_seconds() - 5))
        self._action(p, "Forward 5 s", "Right", lambda: self.seek_seconds(self.position_seconds() + 5))
        h = self.menuBar().addMenu("&Help")
        self._action(h, "What can I ask?", "F1", self._help)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and event.key() == QtCore.Qt.Key.Key_Space \
                and not event.modifiers() and self.isActiveWindow():
            focus = QtWidgets.QApplication.focusWidget()
            typing = isinstance(focus, (QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)) \
                and not isinstance(focus.parent(), QtWidgets.QAbstractSpinBox)
            if focus is not None and not typing and obj is focus:
                event.ignore()  # not claimed by the widget: the Space shortcut (play/pause) fires
                return True
        return super().eventFilter(obj, event)

    def _help(self) -> None:
        from .viewmodels import help_html

        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("What you can ask")
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(help_html())
        box.exec()

    def _action(self, menu, text, shortcut, fn):
        a = QtGui.QAction(text, self)
        a.setShortcut(QtGui.QKeySequence(shortcut))
        a.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        a.triggered.connect(lambda *_: fn())
        menu.addAction(a)
        return a

    # ---- files ----------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open audio", "", AUDIO_FILTER)
        if path:
            self.open_file(path)

    def open_file(self, path) -> None:
        """Load in a worker; the window stays responsive."""
        self.stop()
        self._load_cancel.set()  # a load still running is not wanted any more
        cancel = self._load_cancel = threading.Event()
        self.statusBar().showMessage(f"loading {path}…")

        def run():
            try:
                info, views = overview(path, cancel=cancel)
                self.bridge.loaded.emit(info, views)
            except Cancelled:
                pass
            except AmssfxError as e:
                self.bridge.failed.emit(str(e))

        threading.Thread(target=run, daemon=True, name="load").start()

    def _loaded(self, info, views) -> None:
        env, spec = views
        self.path, self.info = Path(info.path), info
        self.position = 0
        self.wave_in.set_envelope(*env)
        t = env[0]
        self._out_env = (t, np.zeros_like(env[1]), np.zeros_like(env[2]))
        self.wave_out.set_envelope(*self._out_env)
        pending, self._pending_region = getattr(self, "_pending_region", None), None  # a session's region
        self.wave_in.region.setRegion(pending if pending else [0, min(10.0, info.duration_seconds)])
        self.spec_in.set_file(info.frames, info.sample_rate, spec)  # this song's, the previous one's gone
        self.spec_out.set_file(info.frames, info.sample_rate)
        self.setWindowTitle(f"amssfx — {self.path.name}")
        for w in info.warnings:
            self._error(w)
        self.statusBar().showMessage(f"{self.path.name}: {info.duration_seconds:.1f} s, {info.channels} ch, "
                                     f"{info.sample_rate} Hz", 5000)
        self._add_recent(str(self.path))

    def _add_recent(self, path: str) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != path]
        self.settings.setValue("recent", [path] + recent[:9])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.value("recent", []) or []:
            a = self.recent_menu.addAction(p)
            a.triggered.connect(lambda _=False, p=p: self.open_file(p))

    def dragEnterEvent(self, ev) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev) -> None:
        urls = ev.mimeData().urls()
        if urls:
            self.open_file(urls[0].toLocalFile())

    # ---- edits ----------------------------------------------------------------------------------
    def _edit_state(self) -> EditState:
        return EditState(self.query.current_text(), self.grid.state.snapshot(), self.chain.state.snapshot(),
                         self.mixer.mix)

    def _apply_state(self, st: EditState) -> None:
        self.query.set_text(st.query)
        self.grid.state.restore(st.grid)
        self.grid.sync()
        self.chain.state.restore(st.chain)
        self.chain.sync()
        self.mixer.set_mix(st.mix)
        self._push_to_player()

    def _edited(self, label: str = "edit", key=None) -> None:
        """One change of the edit: an undo step named `label`; changes with the same `key` in a row
        (one control moved again) merge into one step."""
        self.undo.push(self._edit_state(), label, key)
        self._name_undo()
        self._push_to_player()

    def _name_undo(self) -> None:
        u, r = self.undo.undo_label(), self.undo.redo_label()
        self.undo_action.setText(f"&Undo {u}" if u else "&Undo")
        self.redo_action.setText(f"&Redo {r}" if r else "&Redo")
        self.undo_action.setEnabled(bool(u))
        self.redo_action.setEnabled(bool(r))

    def undo_edit(self) -> None:
        self._apply_state(self.undo.undo())
        self._name_undo()

    def redo_edit(self) -> None:
        self._apply_state(self.undo.redo())
        self._name_undo()

    def current_params(self):
        return self.engine.params(self.query.current_text(), self.grid.state.mask(), mix=self.mixer.mix)

    def current_chain(self) -> list[dict]:
        return self.chain.state.spec()

    def _push_to_player(self) -> None:
        if self.player is not None:
            try:
                self.player.update(params=self.current_params(), chain=self.current_chain(), mode=self.mode,
                                   regions=self.current_regions())
            except AmssfxError as e:
                self._error(str(e))

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._push_to_player()

    # ---- messages -------------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.log.append(message)
        self.statusBar().showMessage(message, 10000)

    def closeEvent(self, ev) -> None:
        """Closing (the window, Ctrl+Q, a logout's SIGTERM) cancels a running export and waits for it to
        remove what it had started writing: no temp file and no partial output stays behind."""
        self._cancel.set()
        self._load_cancel.set()
        self.pause()
        if self._job is not None and self._job.is_alive():
            self._job.join(30.0)
        super().closeEvent(ev)
