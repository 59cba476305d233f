"""The app's view models and widgets, offscreen (pytest-qt)."""
import time

import numpy as np
import pytest


from amssfx import audio_io
from amssfx.errors import QueryError
from amssfx.gui.viewmodels import ChainState, EditState, LachGridState, QueryBuilderState, UndoStack, validate_text
from amssfx.player import FakeOutput
from amssfx.query import parse

pytestmark = pytest.mark.gui


def test_query_builder_state_to_text_to_parser():
    st = QueryBuilderState("hard pan", {"bass"}, side="left")
    assert st.text() == "pan bass completely to the left side"
    assert parse(st.text()).family == "hard_pan"
    st.set_from_text("get rid of vocals and drums")
    assert (st.family, st.sources) == ("mute", {"vocals", "drums"})
    st.sources = set()
    with pytest.raises(QueryError, match="at least one source"):
        st.text()
    assert validate_text("mute drumz")[0] is False and "drums" in validate_text("mute drumz")[1]


def test_grid_to_mask():
    g = LachGridState(4, 4)
    np.testing.assert_array_equal(g.mask(), np.ones((4, 4)))
    g.toggle_solo(1, 2)
    g.set_gain(1, 2, 0.5)
    m = g.mask()
    assert m[1, 2] == 0.5 and m.sum() == 0.5
    g.toggle_solo(0, 0)
    g.toggle_mute(0, 0)  # mute wins over solo
    assert g.mask()[0, 0] == 0
    snap = g.snapshot()
    g.reset()
    assert g.mask().sum() == 16
    g.restore(snap)
    assert g.mask()[1, 2] == 0.5
    from amssfx.errors import MaskError

    for bad in (float("nan"), -1.0, 100.0):
        with pytest.raises(MaskError, match="between 0 and 16"):
            g.set_gain(0, 0, bad)


def test_chain_state_to_spec():
    c = ChainState()
    c.add("lowpass")
    c.add("reverb")
    c.set_param(0, "cutoff_frequency_hz", 800)
    c.set_bypass(1, True)
    c.move(1, 0)
    spec = c.spec()
    assert [e["type"] for e in spec] == ["reverb", "lowpass"]
    assert spec[0]["bypass"] is True and spec[1]["cutoff_frequency_hz"] == 800
    c.remove(0)
    assert [e["type"] for e in c.spec()] == ["lowpass"]
    with pytest.raises(Exception, match="not found"):
        c.add_vst3("/nonexistent/plugin.vst3")


def test_undo_redo():
    u = UndoStack(EditState("mute vocals", (), "[]"))
    u.push(EditState("mute drums", (), "[]"))
    u.push(EditState("mute bass", (), "[]"))
    assert u.undo().query == "mute drums" and u.undo().query == "mute vocals" and not u.can_undo()
    assert u.redo().query == "mute drums"
    u.push(EditState("separate bass", (), "[]"))
    assert not u.can_redo()


@pytest.fixture
def window(qtbot, tiny_model, demo_path):
    from amssfx.gui.window import MainWindow

    devices = []

    def factory():
        d = FakeOutput(44100, 2, 512, realtime=True)
        devices.append(d)
        return d

    w = MainWindow(tiny_model[1], device_factory=factory)
    w.devices = devices
    qtbot.addWidget(w)
    w.open_file(str(demo_path))
    qtbot.waitUntil(lambda: w.info is not None, timeout=10000)
    yield w
    w.close()


