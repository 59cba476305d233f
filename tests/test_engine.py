import threading

import numpy as np
import pytest
import soundfile as sf

from amssfx import audio_io
from amssfx.engine import Engine, RenderParams, channel_groups, overlap_samples, solo
from amssfx.errors import Cancelled, MaskError, ModelContractError, NonFiniteAudioError

from conftest import make_identity_onnx, sine

CHUNK = 128 * 31  # identity graph: hop 128 x (32 - 1)


def db(err, ref):
    return 20 * np.log10(np.sqrt(np.mean(err ** 2)) / np.sqrt(np.mean(ref ** 2)) + 1e-30)


@pytest.fixture(scope="module")
def ident(identity_onnx):
    return Engine(identity_onnx)


@pytest.mark.parametrize("length", [1, 100, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 44100 * 65])
def test_identity_graph_reproduces_input(ident, length):
    x = (0.5 * np.random.default_rng(length).standard_normal((2, length))).astype(np.float32)
    y = ident.process_array(x, 44100, ident.params("mute vocals"))
    assert y.shape == x.shape
    if length > 100:
        assert db(y - x, x) < -90
    else:  # a few samples: compare absolute error
        assert np.abs(y - x).max() < 1e-4


@pytest.mark.parametrize("bs", [1, 64, 65, 4096, 8193])
def test_block_size_invariance(ident, tiny_model, bs):
    eng = Engine(tiny_model[1])
    x = (0.3 * np.random.default_rng(3).standard_normal((2, 20000))).astype(np.float32)
    p = eng.params("apply heavy lowpass to drums")
    whole = eng.process_array(x, 44100, p, block=x.shape[1])
    s = eng.stream(44100, 2, p)
    y = np.concatenate([s.process(x[:, i:i + bs]) for i in range(0, x.shape[1], bs)] + [s.flush()], 1)
    np.testing.assert_allclose(y, whole, atol=1e-6)


def test_mask_change_takes_effect_from_next_chunk(tiny_model):
    eng = Engine(tiny_model[1])
    chunk = eng.model.contract.chunk_samples
    x = (0.3 * np.random.default_rng(4).standard_normal((2, chunk * 6))).astype(np.float32)
    a = eng.params("separate drums")
    b = eng.params("separate drums", solo(eng.mask_shape, 0, 1))
    state = {"p": a}
    s = eng.stream(44100, 2, lambda: state["p"])
    out = [s.process(x[:, :chunk * 3])]
    state["p"] = b
    out += [s.process(x[:, chunk * 3:]), s.flush()]
    y = np.concatenate(out, 1)
    ya = eng.process_array(x, 44100, a)
    yb = eng.process_array(x, 44100, b)
    step = chunk - overlap_samples(chunk)
    n_first = len(range(0, chunk * 3 - chunk + 1, step))  # chunks run before the change
    first_new = n_first * step
    np.testing.assert_allclose(y[:, :first_new], ya[:, :first_new], atol=1e-6)
    end_old = first_new - step + chunk
    np.testing.assert_allclose(y[:, end_old:], yb[:, end_old:], atol=1e-6)
    assert np.abs(ya - yb).max() > 1e-3


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
@pytest.mark.parametrize("sr", [8000, 48000])
def test_channels_and_rates_preserved(ident, tmp_path, channels, sr):
    x = sine(1000, 0.7, sr, channels)
    src = tmp_path / "in.wav"
    sf.write(str(src), x.T, sr, subtype="FLOAT")
    rep = ident.process_file(src, tmp_path / "out.wav", ident.params("mute bass"))
    y, ysr = audio_io.read(tmp_path / "out.wav")
    assert ysr == sr and y.shape == x.shape and rep.frames == x.shape[1]
    # The identity model through resampling keeps pitch: compare away from the edges.
    mid = slice(sr // 10, -sr // 10)
    assert db(y[:, mid] - x[:, mid], x[:, mid]) < -40
    spec = np.abs(np.fft.rfft(y[0]))
    peak_hz = np.argmax(spec) * sr / y.shape[1]
    assert peak_hz == pytest.approx(1000, rel=1e-3)


def test_channel_groups():
    assert channel_groups(1) == [(0,)]
    assert channel_groups(2) == [(0, 1)]
    assert channel_groups(5) == [(0, 1), (2, 3), (4,)]


def test_input_not_modified(ident):
    x = (0.1 * np.ones((2, 5000))).astype(np.float32)
    before = x.copy()
    ident.process_array(x, 44100, ident.params("mute vocals"))
    np.testing.assert_array_equal(x, before)


def test_nonfinite_array_rejected(ident):
    x = np.zeros((2, 100), np.float32)
    x[0, 7] = np.nan
    with pytest.raises(NonFiniteAudioError, match="frame 7"):
        ident.process_array(x, 44100, ident.params("mute vocals"))


def test_mask_validation(ident):
    with pytest.raises(MaskError, match="out of range"):
        solo(ident.mask_shape, 5, 0)
    with pytest.raises(MaskError, match="mask shape"):
        RenderParams.make("mute vocals", ident.mask_shape, np.ones((3, 3)))


def test_model_contract_errors(tmp_path):
    with pytest.raises(ModelContractError, match="not found"):
        Engine(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelContractError, match="cannot be loaded"):
        Engine(bad)
    old = make_identity_onnx(tmp_path / "old.onnx", version=99)
    with pytest.raises(ModelContractError, match="version 99"):
        Engine(old)
    renamed = make_identity_onnx(tmp_path / "ren.onnx", name_override={"spec": "x"})
    with pytest.raises(ModelContractError, match="'spec' missing"):
        Engine(renamed)


def test_cancel_leaves_no_output(ident, tmp_path):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 5.0).T, 44100)
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        ident.process_file(src, tmp_path / "o.wav", ident.params("mute vocals"), cancel=ev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_two_engines_in_parallel_agree(tiny_model):
    x = (0.3 * np.random.default_rng(9).standard_normal((2, 30000))).astype(np.float32)
    engines = [Engine(tiny_model[1]) for _ in range(2)]
    outs = [None, None]

    def run(i):
        outs[i] = engines[i].process_array(x, 44100, engines[i].params("mute drums"))

    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    np.testing.assert_array_equal(outs[0], outs[1])
