"""Widgets of the app's controls: query builder, latent-channel grid, effect chain editor."""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtWidgets

from amssfx.effects import param_label, param_range
from amssfx.errors import AmssfxError

from .viewmodels import (FAMILY_LABELS, SIDES, SOURCES, STRENGTHS, ChainState, LachGridState,
                         QueryBuilderState, validate_text)


class QueryBuilder(QtWidgets.QGroupBox):
    """Family, sources and strength/side -> canonical text, beside a validated free-text field."""

    query_changed = QtCore.pyqtSignal(str)  # canonical text of a valid query

    def __init__(self, parent=None):
        super().__init__("Query", parent)
        self.state = QueryBuilderState()
        lay = QtWidgets.QGridLayout(self)
        self.family = QtWidgets.QComboBox()
        self.family.addItems(list(FAMILY_LABELS))
        self.family.setCurrentText(self.state.family)
        self.source_boxes = {s: QtWidgets.QCheckBox(s) for s in SOURCES}
        for s, b in self.source_boxes.items():
            b.setChecked(s in self.state.sources)
        self.strength = QtWidgets.QComboBox()
        self.strength.addItems(list(STRENGTHS))
        self.strength.setCurrentText(self.state.strength)
        self.side = QtWidgets.QComboBox()
        self.side.addItems(list(SIDES))
        self.text = QtWidgets.QLineEdit(self.state.text())
        self.text.setPlaceholderText("type a query, e.g. apply heavy lowpass to drums")
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(QtWidgets.QLabel("family"), 0, 0)
        lay.addWidget(self.family, 0, 1)
        src = QtWidgets.QHBoxLayout()
        for b in self.source_boxes.values():
            src.addWidget(b)
        lay.addWidget(QtWidgets.QLabel("sources"), 1, 0)
        lay.addLayout(src, 1, 1)
        lay.addWidget(QtWidgets.QLabel("strength"), 2, 0)
        lay.addWidget(self.strength, 2, 1)
        lay.addWidget(QtWidgets.QLabel("side"), 3, 0)
        lay.addWidget(self.side, 3, 1)
        lay.addWidget(QtWidgets.QLabel("text"), 4, 0)
        lay.addWidget(self.text, 4, 1)
        lay.addWidget(self.message, 5, 0, 1, 2)
        self.family.currentTextChanged.connect(self._from_builder)
        self.strength.currentTextChanged.connect(self._from_builder)
        self.side.currentTextChanged.connect(self._from_builder)
        for b in self.source_boxes.values():
            b.toggled.connect(self._from_builder)
        self.text.textEdited.connect(self._from_text)
        self._sync_enabled()
        self._show(*validate_text(self.state.text()))

    def _sync_enabled(self) -> None:
        fam = self.family.currentText()
        self.strength.setEnabled(QueryBuilderState.uses_strength(fam))
        self.side.setEnabled(QueryBuilderState.uses_side(fam))

    def _show(self, ok: bool, msg: str) -> None:
        """Green for a query the model does, orange for one it understands but has not learned
        (validate_text's message then is not "ok: ..."), red for one that does not parse."""
        warn = ok and not msg.startswith("ok: ")
        self.message.setText(msg)
        self.message.setStyleSheet("color: #b06000" if warn else "color: #2a7a2a" if ok else "color: #b02020")

    def _from_builder(self, *_):
        self.state.family = self.family.currentText()
        self.state.sources = {s for s, b in self.source_boxes.items() if b.isChecked()}
        self.state.strength = self.strength.currentText()
        self.state.side = self.side.currentText()
        self._sync_enabled()
        try:
            text = self.state.text()
        except AmssfxError as e:
            self._show(False, str(e))
            return
        self.text.setText(text)
        self._show(*validate_text(text))
        self.query_changed.emit(text)

    def _from_text(self, text: str):
        ok, msg = validate_text(text)
        self._show(ok, msg)
        if ok:
            self.set_text(text, emit=True)

    def set_text(self, text: str, emit: bool = False) -> None:
        """Show a query (from undo, a session or the text field) in both halves."""
        q = self.state.set_from_text(text)
        widgets = [self.family, self.strength, self.side, *self.source_boxes.values()]
        for w in widgets:
            w.blockSignals(True)
        self.family.setCurrentText(self.state.family)
        self.strength.setCurrentText(self.state.strength)
        self.side.setCurrentText(self.state.side)
        for s, b in self.source_boxes.items():
            b.setChecked(s in self.state.sources)
        for w in widgets:
            w.blockSignals(False)
        self._sync_enabled()
        if self.text.text() != text and not self.text.hasFocus():
            self.text.setText(q.text)
        self._show(*validate_text(q.text))
        if emit:
            self.query_changed.emit(q.text)

    def current_text(self) -> str:
        return self.state.text()