def test_widgets_drive_the_edit_state(window, qtbot):
    w = window
    w.query.family.setCurrentText("lowpass")
    w.query.strength.setCurrentText("heavy")
    for s, b in w.query.source_boxes.items():
        b.setChecked(s == "drums")
    assert w.current_params().query.text == "apply heavy lowpass to drums"
    w.query.text.setText("")
    w.query.text.setFocus()
    qtbot.keyClicks(w.query.text, "mute vocals and bass 123")
    assert w.player is None  # Space and digits typed into the field are text, not transport shortcuts
    w.query.text.setText("")
    qtbot.keyClicks(w.query.text, "mute vocals and bass")
    assert w.current_params().query.text == "mute vocals, bass"
    w.query.text.setText("")
    qtbot.keyClicks(w.query.text, "mute vocalz")
    assert "vocals" in w.query.message.text()
    assert w.current_params().query.text == "mute vocals, bass"  # an invalid text changes nothing
    w.grid.cells[(1, 0)][0].setChecked(True)  # solo 1:0
    m = w.current_params().mask_array()
    assert m[1, 0] == 1 and m.sum() == 1
    w.chain.type_box.setCurrentText("compressor")
    w.chain.add("compressor")
    assert w.current_chain()[0]["type"] == "compressor"
    w.undo_edit()
    assert w.current_chain() == []
    w.undo_edit()
    assert w.current_params().mask_array().sum() == 4
    w.redo_edit()
    assert w.current_params().mask_array().sum() == 1


def test_preview_hears_changes_without_underruns(window, qtbot):
    w = window
    w.play()
    qtbot.wait(1000)
    w.grid.cells[(0, 1)][0].setChecked(True)
    qtbot.waitUntil(lambda: len(w.player.stats.change_latencies_s) >= 1, timeout=5000)  # heard
    w.query.set_text("separate drums", emit=True)
    qtbot.waitUntil(lambda: len(w.player.stats.change_latencies_s) >= 2, timeout=5000)
    assert w.player is not None
    assert w.underruns() == 0
    w.seek_seconds(20.0)
    qtbot.wait(400)
    assert w.position_seconds() >= 20.0
    w.pause()
    assert w.player is None


def test_device_failure_disables_preview_not_export(window, qtbot, tmp_path):
    from amssfx.errors import DeviceError

    w = window

    def broken():
        raise DeviceError("no audio output device available: test")

    w.device_factory = broken
    w.play()
    assert not w.preview_enabled and "preview disabled" in w.log[-1]
    t = w.export(tmp_path / "out", "wav16", mix=True, stems=("drums",))
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=60000)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["demo_drums.wav", "demo_processed.wav", "demo_processed.wav.amssfx.json"]
    x, _ = audio_io.read(tmp_path / "out" / "demo_drums.wav")
    assert x.shape == (2, w.info.frames)


def test_device_dying_mid_play_stops_preview(window, qtbot):
    w = window
    w.play()
    qtbot.waitUntil(lambda: len(w.devices) == 1, timeout=2000)
    w.devices[0].fail_after_blocks = 0
    qtbot.waitUntil(lambda: not w.preview_enabled, timeout=3000)
    assert w.player is None and "stopped" in w.log[-1]


def test_export_cancel_leaves_nothing(window, qtbot, tmp_path):
    w = window
    t = w.export(tmp_path / "c", "wav24", mix=True, stems=("vocals", "drums", "bass", "other"))
    w._cancel.set()
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=30000)
    left = [p.name for p in (tmp_path / "c").iterdir()] if (tmp_path / "c").exists() else []
    assert all(not n.endswith(".wav") or ".part" not in n for n in left)
    assert not [n for n in left if n.startswith(".")]
    # the worker reports through a queued signal, delivered after the thread may have ended
    qtbot.waitUntil(lambda: bool(w.log) and "cancelled" in w.log[-1], timeout=5000)


def test_session_save_and_load(window, tmp_path, qtbot):
    w = window
    w.query.set_text("pan bass completely to the left side", emit=True)
    w.grid.cells[(0, 0)][1].setChecked(True)
    w.chain.add("gain")
    w.save_session(tmp_path / "s.json")
    w.query.set_text("mute vocals", emit=True)
    w.grid.reset()
    assert w.load_session(tmp_path / "s.json")
    assert w.current_params().query.text == "pan bass completely to the left side"
    assert w.current_params().mask_array()[0, 0] == 0 and w.current_chain()[0]["type"] == "gain"
    (tmp_path / "bad.json").write_text("{\"schema\": \"other\"}")
    assert not w.load_session(tmp_path / "bad.json") and "not an amssfx session" in w.log[-1]


