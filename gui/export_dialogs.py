"""The export dialogs: this song (mix and stems, or one DJ stem file) and a whole folder."""
from __future__ import annotations

from PyQt6 import QtWidgets

from amssfx.recipe import STEM_FILE_FORMAT
from amssfx.stems import DEFAULT_STEMS

FORMATS = ["wav24", "wav16", "wav32f", "flac24", "flac16", STEM_FILE_FORMAT]
FORMAT_TIPS = {STEM_FILE_FORMAT: "one Native Instruments Stems file for Traktor and Mixxx: the original mix and "
                                 "drums, bass, other, vocals as AAC tracks (lossy; needs ffmpeg)"}


def _format_box() -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(FORMATS)
    for k, f in enumerate(FORMATS):
        if f in FORMAT_TIPS:
            box.setItemData(k, FORMAT_TIPS[f], 3)  # Qt.ItemDataRole.ToolTipRole
    return box


def _folder_row(edit: QtWidgets.QLineEdit, parent, title: str) -> QtWidgets.QHBoxLayout:
    browse = QtWidgets.QPushButton("…")

    def pick():
        d = QtWidgets.QFileDialog.getExistingDirectory(parent, title, edit.text())
        if d:
            edit.setText(d)

    browse.clicked.connect(pick)
    row = QtWidgets.QHBoxLayout()
    row.addWidget(edit)
    row.addWidget(browse)
    return row


def _buttons(dlg: QtWidgets.QDialog) -> QtWidgets.QDialogButtonBox:
    bb = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok |
                                    QtWidgets.QDialogButtonBox.StandardButton.Cancel)
    bb.accepted.connect(dlg.accept)
    bb.rejected.connect(dlg.reject)
    return bb


class ExportDialog(QtWidgets.QDialog):
    """Choose what to export (processed mix, stems, the current latent setting), format and folder."""

    def __init__(self, parent, default_dir: str):
        super().__init__(parent)
        self.setWindowTitle("Export")
        lay = QtWidgets.QFormLayout(self)
        self.mix = QtWidgets.QCheckBox("processed mix (query, latent channels, effects)")
        self.mix.setChecked(True)
        self.stems = {n: QtWidgets.QCheckBox(n) for n, _ in DEFAULT_STEMS}
        for b in self.stems.values():
            b.setChecked(True)
        self.format = _format_box()
        self.folder = QtWidgets.QLineEdit(default_dir)
        self.force = QtWidgets.QCheckBox("overwrite existing files")
        lay.addRow(self.mix)
        stems = QtWidgets.QHBoxLayout()
        for b in self.stems.values():
            stems.addWidget(b)
        lay.addRow("stems", stems)
        lay.addRow("format", self.format)
        lay.addRow("folder", _folder_row(self.folder, self, "Export folder"))
        lay.addRow(self.force)
        lay.addRow(_buttons(self))
        self.format.currentTextChanged.connect(self._format_changed)

    def _format_changed(self, name: str) -> None:
        """A stem file always holds the original mix and the four stems: nothing to choose."""
        fixed = name == STEM_FILE_FORMAT
        for b in [self.mix, *self.stems.values()]:
            b.setEnabled(not fixed)


class FolderExportDialog(QtWidgets.QDialog):
    """Every audio file of a folder (searched recursively) through the current settings, into a mirrored
    output folder."""

    def __init__(self, parent, in_dir: str, out_dir: str):
        super().__init__(parent)
        self.setWindowTitle("Export a folder")
        lay = QtWidgets.QFormLayout(self)
        self.input = QtWidgets.QLineEdit(in_dir)
        self.output = QtWidgets.QLineEdit(out_dir)
        self.mix = QtWidgets.QCheckBox("processed mix (this query, latent channels and effects)")
        self.mix.setChecked(True)
        self.with_stems = QtWidgets.QCheckBox("stems (vocals, drums, bass, other)")
        self.format = _format_box()
        self.force = QtWidgets.QCheckBox("overwrite existing files (files done by an earlier run are skipped)")
        lay.addRow("songs in", _folder_row(self.input, self, "Folder of songs"))
        lay.addRow("export to", _folder_row(self.output, self, "Export folder"))
        lay.addRow(self.mix)
        lay.addRow(self.with_stems)
        lay.addRow("format", self.format)
        lay.addRow(self.force)
        lay.addRow(_buttons(self))
        self.format.currentTextChanged.connect(
            lambda name: [b.setEnabled(name != STEM_FILE_FORMAT) for b in (self.mix, self.with_stems)])