class LachGrid(QtWidgets.QGroupBox):
    """num_heads x num_lach cells: solo, mute, gain, and a live activity meter each."""

    mask_changed = QtCore.pyqtSignal()

    def __init__(self, heads: int, lach: int, parent=None, names: dict | None = None, names_query: str = ""):
        """names: (head, lach) -> channels.ChannelName, what each channel carries (shown and in
        the tooltip); without them the cells show only head:lach."""
        super().__init__("Latent channels (head : lach)", parent)
        self.state = LachGridState(heads, lach)
        self.last_change: tuple[str, object] = ("latent channels", None)  # (undo label, merge key)
        lay = QtWidgets.QGridLayout(self)
        self.cells = {}
        self.labels = {}
        for h in range(heads):
            for l in range(lach):
                box = QtWidgets.QFrame()
                box.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
                v = QtWidgets.QVBoxLayout(box)
                v.setContentsMargins(3, 3, 3, 3)
                name = (names or {}).get((h, l))
                label = QtWidgets.QLabel(name.label if name else f"{h}:{l}")
                label.setToolTip(name.tooltip(names_query) if name else f"latent channel {h}:{l}")
                box.setToolTip(label.toolTip())
                v.addWidget(label)
                row = QtWidgets.QHBoxLayout()
                solo = QtWidgets.QPushButton("S")
                solo.setCheckable(True)
                solo.setToolTip(f"solo latent channel {h}:{l}")
                mute = QtWidgets.QPushButton("M")
                mute.setCheckable(True)
                mute.setToolTip(f"mute latent channel {h}:{l}")
                for b in (solo, mute):
                    b.setFixedWidth(26)
                    row.addWidget(b)
                v.addLayout(row)
                gain = QtWidgets.QDoubleSpinBox()
                gain.setRange(0.0, 4.0)
                gain.setSingleStep(0.1)
                gain.setValue(1.0)
                gain.setToolTip("gain of this latent channel")
                gain.setMaximumWidth(62)
                v.addWidget(gain)
                meter = QtWidgets.QProgressBar()
                meter.setRange(0, 100)
                meter.setTextVisible(False)
                meter.setFixedHeight(8)
                v.addWidget(meter)
                solo.toggled.connect(lambda on, h=h, l=l: self._solo(h, l, on))
                mute.toggled.connect(lambda on, h=h, l=l: self._mute(h, l, on))
                gain.valueChanged.connect(lambda g, h=h, l=l: self._gain(h, l, g))
                lay.addWidget(box, h, l)
                self.cells[(h, l)] = (solo, mute, gain, meter)
                self.labels[(h, l)] = label
        self.reset_button = QtWidgets.QPushButton("Reset channels")
        self.reset_button.clicked.connect(self.reset)
        lay.addWidget(self.reset_button, heads, 0, 1, lach)

    def _solo(self, h, l, on):
        self.state.solo[h, l] = on
        self.last_change = (f"{'solo' if on else 'unsolo'} {h}:{l}", None)
        self.mask_changed.emit()

    def _mute(self, h, l, on):
        self.state.mute[h, l] = on
        self.last_change = (f"{'mute' if on else 'unmute'} {h}:{l}", None)
        self.mask_changed.emit()

    def _gain(self, h, l, g):
        self.state.set_gain(h, l, g)
        self.last_change = (f"gain of {h}:{l}", ("gain", h, l))
        self.mask_changed.emit()

    def sync(self) -> None:
        """Show the state (after undo or a session load) without emitting changes."""
        for (h, l), (solo, mute, gain, _) in self.cells.items():
            for w in (solo, mute, gain):
                w.blockSignals(True)
            solo.setChecked(bool(self.state.solo[h, l]))
            mute.setChecked(bool(self.state.mute[h, l]))
            gain.setValue(float(self.state.gain[h, l]))
            for w in (solo, mute, gain):
                w.blockSignals(False)

    def reset(self) -> None:
        self.state.reset()
        self.sync()
        self.last_change = ("reset channels", None)
        self.mask_changed.emit()

    def show_meters(self, energy: np.ndarray | None) -> None:
        if energy is None:
            for *_, meter in self.cells.values():
                meter.setValue(0)
            return
        db = 10 * np.log10(np.maximum(energy, 1e-12) / max(float(energy.max()), 1e-12))
        for (h, l), (*_, meter) in self.cells.items():
            meter.setValue(int(np.clip(100 + 2.5 * db[h, l], 0, 100)))  # 0..-40 dB