def test_nan_input_is_repaired_and_reported(qtbot, tiny_model, tmp_path):
    import soundfile as sf

    from amssfx.gui.window import MainWindow

    x = (0.2 * np.random.default_rng(0).standard_normal((88200, 2))).astype(np.float32)
    x[5000, 1] = np.nan
    src = tmp_path / "nan.wav"
    sf.write(str(src), x, 44100, subtype="FLOAT")
    w = MainWindow(tiny_model[1], device_factory=lambda: FakeOutput(44100, 2, 512, realtime=True))
    qtbot.addWidget(w)
    w.open_file(str(src))
    qtbot.waitUntil(lambda: w.info is not None, timeout=10000)
    assert any("frame 5000 channel 1" in m for m in w.log)
    w.play()
    qtbot.wait(800)
    assert w.player is not None and w.player.device_error() is None
    out = w.player.ring.data
    assert np.isfinite(out).all()
    w.pause()
    t = w.export(tmp_path / "e", "wav32f", mix=True, stems=())
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=30000)
    y, _ = audio_io.read(tmp_path / "e" / "nan_processed.wav")
    assert np.isfinite(y).all() and y.shape == (2, 88200)
    w.close()


def test_space_bar_plays_and_pauses(window, qtbot):
    from PyQt6 import QtCore

    w = window
    with qtbot.waitActive(w):
        w.show()
        w.activateWindow()
    w.wave_in.setFocus()
    qtbot.keyClick(w.wave_in, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.player is not None, timeout=2000)
    qtbot.keyClick(w.wave_in, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.player is None, timeout=2000)
    qtbot.keyClick(w.wave_in, QtCore.Qt.Key.Key_3)
    assert w.mode == "difference" and w.ab["difference"].isChecked()


def test_settings_of_the_test_run_stay_out_of_the_users_home(window):
    import os

    assert window.settings.fileName().startswith(os.environ["XDG_CONFIG_HOME"])
    assert "amssfx/assets" not in str(window.export_base())  # not the package's folder (the demo song's)


def test_space_in_a_focused_spin_box_plays_and_keeps_its_value(window, qtbot):
    from PyQt6 import QtCore

    w = window
    with qtbot.waitActive(w):
        w.show()
        w.activateWindow()
    gain = w.grid.cells[(0, 0)][2]
    gain.setFocus()
    qtbot.waitUntil(gain.hasFocus, timeout=2000)
    qtbot.keyClick(gain, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.player is not None, timeout=2000)
    assert gain.value() == 1.0 and gain.text() == "1.00"
    qtbot.keyClick(gain, QtCore.Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.player is None, timeout=2000)
    w.query.text.setFocus()  # a text field keeps its spaces
    qtbot.waitUntil(w.query.text.hasFocus, timeout=2000)
    qtbot.keyClick(w.query.text, QtCore.Qt.Key.Key_Space)
    assert w.player is None and w.query.text.text().endswith(" ")


def test_help_lists_every_template():
    from amssfx.gui.viewmodels import help_html
    from amssfx.query import TEMPLATES

    html = help_html()
    for family, tokens in TEMPLATES:
        assert " ".join(t for t in tokens if not t.startswith("<")).split()[0] in html
    assert "not learned" in html and "remove reverb" in html


def test_undo_steps_are_named_and_one_control_moved_twice_is_one_step(window, qtbot):
    from PyQt6 import QtWidgets

    w = window
    w.chain.add("reverb")
    assert w.undo_action.text() == "&Undo add reverb"
    box = w.chain.params.itemAt(0, QtWidgets.QFormLayout.ItemRole.FieldRole).widget()
    for v in (0.6, 0.7, 0.8):  # one parameter stepped three times: one step
        box.setValue(v)
    assert w.undo_action.text() == "&Undo room size of reverb"
    w.undo_edit()
    assert w.chain.state.effects[0]["room_size"] == pytest.approx(0.5) and w.undo_action.text() == "&Undo add reverb"
    assert w.redo_action.text() == "&Redo room size of reverb"
    w.undo_edit()
    assert w.chain.state.effects == [] and not w.undo_action.isEnabled()


