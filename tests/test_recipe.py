"""The use-case layer: a recipe rendered with its sidecar, replayed exactly, exported as mix and stems."""
import numpy as np
import soundfile as sf

import amssfx
from amssfx import recipe as rc
from amssfx.engine import Engine
from conftest import sine


def test_render_writes_output_and_sidecar_and_the_sidecar_replays_it(tmp_path, tiny_model):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(300, 2.0).T, 44100)
    engine = Engine(tiny_model[1])
    mask = np.ones(engine.mask_shape).tolist()
    mask[0][1] = 0.5
    r = amssfx.Recipe(str(src), "mute vocals", mask, 1.0, [{"type": "gain", "gain_db": -3.0}],
                      output=str(tmp_path / "a.wav"), output_format="wav32f")
    amssfx.render(r, engine)
    again = amssfx.load_recipe(tmp_path / "a.wav.amssfx.json").but(output=str(tmp_path / "b.wav"))
    assert again.mask == mask and again.chain[0]["gain_db"] == -3.0 and again.model_sha256
    rc.render(again, rc.engine_for(again))
    a, b = sf.read(str(tmp_path / "a.wav"))[0], sf.read(str(tmp_path / "b.wav"))[0]
    np.testing.assert_array_equal(a, b)


def test_export_writes_mix_and_stems_with_one_rising_progress(tmp_path, tiny_model):
    src = tmp_path / "song.wav"
    sf.write(str(src), sine(300, 2.0).T, 44100)
    engine = Engine(tiny_model[1])
    seen = []
    reports = amssfx.render_all(amssfx.Recipe(str(src), "separate drums"), engine, tmp_path / "out",
                            stems=("vocals", "bass"), progress=lambda d, t: seen.append((d, t)))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "song_bass.wav", "song_processed.wav", "song_processed.wav.amssfx.json", "song_vocals.wav"]
    assert len(reports) == 3 and seen[-1] == (3 * 88200, 3 * 88200)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and {t for _, t in seen} == {3 * 88200}
