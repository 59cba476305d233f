import numpy as np
import pytest
from scipy import signal

from amssfx.query import parse
from amssfx.tasks import global_dsp, make_pair, sdr

SR = 44100


def tone(f, n=SR, amp=0.1):
    t = np.arange(n) / SR
    return np.stack([amp * np.sin(2 * np.pi * f * t), 0.5 * amp * np.sin(2 * np.pi * f * t)]).astype(np.float32)


@pytest.fixture
def stems():
    return {"vocals": tone(440), "drums": tone(3000), "bass": tone(60), "other": tone(1000, amp=0.05)}


def gain_db(x, y):
    return 20 * np.log10(np.sqrt(np.mean(y[:, SR // 2:] ** 2)) / np.sqrt(np.mean(x[:, SR // 2:] ** 2)))


def test_mute_and_separate_sums(stems):
    inp, tgt = make_pair(stems, "mute vocals, drums")
    np.testing.assert_allclose(inp, sum(stems.values()), atol=1e-6)
    np.testing.assert_allclose(tgt, stems["bass"] + stems["other"], atol=1e-6)
    inp, tgt = make_pair(stems, "separate bass")
    np.testing.assert_allclose(tgt, stems["bass"], atol=1e-6)
    inp, tgt = make_pair(stems, "mute vocals, drums, bass")
    np.testing.assert_allclose(tgt, stems["other"], atol=1e-6)


def test_volume_ratios(stems):
    mix = sum(stems.values())
    _, up = make_pair(stems, "increase the volume of drums")
    np.testing.assert_allclose(up - mix, stems["drums"], atol=1e-6)  # drums x2
    _, down = make_pair(stems, "decrease the volume of vocals")
    np.testing.assert_allclose(mix - down, 0.5 * stems["vocals"], atol=1e-6)


def test_pan_sums(stems):
    mix = sum(stems.values())
    _, tgt = make_pair(stems, "pan vocals to the left side")
    m = 0.5 * (stems["vocals"][0] + stems["vocals"][1])
    np.testing.assert_allclose(tgt[0] - (mix[0] - stems["vocals"][0]), 0.8 * m, atol=1e-6)
    np.testing.assert_allclose(tgt[1] - (mix[1] - stems["vocals"][1]), 0.2 * m, atol=1e-6)
    _, tgt = make_pair(stems, "pan vocals completely to the right side")
    np.testing.assert_allclose(tgt[0] - (mix[0] - stems["vocals"][0]), 0.0, atol=1e-6)
    np.testing.assert_allclose(tgt[1] - (mix[1] - stems["vocals"][1]), m, atol=1e-6)


@pytest.mark.parametrize("query,stem,cut,btype", [
    ("apply heavy lowpass to drums", "drums", 344.0, "low"),
    ("apply light lowpass to vocals", "vocals", 1378.0, "low"),
    ("apply lowpass to bass", "bass", 86.0, "low"),
    ("apply heavy highpass to drums", "drums", 5512.0, "high"),
    ("apply medium highpass to bass", "bass", 172.0, "high"),
])
def test_filter_cutoffs_attenuate_3db_at_the_stated_frequency(query, stem, cut, btype):
    stems = {k: np.zeros((2, SR), np.float32) for k in ("vocals", "drums", "bass", "other")}
    stems[stem] = tone(cut)
    inp, tgt = make_pair(stems, query)
    assert gain_db(inp, tgt) == pytest.approx(-3.01, abs=0.15)
    far = cut / 8 if btype == "high" else cut * 8  # an octave triple away: 4th order -> ~ -72 dB
    stems[stem] = tone(far)
    inp, tgt = make_pair(stems, query)
    assert gain_db(inp, tgt) < -60


def test_bass_uses_its_own_column_in_a_set():
    stems = {k: np.zeros((2, SR), np.float32) for k in ("vocals", "drums", "bass", "other")}
    stems["bass"] = tone(172.0)
    stems["drums"] = tone(1378.0)
    inp, tgt = make_pair(stems, "apply light lowpass to drums, bass")
    sos_b = signal.butter(4, 172.0, "low", fs=SR, output="sos")
    sos_d = signal.butter(4, 1378.0, "low", fs=SR, output="sos")
    expect = signal.sosfilt(sos_b, stems["bass"], axis=-1) + signal.sosfilt(sos_d, stems["drums"], axis=-1)
    np.testing.assert_allclose(tgt, expect, atol=1e-5)


def test_joint_normalisation_keeps_the_pair_consistent():
    stems = {k: np.zeros((2, SR), np.float32) for k in ("vocals", "drums", "bass", "other")}
    stems["drums"] = tone(200, amp=0.8)
    stems["other"] = tone(300, amp=0.1)
    inp, tgt = make_pair(stems, "increase the volume of drums")
    peak = max(np.abs(inp).max(), np.abs(tgt).max())
    assert peak == pytest.approx(1.0, abs=1e-6)
    raw_in = stems["drums"] + stems["other"]
    ratio = np.abs(raw_in).max() / np.abs(inp).max()
    np.testing.assert_allclose(tgt * ratio, 2 * stems["drums"] + stems["other"], atol=1e-5)
    # Quiet pairs are not rescaled.
    q = {k: v * 0.1 for k, v in stems.items()}
    inp, _ = make_pair(q, "mute drums")
    np.testing.assert_allclose(inp, sum(q.values()), atol=1e-7)


def test_dereverb_direction(stems):
    inp, tgt = make_pair(stems, "remove reverb from vocals")
    mix = sum(stems.values())
    np.testing.assert_allclose(tgt, mix, atol=1e-6)  # the target is dry
    assert np.sqrt(np.mean((inp - mix) ** 2)) > 1e-3  # the input carries the reverb
    assert inp.shape == mix.shape


def test_global_dsp_and_sdr(stems):
    mix = sum(stems.values())
    assert np.abs(global_dsp(mix, parse("mute drums"))).max() == 0
    assert sdr(mix, mix) > 100
    assert sdr(mix, 0 * mix) == pytest.approx(0.0, abs=1e-6)
    assert sdr(mix, 0.5 * mix) == pytest.approx(6.02, abs=0.01)