def test_a_session_with_a_solo_comes_back_as_a_solo(window, tmp_path):
    from amssfx import session as sess

    w = window
    w.grid.cells[(1, 0)][0].setChecked(True)  # solo 1:0
    w.grid.cells[(0, 1)][2].setValue(0.5)
    path = tmp_path / "s.amssfx.json"
    w.save_session(path)
    assert sess.load(path).grid["solo"] == [[1, 0]]
    w.grid.reset()
    assert w.load_session(path)
    st = w.grid.state
    assert st.solo.sum() == 1 and st.solo[1, 0] and not st.mute.any()
    assert st.gain[0, 1] == 0.5 and w.grid.cells[(1, 0)][0].isChecked()


def test_the_output_spectrogram_starts_blank_for_a_newly_opened_file(window, qtbot, demo_path):
    w = window
    w.spec_out.data[:] = 0.0  # as if played
    w.info = None
    w.open_file(str(demo_path))
    qtbot.waitUntil(lambda: w.info is not None, timeout=10000)
    assert w.spec_out.data.max() == -100  # nothing of the previous playback
    assert (w.spec_in.data.max(1) > -60).all()  # the input's, every column, for this file
    assert w.spec_in.getPlotItem().getAxis("left").isVisible()  # a frequency axis


def test_selecting_an_effect_does_not_move_the_buttons_or_the_list(qtbot):
    from PyQt6 import QtWidgets

    from amssfx.gui.widgets import ChainEditor

    ed = ChainEditor()
    qtbot.addWidget(ed)
    ed.resize(400, 600)
    ed.show()
    ed.add("gain")  # one parameter
    ed.add("chorus")  # five parameters
    buttons = [b for b in ed.findChildren(QtWidgets.QPushButton) if b.text() in ("Up", "Down", "Bypass", "Remove")]
    before = [(b.mapTo(ed, b.rect().topLeft()), b.size()) for b in buttons] + [ed.list.geometry()]
    for row in (0, 1, 0):
        ed.list.setCurrentRow(row)
        qtbot.wait(20)
        after = [(b.mapTo(ed, b.rect().topLeft()), b.size()) for b in buttons] + [ed.list.geometry()]
        assert after == before


def test_loop_region_shows_before_playing_and_waveforms_zoom_in_time(window, qtbot):
    w = window
    assert w.player is None
    w.loop_box.setChecked(True)
    assert w.wave_in.region.isVisible()
    assert w.wave_in.region.lines[0].pen.width() >= 3  # an edge wide enough to grab
    vb = w.wave_in.getPlotItem().vb
    assert vb.state["mouseEnabled"] == [True, False]
    vb.scaleBy((0.25, 1.0))
    lo, hi = vb.viewRange()[0]
    assert hi - lo < 0.5 * w.info.duration_seconds and lo >= 0  # zoomed in, never before the start
    w.loop_box.setChecked(False)
    assert not w.wave_in.region.isVisible()


def test_the_window_fits_1024x640_and_the_grid_cells_stay_whole(window, qtbot):
    w = window
    w.resize(1024, 640)
    w.show()
    qtbot.wait(100)
    assert w.width() <= 1024 and w.height() <= 640  # nothing forces a larger window
    for (h, l), label in w.grid.labels.items():
        assert label.width() >= label.sizeHint().width(), (h, l)  # the grid scrolls instead of squeezing
        solo, mute, gain, meter = w.grid.cells[(h, l)]
        assert gain.width() >= gain.minimumSizeHint().width()


def test_export_dialog_offers_a_dj_stem_file(window, qtbot, tmp_path):
    import shutil

    from amssfx.gui.export_dialogs import ExportDialog

    dlg = ExportDialog(window, str(tmp_path))
    qtbot.addWidget(dlg)
    dlg.format.setCurrentText("stem.mp4")
    assert not dlg.mix.isEnabled() and not any(b.isEnabled() for b in dlg.stems.values())
    dlg.format.setCurrentText("flac24")
    assert dlg.mix.isEnabled()
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is installed by make test (APT_TEST)")
    t = window.export(tmp_path / "dj", "stem.mp4")
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=120000)
    assert [p.name for p in (tmp_path / "dj").iterdir()] == ["demo.stem.mp4"]
    from amssfx.export.stem_mp4 import read_stem_metadata

    assert len(read_stem_metadata(tmp_path / "dj" / "demo.stem.mp4")["stems"]) == 4


