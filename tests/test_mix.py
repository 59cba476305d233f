"""The stem mixer: its settings, its arithmetic over the result, sessions and the CLI's --mix."""
import json
import math

import numpy as np
import pytest
import soundfile as sf

from amssfx import recipe as rc
from amssfx.cli import main
from amssfx.engine import Engine
from amssfx.errors import SessionError, UsageValueError
from amssfx.mix import StemMix, StemSetting

from conftest import sine


def test_settings_are_checked_and_parsed():
    m = StemMix.parse("vocals=-6,drums=+3dB,bass=pan:-0.5,other=mute")
    assert m.vocals == StemSetting(-6.0, 0.0) and m.drums.gain_db == 3.0
    assert m.bass == StemSetting(0.0, -0.5) and m.other.gain_db == -math.inf
    assert StemMix.parse(["bass=-3", "bass=pan:1"]).bass == StemSetting(-3.0, 1.0)
    assert m.touched() == ["vocals", "drums", "bass", "other"] and StemMix().unity
    assert StemMix.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    for bad, msg in (("vox=3", "unknown stem"), ("vocals=13", "from -60 to \\+12"), ("vocals=-61", "-inf"),
                     ("vocals", "STEM=GAIN_DB"), ("vocals=loud", "not a number"), ("bass=pan:2", "pan"),
                     ("vocals=nan", "finite|from"), ("vocals=3,vocals=4", "given twice")):
        with pytest.raises(UsageValueError, match=msg):
            StemMix.parse(bad)
    with pytest.raises(UsageValueError):
        StemMix.from_dict({"vocals": {"gain_db": "loud"}})


def test_pan_moves_content_and_keeps_it():
    x = np.stack([np.linspace(-1, 1, 100), np.linspace(1, 0, 100)]).astype(np.float32)
    left = StemSetting(0.0, -1.0).apply(x)
    np.testing.assert_allclose(left[0], x[0] + x[1], atol=1e-6)
    assert not left[1].any()
    half = StemSetting(0.0, 0.5).apply(x)
    np.testing.assert_allclose(half.sum(0), x.sum(0), atol=1e-6)  # nothing dropped
    np.testing.assert_allclose(half[0], 0.5 * x[0], atol=1e-6)
    np.testing.assert_array_equal(StemSetting().apply(x), x)


def test_engine_adds_the_mixed_stems_to_the_result(identity_onnx):
    """With the identity model every stem estimate is the input itself: the arithmetic is visible."""
    eng = Engine(identity_onnx, threads=1)
    x = sine(330, 1.0)
    plain = eng.process_array(x, 44100, eng.params("mute drums"))
    unity = eng.process_array(x, 44100, eng.params("mute drums", mix=StemMix.parse("vocals=0,bass=pan:0")))
    np.testing.assert_array_equal(plain, unity)  # a mixer at unity costs nothing and changes nothing
    down = eng.process_array(x, 44100, eng.params("mute drums", mix=StemMix.parse("vocals=-6.0206")))
    np.testing.assert_allclose(down, plain * 0.5, atol=1e-4)
    muted = eng.process_array(x, 44100, eng.params("mute drums", mix=StemMix.parse("drums=mute")))
    assert np.abs(muted).max() < 1e-4
    panned = eng.process_array(x, 44100, eng.params("mute drums", mix=StemMix.parse("bass=pan:-1")))
    np.testing.assert_allclose(panned[0], plain[0] + plain[1], atol=1e-4)
    assert np.abs(panned[1]).max() < 1e-4
    with pytest.raises(UsageValueError, match="StemMix"):
        eng.params("mute drums", mix={"vocals": 3})


def test_model_mixer_matches_its_stems(tiny_mask_model):
    """With a real network: result + (g - 1) x the stem export's own `separate drums` output."""
    eng = Engine(tiny_mask_model[1], threads=1)
    x = (0.2 * np.random.default_rng(3).standard_normal((2, 44100))).astype(np.float32)
    base = eng.process_array(x, 44100, eng.params("apply heavy lowpass to vocals"))
    drums = eng.process_array(x, 44100, eng.params("separate drums"))
    got = eng.process_array(x, 44100, eng.params("apply heavy lowpass to vocals", mix=StemMix.parse("drums=+6")))
    np.testing.assert_allclose(got, base + (10 ** (6 / 20) - 1) * drums, atol=2e-4)


def test_cli_mix_is_recorded_and_replayed(tmp_path, identity_onnx):
    src = tmp_path / "in.wav"
    sf.write(src, sine(220, 1.0).T, 44100)
    out = tmp_path / "out.wav"
    assert main(["process", str(src), "-q", "mute vocals", "--mix", "vocals=-6,other=pan:0.25", "--model",
                 str(identity_onnx), "-o", str(out), "--quiet"]) == 0
    side = json.loads((tmp_path / "out.wav.amssfx.json").read_text())
    assert side["mix"] == {"vocals": {"gain_db": -6.0, "pan": 0.0}, "other": {"gain_db": 0.0, "pan": 0.25}}
    again = tmp_path / "again.wav"
    assert main(["process", "--session", str(tmp_path / "out.wav.amssfx.json"), "-o", str(again), "--quiet"]) == 0
    np.testing.assert_array_equal(sf.read(out)[0], sf.read(again)[0])
    assert main(["process", str(src), "-q", "mute vocals", "--mix", "guitar=-3", "-o", str(tmp_path / "x.wav")]) == 2
    assert main(["process", str(src), "-q", "mute vocals", "--mix", "vocals=+20", "-o", str(tmp_path / "x.wav")]) == 2
    assert not (tmp_path / "x.wav").exists()

    side["mix"] = {"vocals": {"gain_db": 99, "pan": 0}}
    (tmp_path / "bad.json").write_text(json.dumps(side))
    with pytest.raises(SessionError, match="session mix"):
        rc.load(tmp_path / "bad.json")
