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


SPEC_BINS = 256          # frequency rows: an FFT of 512 samples
MAX_SPEC_COLUMNS = 1500  # time columns over the whole file


def spectrum_db(x: np.ndarray) -> np.ndarray:
    """(k, 2 * SPEC_BINS) mono windows -> (k, SPEC_BINS) magnitudes in dB."""
    w = np.hanning(2 * SPEC_BINS).astype(np.float32)
    return (20 * np.log10(np.abs(np.fft.rfft(x * w, axis=-1))[:, :SPEC_BINS] + 1e-6)).astype(np.float32)


def column_centers(frames: int) -> np.ndarray:
    """Source frame at the centre of each spectrogram column of a file of `frames` frames."""
    n = int(np.clip(frames // 2048, 1, MAX_SPEC_COLUMNS))
    return ((np.arange(n) + 0.5) * frames / n).astype(np.int64)


class Overview:
    """The load worker's pass over a file: a min/max waveform overview and a whole-file spectrogram,
    block by block (the file is never held whole)."""

    def __init__(self, frames: int, sample_rate: int, bins: int = 2000):
        self.frames, self.sample_rate = frames, sample_rate
        self.per = max(1, frames // bins)
        self.lo, self.hi = [], []
        self.rest = np.zeros(0, np.float32)
        self.centers = column_centers(frames)
        self.spec = np.full((len(self.centers), SPEC_BINS), -100.0, np.float32)
        self.tail = np.zeros(0, np.float32)  # the last samples read, for windows across blocks
        self.pos = 0  # source frame of the next sample read
        self.next_col = 0

    def feed(self, block: np.ndarray) -> None:
        mono = block.mean(0)
        x = np.concatenate([self.rest, mono])
        k = len(x) // self.per
        if k:
            v = x[: k * self.per].reshape(k, self.per)
            self.lo.append(v.min(1))
            self.hi.append(v.max(1))
        self.rest = x[k * self.per:]
        buf = np.concatenate([self.tail, mono])
        start = self.pos - len(self.tail)  # source frame of buf[0]
        self.pos += len(mono)
        half = SPEC_BINS
        cols = []
        while self.next_col < len(self.centers) and self.centers[self.next_col] + half <= self.pos:
            c = self.centers[self.next_col] - start
            cols.append(np.pad(buf[max(0, c - half):c + half], (max(0, half - c), 0))[: 2 * half])
            self.next_col += 1
        if cols:
            self.spec[self.next_col - len(cols):self.next_col] = spectrum_db(np.stack(cols))
        self.tail = buf[-2 * half:]

    def result(self):
        """((t, lo, hi), spectrogram (columns, SPEC_BINS) in dB)."""
        lo = np.concatenate(self.lo) if self.lo else np.zeros(1, np.float32)
        hi = np.concatenate(self.hi) if self.hi else np.zeros(1, np.float32)
        t = np.arange(len(lo)) * self.per / self.sample_rate
        return (t, lo, hi), self.spec


class SpectrogramView(pg.PlotWidget):
    """A spectrogram (dB) of the whole file with a frequency axis and the playhead; its time axis is
    the waveform's (zoomed and scrolled with it). The input's is computed when the file is loaded; the
    output's fills in as the result is played."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent=parent, title=title)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.getPlotItem().hideAxis("bottom")
        self.image = pg.ImageItem()
        self.addItem(self.image)
        self.image.setLookupTable(pg.colormap.get("inferno").getLookupTable())
        self.playhead = pg.InfiniteLine(0, pen=pg.mkPen("#40e0ff", width=1))
        self.addItem(self.playhead)
        left = self.getPlotItem().getAxis("left")
        left.setTicks([[(k, f"{k // 1000}k") for k in (5000, 10000, 20000)]])
        left.setWidth(28)
        self.setMinimumHeight(64)
        self.centers = np.zeros(0, np.int64)
        self.sample_rate = 44100
        self.data = np.full((1, SPEC_BINS), -100.0, np.float32)
        self._carry = (np.zeros((0, 1), np.float32), np.zeros(0, np.int64))
        self.clear_view()

    def clear_view(self) -> None:
        """Blank, as for a file just opened."""
        self.data[:] = -100.0
        self._show()

    def set_file(self, frames: int, sample_rate: int, spec: np.ndarray | None = None) -> None:
        """Cover a file of `frames` frames: its spectrogram, or blank to be filled as it plays."""
        self.centers = column_centers(frames)
        self.sample_rate = sample_rate
        self.duration = frames / sample_rate
        self.data = spec.copy() if spec is not None else np.full((len(self.centers), SPEC_BINS), -100.0, np.float32)
        self._carry = (np.zeros((0, 1), np.float32), np.zeros(0, np.int64))
        self._show()

    def _show(self) -> None:
        self.image.setImage(self.data, autoLevels=False, levels=(-80, 20))
        if len(self.centers):
            self.image.setRect(QtCore.QRectF(0.0, 0.0, self.duration, self.sample_rate / 2))
            self.getPlotItem().vb.setLimits(yMin=0, yMax=self.sample_rate / 2)
            self.setYRange(0, min(self.sample_rate / 2, 22050), padding=0)

    def fill(self, frames: np.ndarray, src: np.ndarray) -> None:
        """Columns whose centre was just played: `frames` (n, channels) as heard, `src` the source frame
        of each (increasing within a block of playback)."""
        if not len(self.centers) or not len(frames):
            return
        carry_f, carry_s = self._carry
        if len(carry_s) and carry_s[-1] <= src[0] <= carry_s[-1] + 8:  # playback went on: join the blocks
            frames, src = np.concatenate([carry_f, frames]), np.concatenate([carry_s, src])
        self._carry = (frames[-2 * SPEC_BINS:], src[-2 * SPEC_BINS:])
        if len(frames) < 2 * SPEC_BINS:
            return
        lo, hi = src[SPEC_BINS], src[-SPEC_BINS]
        cols = np.flatnonzero((self.centers >= lo) & (self.centers < hi))
        if not len(cols) or np.any(np.diff(src) < 0):
            return
        mono = frames.mean(1)
        at = np.searchsorted(src, self.centers[cols])
        windows = np.stack([mono[i - SPEC_BINS:i + SPEC_BINS] for i in at])
        self.data[cols] = spectrum_db(windows)
        self._show()