def test_folder_export_with_progress_and_a_bad_file(window, qtbot, tmp_path, demo_path):
    import json

    import soundfile as sf

    w = window
    audio, sr = sf.read(demo_path, dtype="float32")
    (tmp_path / "songs" / "sub").mkdir(parents=True)
    sf.write(tmp_path / "songs" / "a.wav", audio[: sr * 2], sr)
    sf.write(tmp_path / "songs" / "sub" / "b.flac", audio[sr: sr * 3], sr)
    (tmp_path / "songs" / "sub" / "bad.wav").write_bytes(b"RIFFjunk" * 4)
    w.query.set_text("mute drums", emit=True)
    seen = []
    w.bridge.progress.connect(lambda d, t: seen.append((d, t)))
    t = w.export_folder(tmp_path / "songs", tmp_path / "out", "wav16", mix=True, stems=False)
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=120000)
    qtbot.waitUntil(lambda: bool(w.log) and "folder export" in w.log[-1], timeout=5000)  # the signal may come later
    assert "2 done" in w.log[-1] and "1 failed" in w.log[-1]
    assert seen[-1] == (3, 3)
    assert (tmp_path / "out" / "a.wav").exists() and (tmp_path / "out" / "sub" / "b.wav").exists()
    summary = json.loads((tmp_path / "out" / "batch-summary.json").read_text())
    assert summary["job"]["query"] == "mute drums" and summary["counts"]["failed"] == 1


def test_stem_mixer_is_live_undoable_and_saved(window, qtbot, tmp_path):
    import math

    w = window
    w.play()
    qtbot.waitUntil(lambda: w.player is not None, timeout=3000)
    gain, value, pan, pan_label, mute = w.mixer.rows["drums"]
    gain.setValue(-12)  # slider steps of 0.5 dB
    gain.setValue(-13)
    assert w.player.snapshot.params.mix.drums.gain_db == -6.5  # the player has it while playing
    assert value.text() == "-6.5 dB"
    assert w.undo_action.text() == "&Undo drums gain"
    pan.setValue(-40)
    assert pan_label.text() == "L40" and w.player.snapshot.params.mix.drums.pan == -0.4
    w.mixer.rows["vocals"][4].setChecked(True)
    assert w.player.snapshot.params.mix.vocals.gain_db == -math.inf
    w.undo_edit()  # unmute vocals
    w.undo_edit()  # drums pan
    assert w.player.snapshot.params.mix.drums.pan == 0 and w.player.snapshot.params.mix.vocals.gain_db == 0
    assert w.mixer.rows["drums"][2].value() == 0
    w.redo_edit()
    w.pause()
    w.save_session(tmp_path / "m.json")
    w.mixer.reset_stem("drums")
    assert w.load_session(tmp_path / "m.json")
    assert w.mixer.mix.drums.gain_db == -6.5 and w.mixer.mix.drums.pan == -0.4
    assert w.mixer.rows["drums"][1].text() == "-6.5 dB"


