"""The app's transport: play, pause, stop, seek, loop and the edit's region, the playhead and the views
that follow the playback. Mixed into MainWindow, whose player, waveforms and controls it drives."""
from __future__ import annotations

import numpy as np

from amssfx.errors import AmssfxError, DeviceError
from amssfx.player import Player

from .exports import NONFINITE


class TransportMixin:
    def _region_moved(self) -> None:
        self._loop_toggled(self.loop_box.isChecked())
        if self.region_box.isChecked():
            self._push_to_player()

    def _region_toggled(self, on: bool) -> None:
        self.wave_in.region.setVisible(on or self.loop_box.isChecked())
        self._push_to_player()

    def current_regions(self):
        """The edit's region (the loop selection) when 'edit only the region' is ticked, else None."""
        from amssfx.regions import Regions

        if not self.region_box.isChecked() or self.info is None:
            return None
        a, b = self.wave_in.region.getRegion()
        kept = getattr(self, "_session_regions", None)  # a session's several regions, while the first is untouched
        if kept is not None and abs(kept.spans[0][0] - a) < 1e-6 and \
                abs(min(kept.spans[0][1], self.info.duration_seconds) - b) < 1e-6:
            return kept
        a, b = max(0.0, a), min(b, self.info.duration_seconds)
        return Regions.make([(a, b)]) if b > a else None

    def _loop_toggled(self, on: bool) -> None:
        """The loop region is shown (and its edges can be dragged) whenever loop is ticked, playing
        or not; the player takes it when it plays."""
        self.wave_in.region.setVisible(on or self.region_box.isChecked())
        if self.player is None or self.info is None:
            return
        a, b = self.wave_in.region.getRegion()
        sr = self.info.sample_rate
        loop = (int(a * sr), int(b * sr)) if on and b > a else None
        self.player.update(loop=loop)

    # ---- transport ------------------------------------------------------------------------------
    def position_seconds(self) -> float:
        if self.info is None:
            return 0.0
        frames = self.player.position_frames() if self.player is not None else self.position
        return frames / self.info.sample_rate

    def toggle_play(self) -> None:
        if self.player is not None:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.info is None or not self.preview_enabled:
            if not self.preview_enabled:
                self._error("preview is disabled (no audio device); export still works")
            return
        try:
            device = self.device_factory()
            self.player = Player(self.engine, self.path, self.current_params(), self.current_chain(), device=device,
                                 start_frame=self.position, nonfinite=NONFINITE)
            self.player.update(mode=self.mode, regions=self.current_regions())
            if self.loop_box.isChecked():
                self._loop_toggled(True)
            self.player.start(wait=False)
        except DeviceError as e:
            self.player = None
            self.preview_enabled = False
            self.play_button.setEnabled(False)
            self._error(f"{e}; preview disabled, export still works")
            return
        except AmssfxError as e:
            self.player = None
            self._error(str(e))
            return
        self._last_read = 0
        self.play_button.setText("Pause")

    def pause(self) -> None:
        if self.player is not None:
            self.position = self.player.position_frames()
            self._underruns_total = getattr(self, "_underruns_total", 0)
            self.player.stop()
            self._underruns_total += self.player.stats.underruns
            self.player = None
        self.play_button.setText("Play")

    def stop(self) -> None:
        self.pause()
        self.position = 0

    def seek_seconds(self, seconds: float) -> None:
        if self.info is None:
            return
        frame = int(np.clip(seconds, 0, self.info.duration_seconds) * self.info.sample_rate)
        if self.player is not None:
            self.player.seek(frame)
        self.position = frame

    def underruns(self) -> int:
        return getattr(self, "_underruns_total", 0) + (self.player.stats.underruns if self.player else 0)

    def _tick(self) -> None:
        p = self.player
        if p is not None:
            err = p.device_error()
            if err is not None:
                self.pause()
                self.preview_enabled = False
                self.play_button.setEnabled(False)
                self._error(f"{err}; preview stopped, export still works")
                return
            if p.finished.is_set():
                self.stop()
                return
            self._update_views(p)
        pos = self.position_seconds()
        dur = self.info.duration_seconds if self.info else 0.0
        self.pos_label.setText(f"{int(pos // 60)}:{pos % 60:04.1f} / {int(dur // 60)}:{dur % 60:04.1f}")
        for view in (self.wave_in, self.wave_out, self.spec_in, self.spec_out):
            view.playhead.setValue(pos)
        self.status_underruns.setText(f"underruns: {self.underruns()}")

    def _update_views(self, p: Player) -> None:
        self.grid.show_meters(p.meter())
        rp, frames, original, src = p.taken_since(self._last_read)
        if len(frames) and self._out_env is not None:
            t, lo, hi = self._out_env
            per = max(1, self.info.frames // max(len(t), 1))
            b = np.clip(src // per, 0, len(t) - 1)
            mono = frames.mean(1)
            np.minimum.at(lo, b, mono)
            np.maximum.at(hi, b, mono)
            self.wave_out.set_envelope(t, lo, hi)
            self.spec_out.fill(frames, src)
        self._last_read = rp