class ChainEditor(QtWidgets.QGroupBox):
    """Effects after the model: add, remove, reorder, bypass; parameters with units; VST3 by file."""

    chain_changed = QtCore.pyqtSignal()
    error = QtCore.pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__("Effects (after the model)", parent)
        self.state = ChainState()
        self.last_change: tuple[str, object] = ("effects", None)  # (undo label, merge key)
        lay = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QHBoxLayout()
        self.type_box = QtWidgets.QComboBox()
        self.type_box.addItems(ChainState.types())
        self.type_box.setCurrentText("reverb")
        add = QtWidgets.QPushButton("Add")
        add.clicked.connect(lambda: self.add(self.type_box.currentText()))
        vst = QtWidgets.QPushButton("VST3…")
        vst.clicked.connect(self._pick_vst3)
        top.addWidget(self.type_box)
        top.addWidget(add)
        top.addWidget(vst)
        lay.addLayout(top)
        self.list = QtWidgets.QListWidget()
        self.list.currentRowChanged.connect(self._show_params)
        lay.addWidget(self.list)
        row = QtWidgets.QHBoxLayout()
        for label, fn in (("Up", lambda: self._move(-1)), ("Down", lambda: self._move(1)),
                          ("Bypass", self._toggle_bypass), ("Remove", self._remove)):
            b = QtWidgets.QPushButton(label)
            b.clicked.connect(fn)
            row.addWidget(b)
        lay.addLayout(row)
        self.params = QtWidgets.QFormLayout()
        holder = QtWidgets.QWidget()
        holder.setLayout(self.params)
        # The parameters scroll in a box of fixed height, so selecting an effect with more or fewer
        # parameters never moves the list or the buttons under the mouse.
        self.params_area = QtWidgets.QScrollArea()
        self.params_area.setWidget(holder)
        self.params_area.setWidgetResizable(True)
        self.params_area.setFixedHeight(130)
        self.params_area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        lay.addWidget(self.params_area)

    def _changed(self, label: str, key=None) -> None:
        self.last_change = (label, key)
        self.chain_changed.emit()

    def add(self, effect_type: str) -> None:
        i = self.state.add(effect_type)
        self.sync(select=i)
        self._changed(f"add {effect_type}")

    def _pick_vst3(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Load a VST3 plugin", "", "VST3 (*.vst3);;All files (*)")
        if path:
            self.add_vst3(path)

    def add_vst3(self, path: str) -> bool:
        try:
            i = self.state.add_vst3(path)
        except AmssfxError as e:
            self.error.emit(str(e))
            return False
        self.sync(select=i)
        self._changed("add VST3 plugin")
        return True

    def _move(self, d: int) -> None:
        i = self.list.currentRow()
        if i < 0 or not (0 <= i + d < len(self.state.effects)):
            return
        self.state.move(i, i + d)
        self.sync(select=i + d)
        self._changed(f"move {self.state.effects[i + d]['type']}")

    def _toggle_bypass(self) -> None:
        i = self.list.currentRow()
        if i >= 0:
            self.state.set_bypass(i, not self.state.effects[i]["bypass"])
            self.sync(select=i)
            self._changed(f"bypass {self.state.effects[i]['type']}")

    def _remove(self) -> None:
        i = self.list.currentRow()
        if i >= 0:
            kind = self.state.effects[i]["type"]
            self.state.remove(i)
            self.sync(select=min(i, len(self.state.effects) - 1))
            self._changed(f"remove {kind}")

    def sync(self, select: int | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.state.effects:
            name = e["type"] if e["type"] != "vst3" else f"vst3: {e['path']}"
            self.list.addItem(f"{name}{'  (bypassed)' if e['bypass'] else ''}")
        self.list.blockSignals(False)
        if select is not None and select >= 0:
            self.list.setCurrentRow(select)
        self._show_params(self.list.currentRow())

    def _show_params(self, i: int) -> None:
        while self.params.rowCount():
            self.params.removeRow(0)
        if i < 0 or i >= len(self.state.effects):
            return
        e = self.state.effects[i]
        for name in ChainState.params_of(e):
            lo, hi = param_range(e["type"], name)
            label, unit = param_label(name)
            box = QtWidgets.QDoubleSpinBox()
            box.setRange(lo, hi)
            box.setDecimals(3 if hi <= 2 else 1)
            box.setSingleStep((hi - lo) / 100)
            box.setSuffix(f" {unit}" if unit else "")
            box.setValue(float(e.get(name, lo)))
            box.valueChanged.connect(lambda v, i=i, name=name: self._set(i, name, v))
            box.setToolTip(f"{name}: {lo:g} to {hi:g} {unit}".rstrip())
            self.params.addRow(label, box)

    def _set(self, i: int, name: str, v: float) -> None:
        self.state.set_param(i, name, v)
        self._changed(f"{param_label(name)[0]} of {self.state.effects[i]['type']}", ("param", i, name))
