"""Edits on a region: outside the regions the output is the input sample for sample; inside, the edit."""
import json
import math

import numpy as np
import pytest
import soundfile as sf

from amssfx import recipe as rc
from amssfx.cli import main
from amssfx.errors import SessionError, UsageValueError
from amssfx.regions import CROSSFADE_SECONDS, Regions

from conftest import sine


def test_regions_are_checked():
    r = Regions.make([(4, 5), (1, 2.5)])
    assert r.spans == ((1.0, 2.5), (4.0, 5.0))
    assert Regions.parse(3, None).spans == ((3.0, math.inf),) and Regions.parse(None, 2).spans == ((0.0, 2.0),)
    assert Regions.from_list(Regions.parse(3, None).to_list()) == Regions.parse(3, None)
    for bad, msg in (([(2, 1)],), "before"), (([(1, 3), (2, 4)],), "overlap"), (([],), "at least one"), \
                    (([(float("nan"), 2)],), "finite"), (([(-1, 2)],), "at least 0"), ((["1-2"],), "pair"):
        with pytest.raises(UsageValueError, match=msg):
            Regions.make(*bad)


def test_weights_fade_inside_the_edges_only():
    sr = 1000
    w = Regions.make([(1.0, 2.0)]).weights(0, 3000, sr)
    fade = int(CROSSFADE_SECONDS * sr)
    assert not w[:1000].any() and not w[2000:].any()
    assert (w[1000 + fade:2000 - fade] == 1).all()
    assert 0 < w[1000] < w[1000 + fade - 1] < 1


def test_cli_region_edit_is_exact_outside(tmp_path, identity_onnx):
    src = tmp_path / "in.wav"
    x = sine(440, 3.0)
    sf.write(src, x.T, 44100, subtype="FLOAT")
    out = tmp_path / "out.wav"
    # the identity model with a -6 dB gain after it: the edit is "half as loud"
    assert main(["process", str(src), "-q", "mute vocals", "--model", str(identity_onnx), "--fx", "gain:gain_db=-6",
                 "--region", "0.5-1", "--region", "2-2.5", "-o", str(out), "--quiet"]) == 0
    y = sf.read(out, dtype="float32")[0].T
    inside = np.zeros(x.shape[1], bool)
    for a, b in ((0.5, 1.0), (2.0, 2.5)):
        inside[int(a * 44100):int(b * 44100)] = True
    np.testing.assert_array_equal(y[:, ~inside], x[:, ~inside])
    f = int(CROSSFADE_SECONDS * 44100)
    core = slice(int(0.5 * 44100) + f, int(1.0 * 44100) - f)
    np.testing.assert_allclose(y[:, core], x[:, core] * 10 ** (-6 / 20), atol=1e-4)

    side = json.loads((tmp_path / "out.wav.amssfx.json").read_text())
    assert side["regions"] == [[0.5, 1.0], [2.0, 2.5]]
    again = tmp_path / "again.wav"
    assert main(["process", "--session", str(tmp_path / "out.wav.amssfx.json"), "-o", str(again), "--quiet"]) == 0
    np.testing.assert_array_equal(sf.read(again, dtype="float32")[0].T, y)

    assert main(["process", str(src), "-q", "mute vocals", "--start", "2", "--end", "1", "-o", str(tmp_path / "b.wav")]) == 2
    assert main(["process", str(src), "-q", "mute vocals", "--region", "1to2", "-o", str(tmp_path / "b.wav")]) == 2
    side["regions"] = [[2, 1]]
    (tmp_path / "bad.json").write_text(json.dumps(side))
    with pytest.raises(SessionError, match="session regions"):
        rc.load(tmp_path / "bad.json")
