"""Latent-channel names: measured by the evaluation, shipped beside the model, shown by the app."""
from amssfx import channels

ROWS = [{"head": 0, "lach": 0, "stem": "drums", "band": "low", "energy_share": 0.31, "correlation": 0.8},
        {"head": 0, "lach": 1, "stem": "vocals", "band": "mid", "energy_share": 0.0001, "correlation": 0.1}]


def test_names_round_trip_and_belong_to_one_checkpoint(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    path = channels.write(model, "a" * 64, "separate vocals, drums, bass", ROWS)
    assert path == tmp_path / "m.channels.json"
    query, names = channels.load(model, "a" * 64)
    assert query == "separate vocals, drums, bass"
    assert names[(0, 0)].label == "0:0 drums low" and "31.0 %" in names[(0, 0)].tooltip(query)
    assert names[(0, 1)].label == "0:1 silent" and "almost nothing" in names[(0, 1)].tooltip(query)
    assert channels.load(model, "b" * 64) == ("", {})  # measured on other weights: not shown
    path.write_text("{not json")
    assert channels.load(model, "a" * 64) == ("", {})


def test_a_channel_shut_under_the_naming_query_but_heard_under_its_complement_is_not_silent(tmp_path):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    q, rest = "separate vocals, drums, bass", "mute vocals, drums, bass"
    rows = [dict(ROWS[0], energy_share_rest=0.2, named_under=q),
            dict(ROWS[1], stem="other", energy_share_rest=0.12, named_under=rest),
            dict(ROWS[1], lach=2, energy_share_rest=0.0002, named_under=rest)]
    channels.write(model, "a" * 64, "separate vocals, drums, bass", rows, "mute vocals, drums, bass")
    query, names = channels.load(model, "a" * 64)
    other = names[(0, 1)]
    assert other.label == "0:1 other mid" and other.share_rest == 0.12
    tip = other.tooltip(query)
    assert "0.0 % of the output under 'separate vocals, drums, bass', 12.0 % under 'mute vocals, drums, bass'" in tip
    assert "correlation with the other stem +0.10 under 'mute vocals, drums, bass'" in tip
    assert names[(0, 2)].label == "0:2 silent"  # quiet under both queries
    channels.write(model, "a" * 64, "separate vocals, drums, bass", ROWS)  # a sidecar of one query
    assert channels.load(model, "a" * 64)[1][(0, 1)].share_rest is None


def test_the_grid_shows_names_and_tooltips(qtbot):
    from amssfx.gui.widgets import LachGrid

    names = {(r["head"], r["lach"]): channels.ChannelName(r["head"], r["lach"], r["stem"], r["band"],
                                                           r["energy_share"], r["correlation"]) for r in ROWS}
    grid = LachGrid(1, 2, names=names, names_query="separate vocals, drums, bass")
    qtbot.addWidget(grid)
    assert grid.labels[(0, 0)].text() == "0:0 drums low"
    assert "mostly drums, low band" in grid.labels[(0, 0)].toolTip()
    plain = LachGrid(1, 2)
    qtbot.addWidget(plain)
    assert plain.labels[(0, 1)].text() == "0:1"


def test_the_bundled_model_ships_names_for_its_own_weights():
    from amssfx.engine import Engine

    e = Engine()
    query, names = channels.load(e.model.path, e.model.contract.checkpoint_sha256)
    assert query and len(names) == e.mask_shape[0] * e.mask_shape[1]


def test_effect_parameters_show_names_units_and_useful_starting_values(qtbot):
    from PyQt6 import QtWidgets

    from amssfx.effects import defaults, param_label
    from amssfx.gui.widgets import ChainEditor

    assert param_label("cutoff_frequency_hz") == ("cut-off", "Hz") and param_label("wet_level") == ("wet level", "")
    assert defaults("lowpass")["cutoff_frequency_hz"] == 2000.0  # not pedalboard's 50 Hz, which silences a mix
    ed = ChainEditor()
    qtbot.addWidget(ed)
    ed.add("lowpass")
    label = ed.params.itemAt(0, QtWidgets.QFormLayout.ItemRole.LabelRole).widget().text()
    box = ed.params.itemAt(0, QtWidgets.QFormLayout.ItemRole.FieldRole).widget()
    assert label == "cut-off" and box.value() == 2000.0 and box.suffix() == " Hz"
    assert box.minimum() == 10.0 and box.maximum() == 21000.0  # the registry's range

