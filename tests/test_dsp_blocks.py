"""STFT, resampling and overlap-add: round trips and block-size invariance."""
import numpy as np
import pytest
import torch
from scipy import signal

from amssfx import stft
from amssfx.chunking import OverlapAdd, plan
from amssfx.lab.nn.spec import istft as t_istft
from amssfx.lab.nn.spec import stft as t_stft
from amssfx.resample import StreamResampler, ratio

BLOCKS = [1, 64, 65, 4096, 8193]


def test_stft_round_trip_and_torch_match():
    x = np.random.default_rng(0).standard_normal((2, 65024)).astype(np.float32)
    s = stft.stft(x, 2048, 512)
    assert s.shape == (4, 128, 1025)
    np.testing.assert_allclose(stft.istft(s, 2048, 512, x.shape[1]), x, atol=1e-5)
    ts = t_stft(torch.from_numpy(x)[None], 2048, 512)[0].numpy()
    np.testing.assert_allclose(s, ts, atol=1e-3 * np.abs(ts).max() * 1e-2)
    back = t_istft(torch.from_numpy(s)[None], 2048, 512, x.shape[1])[0].numpy()
    np.testing.assert_allclose(back, x, atol=1e-5)


@pytest.mark.parametrize("src,dst", [(48000, 44100), (44100, 96000), (8000, 44100), (192000, 44100), (22050, 44100)])
def test_stream_resampler_equals_whole_signal(src, dst):
    x = np.random.default_rng(1).standard_normal((2, 20011)).astype(np.float32)
    ref = signal.resample_poly(x, *ratio(src, dst), axis=-1)
    for bs in BLOCKS[1:]:
        r = StreamResampler(src, dst, 2)
        y = np.concatenate([r.process(x[:, i:i + bs]) for i in range(0, x.shape[1], bs)] + [r.flush()], 1)
        assert y.shape == ref.shape
        np.testing.assert_allclose(y, ref, atol=1e-5)


def test_planner_covers_everything():
    for total in [1, 999, 1000, 1001, 5000, 12345]:
        starts = plan(total, 1000, 250)
        assert starts[0] == 0 and starts[-1] + 1000 >= total
        assert all(b - a == 750 for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("total", [1, 100, 999, 1000, 1001, 2999, 10007])
def test_overlap_add_identity_any_blocks(total):
    x = np.random.default_rng(total).standard_normal((2, total)).astype(np.float32)
    for bs in BLOCKS:
        oa = OverlapAdd(lambda a, i: a.copy(), 2, 1000, 250)
        y = np.concatenate([oa.process(x[:, i:i + bs]) for i in range(0, total, bs)] + [oa.flush()], 1)
        assert y.shape == x.shape
        np.testing.assert_allclose(y, x, atol=1e-6)


def test_overlap_add_sees_real_context():
    seen = []

    def fn(a, i):
        seen.append(a.copy())
        return a

    x = np.arange(1, 2501, dtype=np.float32)[None]
    oa = OverlapAdd(fn, 1, 1000, 250)
    oa.process(x)
    oa.flush()
    assert seen[1][0, 0] == 751  # the second chunk starts with real audio, not padding
    assert seen[-1][0, -1] == 0  # only past the end is zero