def test_sigterm_during_an_export_leaves_nothing_partial(tmp_path, demo_path):
    """A logout's SIGTERM while the app exports: the export is cancelled and cleaned up before exit."""
    import subprocess
    import sys

    import soundfile as sf

    audio, sr = sf.read(demo_path, dtype="float32")
    src = tmp_path / "long.wav"
    sf.write(src, np.concatenate([audio] * 4), sr)  # 2 minutes
    out = tmp_path / "export"
    code = f"""
import os, signal, sys
from PyQt6 import QtCore, QtWidgets
app = QtWidgets.QApplication(sys.argv[:1])
from amssfx.gui.app import stop_on_signals
from amssfx.gui.window import MainWindow
from amssfx.player import FakeOutput
w = MainWindow(None, device_factory=lambda: FakeOutput())
received = stop_on_signals(app, w)
w.open_file({str(src)!r})
def start():
    if w.info is None:
        QtCore.QTimer.singleShot(50, start)
        return
    w.export({str(out)!r}, "wav24", mix=True)
    QtCore.QTimer.singleShot(1500, lambda: os.kill(os.getpid(), signal.SIGTERM))
QtCore.QTimer.singleShot(50, start)
app.exec()
print("signals", received, "job alive", w._job.is_alive())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env=dict(__import__("os").environ, QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "signals [15] job alive False" in r.stdout, r.stdout
    left = list(out.iterdir()) if out.exists() else []
    assert not [p for p in left if p.name.startswith(".")], left  # no temp files
    for p in left:  # whatever finished before the signal is whole
        if p.suffix == ".wav":
            assert sf.info(p).frames == 4 * len(audio)


def test_edit_only_the_region_preview_export_and_session(window, qtbot, tmp_path):
    import soundfile as sf

    w = window
    w.query.set_text("mute drums", emit=True)
    w.wave_in.region.setRegion((5.0, 8.0))
    w.region_box.setChecked(True)
    assert w.wave_in.region.isVisible()
    assert w.current_regions().spans == ((5.0, 8.0),)
    w.play()
    qtbot.waitUntil(lambda: w.player is not None, timeout=3000)
    assert w.player.snapshot.regions.spans == ((5.0, 8.0),)  # the preview hears the region edit
    w.pause()
    t = w.export(tmp_path / "r", "wav32f", mix=True, stems=())
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=60000)
    x, sr = sf.read(w.path, dtype="float32")
    y, _ = sf.read(tmp_path / "r" / "demo_processed.wav", dtype="float32")
    np.testing.assert_array_equal(y[: 5 * sr], x[: 5 * sr])  # outside the region: the input, sample for sample
    np.testing.assert_array_equal(y[8 * sr:], x[8 * sr:])
    assert np.abs(y[6 * sr: 7 * sr] - x[6 * sr: 7 * sr]).max() > 0  # inside: the edit
    w.save_session(tmp_path / "r.json")
    w.region_box.setChecked(False)
    w.wave_in.region.setRegion((0.0, 2.0))
    assert w.load_session(tmp_path / "r.json")
    assert w.region_box.isChecked() and w.current_regions().spans == ((5.0, 8.0),)


def test_whole_file_spectrograms_follow_the_file_and_the_playback(window, qtbot, tmp_path):
    import soundfile as sf

    from amssfx.gui.views import column_centers

    w = window
    cols = len(column_centers(w.info.frames))
    assert w.spec_in.data.shape[0] == cols and (w.spec_in.data.max(1) > -60).all()  # the whole file, computed on load
    assert (w.spec_out.data == -100).all()  # the output's fills in as it plays
    w.play()
    qtbot.waitUntil(lambda: w.position_seconds() > 3.0, timeout=10000)
    w.pause()
    filled = np.flatnonzero((w.spec_out.data > -100).any(1))
    assert len(filled) > 10 and filled[0] <= 2
    assert np.array_equal(filled, np.arange(filled[0], filled[-1] + 1))  # no gaps while it played on
    w.wave_in.setXRange(10, 12, padding=0)
    qtbot.wait(50)
    lo, hi = w.spec_in.getPlotItem().vb.viewRange()[0]
    assert abs(lo - 10) < 0.05 and abs(hi - 12) < 0.05  # zoomed with the waveform
    # Another file: its own spectrogram, computed in the load worker.
    sf.write(tmp_path / "tone.wav", (0.3 * np.sin(np.arange(44100 * 4) * 2 * np.pi * 1000 / 44100)), 44100)
    w.open_file(str(tmp_path / "tone.wav"))
    qtbot.waitUntil(lambda: w.info.frames == 44100 * 4, timeout=10000)
    assert w.spec_in.data.shape[0] == len(column_centers(44100 * 4))
    peak_bin = int(np.median(w.spec_in.data.argmax(1)))
    assert abs(peak_bin * 44100 / 512 - 1000) < 100  # the 1 kHz tone
