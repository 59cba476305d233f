"""The stem mixer: gain and pan of vocals, drums, bass and other over the result (amssfx/mix.py)."""
from __future__ import annotations

import math

from PyQt6 import QtCore, QtWidgets

from amssfx.mix import MAX_GAIN_DB, MIN_GAIN_DB, STEMS, StemMix

GAIN_STEPS_PER_DB = 2  # the slider moves in 0.5 dB steps; its lowest position is -inf (the stem muted)
BOTTOM = int(MIN_GAIN_DB * GAIN_STEPS_PER_DB) - 1


def gain_text(db: float) -> str:
    return "-inf dB" if db == -math.inf else f"{db:+.1f} dB"


def pan_text(p: float) -> str:
    return "C" if p == 0 else f"L{round(-p * 100)}" if p < 0 else f"R{round(p * 100)}"


class StemMixer(QtWidgets.QGroupBox):
    """Four rows (vocals, drums, bass, other): gain slider with its value, pan slider, mute button.
    `mix_changed` fires on every change; `last_change` names it for undo ("drums gain") and gives a key
    so one slider's drag is one undo step."""

    mix_changed = QtCore.pyqtSignal()

    def __init__(self, parent=None):
        super().__init__("stem mixer", parent)
        self.setToolTip("Rebalance the four stems over the result: each stem moved here costs one more model "
                        "pass while playing; all at 0 dB and centre is the query's result exactly.")
        self.mix = StemMix()
        self.last_change: tuple[str, object] = ("stem mixer", None)
        self.rows: dict[str, tuple] = {}
        lay = QtWidgets.QGridLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setVerticalSpacing(2)
        for r, name in enumerate(STEMS):
            label = QtWidgets.QLabel(name)
            gain = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            gain.setRange(BOTTOM, int(MAX_GAIN_DB * GAIN_STEPS_PER_DB))
            gain.setValue(0)
            gain.setMinimumWidth(70)
            gain.setToolTip(f"{name} gain: -inf to +{MAX_GAIN_DB:g} dB (double-click the value to reset)")
            value = QtWidgets.QPushButton(gain_text(0.0))
            value.setFlat(True)
            value.setFixedWidth(62)
            value.setToolTip("reset to 0 dB and centre")
            pan = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
            pan.setRange(-100, 100)
            pan.setValue(0)
            pan.setFixedWidth(54)
            pan.setToolTip(f"{name} pan: left to right (a stem panned fully to one side keeps all its sound)")
            pan_label = QtWidgets.QLabel("C")
            pan_label.setFixedWidth(30)
            mute = QtWidgets.QPushButton("M")
            mute.setCheckable(True)
            mute.setFixedWidth(26)
            mute.setToolTip(f"mute {name} (-inf dB)")
            for c, w in enumerate((label, gain, value, pan, pan_label, mute)):
                lay.addWidget(w, r, c)
            gain.valueChanged.connect(lambda v, n=name: self._gain_moved(n, v))
            pan.valueChanged.connect(lambda v, n=name: self._pan_moved(n, v))
            mute.toggled.connect(lambda on, n=name: self._mute_toggled(n, on))
            value.clicked.connect(lambda _=False, n=name: self.reset_stem(n))
            self.rows[name] = (gain, value, pan, pan_label, mute)
        lay.setColumnStretch(1, 1)

    # ---- state <-> controls -------------------------------------------------------------------------
    def set_mix(self, mix: StemMix | None) -> None:
        """Show `mix` (None: unity) without emitting a change."""
        self.mix = mix or StemMix()
        self.sync()

    def sync(self) -> None:
        for name, (gain, value, pan, pan_label, mute) in self.rows.items():
            s = getattr(self.mix, name)
            for w in (gain, pan, mute):
                w.blockSignals(True)
            gain.setValue(BOTTOM if s.gain_db == -math.inf else round(s.gain_db * GAIN_STEPS_PER_DB))
            pan.setValue(round(s.pan * 100))
            mute.setChecked(s.gain_db == -math.inf)
            for w in (gain, pan, mute):
                w.blockSignals(False)
            value.setText(gain_text(s.gain_db))
            pan_label.setText(pan_text(s.pan))

    def _changed(self, label: str, key) -> None:
        self.last_change = (label, key)
        self.sync()
        self.mix_changed.emit()

    # ---- user actions -------------------------------------------------------------------------------
    def set_gain(self, name: str, db: float) -> None:
        self.mix = self.mix.but(name, gain_db=db)
        self._changed(f"{name} gain", ("mix-gain", name))

    def set_pan(self, name: str, pan: float) -> None:
        self.mix = self.mix.but(name, pan=pan)
        self._changed(f"{name} pan", ("mix-pan", name))

    def reset_stem(self, name: str) -> None:
        self.mix = self.mix.but(name, 0.0, 0.0)
        self._changed(f"reset {name}", None)

    def _gain_moved(self, name: str, v: int) -> None:
        self.set_gain(name, -math.inf if v <= BOTTOM else v / GAIN_STEPS_PER_DB)

    def _pan_moved(self, name: str, v: int) -> None:
        self.set_pan(name, v / 100.0)

    def _mute_toggled(self, name: str, on: bool) -> None:
        self.mix = self.mix.but(name, gain_db=-math.inf if on else 0.0)
        self._changed(f"{'mute' if on else 'unmute'} {name}", None)
