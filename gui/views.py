"""The app's views of the audio: waveforms (with playhead, loop region and zoom) and spectrograms."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore

class WaveView(pg.PlotWidget):
    """Min/max overview of a signal with a playhead line, click-to-seek and a loop region."""

    seek_requested = QtCore.pyqtSignal(float)  # seconds

    def __init__(self, title: str, parent=None):
        super().__init__(parent=parent, title=title)
        self.setMenuEnabled(False)
        self.setMouseEnabled(True, False)  # the wheel zooms in time, a drag pans; amplitude stays fixed
        self.hideButtons()
        self.getPlotItem().hideAxis("left")
        self.curve_hi = self.plot(pen=pg.mkPen("#3a7bd5"))
        self.curve_lo = self.plot(pen=pg.mkPen("#3a7bd5"))
        self.playhead = pg.InfiniteLine(0, pen=pg.mkPen("#e04040", width=2))
        self.addItem(self.playhead)
        self.region = pg.LinearRegionItem([0, 0], movable=True)
        for line in self.region.lines:  # edges wide enough to grab, highlighted under the mouse
            line.setPen(pg.mkPen("#f0c040", width=3))
            line.setHoverPen(pg.mkPen("#ffffff", width=5))
        self.region.setZValue(-10)
        self.region.hide()
        self.addItem(self.region)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setMinimumHeight(64)  # grows with the window

    def set_envelope(self, t: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        self.curve_hi.setData(t, hi)
        self.curve_lo.setData(t, lo)
        if len(t):
            end = float(t[-1])
            self.getPlotItem().vb.setLimits(xMin=0.0, xMax=max(end, 1e-3), minXRange=min(0.05, end))
            self.setXRange(0, end, padding=0)
            self.setYRange(-1, 1)

    def _clicked(self, ev) -> None:
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        x = self.getPlotItem().vb.mapSceneToView(ev.scenePos()).x()
        self.seek_requested.emit(max(0.0, float(x)))


class SpectrogramView(pg.PlotWidget):
    """A scrolling spectrogram (dB) of what is playing around the playhead."""

    def __init__(self, title: str, bins: int = 256, columns: int = 200, parent=None):
        super().__init__(parent=parent, title=title)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getPlotItem().hideAxis("bottom")
        self.image = pg.ImageItem()
        self.addItem(self.image)
        self.image.setLookupTable(pg.colormap.get("inferno").getLookupTable())
        self.data = np.full((columns, bins), -100.0, np.float32)
        self.window = np.hanning(2 * bins).astype(np.float32)
        # A frequency axis in kHz (the audio played is at 44.1 kHz: bin k is k * 44100 / (2 * bins) Hz).
        hz_per_bin = 44100 / (2 * bins)
        left = self.getPlotItem().getAxis("left")
        left.setTicks([[(k / hz_per_bin, f"{k // 1000}k") for k in (5000, 10000, 20000)]])
        left.setWidth(28)
        self.setMinimumHeight(64)
        self.clear_view()

    def clear_view(self) -> None:
        """Blank, as for a file just opened."""
        self.data[:] = -100.0
        self.image.setImage(self.data, autoLevels=False, levels=(-80, 20))

    def push(self, frames: np.ndarray) -> None:
        """frames: (n >= 2*bins, channels) of the newest audio; adds one column."""
        n = 2 * self.data.shape[1]
        if frames.shape[0] < n:
            return
        x = frames[-n:].mean(axis=1) * self.window
        col = 20 * np.log10(np.abs(np.fft.rfft(x))[: self.data.shape[1]] + 1e-6)
        self.data = np.roll(self.data, -1, axis=0)
        self.data[-1] = col
        self.image.setImage(self.data, autoLevels=False, levels=(-80, 20))
