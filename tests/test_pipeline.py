"""The preview's render pipeline, without a device: a loop is read round without a break (one stream, no
restart at the wrap), every output frame knows its source frame, and regions blend on both sides of the
wrap."""
import numpy as np
import pytest
import soundfile as sf

from amssfx.audio_io import AudioReader
from amssfx.engine import Engine
from amssfx.pipeline import Pipeline, Snapshot, wrap
from amssfx.regions import Regions


@pytest.fixture(scope="module")
def ident(identity_onnx):
    return Engine(identity_onnx)


@pytest.fixture()
def song(tmp_path):
    x = (0.3 * np.random.default_rng(7).standard_normal((3 * 44100, 2))).astype(np.float32)
    path = tmp_path / "song.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    return path, x.T


def _render(ident, path, snap, start, frames, block=4096):
    p = Pipeline(ident, AudioReader(path), snap, start, 44100, 2, block)
    ys, srcs, starts, meters = [], [], [], []
    while sum(y.shape[1] for y in ys) < frames:
        y, _, s = p.next_block(meters)
        starts.append(s)
        ys.append(y)
        srcs.append(p.source_frames(s, y.shape[1]))
    return p, np.concatenate(ys, 1)[:, :frames], np.concatenate(srcs)[:frames], starts


def test_wrap_maps_positions_past_the_loop_end_back_into_it():
    loop = (100, 150)
    assert wrap(99, loop) == 99 and wrap(149, loop) == 149 and wrap(150, loop) == 100 and wrap(260, loop) == 110
    np.testing.assert_array_equal(wrap(np.array([0, 149, 150, 199, 200]), loop), [0, 149, 100, 149, 100])
    assert wrap(1000, None) == 1000


@pytest.mark.parametrize("loop,start,block", [((11025, 33075), 30000, 4096), ((44100, 44100 + 3000), 44100, 1024),
                                              ((0, 3 * 44100), 2 * 44100, 65536)])
def test_a_loop_plays_round_without_a_break(ident, song, loop, start, block):
    """Three seconds of output from inside a loop (one much shorter than a block among them): the input
    looped, sample for sample to the identity model's precision, with the source frame of every frame."""
    path, x = song
    p, y, src, _ = _render(ident, path, Snapshot(ident.params("mute vocals"), loop=loop), start, 3 * 44100, block)
    want_src = wrap(np.arange(start, start + 3 * 44100), loop)
    np.testing.assert_array_equal(src, want_src)
    assert np.abs(y - x[:, want_src]).max() < 1e-4
    assert not p.done  # a looped render never ends


def test_a_pipeline_started_past_the_loop_starts_at_the_loop(ident, song):
    path, x = song
    p, y, src, starts = _render(ident, path, Snapshot(ident.params("mute vocals"), loop=(1000, 9000)), 50000, 20000)
    assert starts[0] == 1000 and src[0] == 1000 and src.max() < 9000


def test_regions_blend_on_both_sides_of_the_wrap(ident, song):
    """A loop of the first second with regions at its start and its end, rendered across the wrap:
    inside a region the edit (6 dB down), outside it the input, with the regions' fades."""
    path, x = song
    loop = (0, 44100)
    regions = Regions.make([(0.0, 0.25), (0.75, 1.0)])
    chain = ({"type": "gain", "gain_db": -6.0},)
    snap = Snapshot(ident.params("mute vocals"), chain=chain, loop=loop, regions=regions)
    _, y, src, _ = _render(ident, path, snap, 30000, 2 * 44100)
    _, y_all, _, _ = _render(ident, path, Snapshot(ident.params("mute vocals"), chain=chain, loop=loop), 30000,
                             2 * 44100)
    assert np.abs(y_all - 10 ** (-6 / 20) * x[:, src]).max() < 1e-4
    w = regions.weights(0, 44100, 44100)[src]
    assert (w == 0).any() and (w == 1).any() and src[0] > 30000 - 1 and (np.diff(src) < 0).sum() == 2
    np.testing.assert_allclose(y, x[:, src] * (1 - w) + y_all * w, atol=1e-5)
