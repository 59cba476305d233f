"""The preview's ring buffer: reads and writes across the wrap, and the crossfade of a switch."""
import numpy as np

from amssfx.ring import RingBuffer


def _frames(n, seed):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 2)).astype(np.float32)


def test_writes_and_reads_across_the_wrap_keep_the_audio_and_its_source_frames():
    ring = RingBuffer(2, 1000)
    a, b = _frames(700, 0), _frames(600, 1)
    ring.write(a, np.arange(700))
    out = np.zeros((500, 2), np.float32)
    assert ring.read_into(out) == 500
    np.testing.assert_array_equal(out, a[:500])
    ring.write(b, np.arange(700, 1300))  # wraps: 200 frames at the end, 400 at the start
    assert ring.space() == 1000 - 800
    out = np.zeros((900, 2), np.float32)
    assert ring.read_into(out) == 800
    np.testing.assert_array_equal(out[:800], np.concatenate([a[500:], b]))


def test_a_crossfade_over_the_same_audio_leaves_it_bit_for_bit():
    """A change that leaves a stretch as it was (e.g. the unedited input) must not alter it at all."""
    ring = RingBuffer(2, 4096)
    a = _frames(3000, 2)
    ring.write(a, np.arange(3000))
    out = ring.crossfade(a[1000:2500].copy(), at=1000, length=1024)
    np.testing.assert_array_equal(out, a[1000:2500])


def test_a_crossfade_moves_from_the_queued_audio_to_the_new_audio():
    ring = RingBuffer(1, 4096)
    ring.write(np.ones((2000, 1), np.float32), np.arange(2000))
    new = np.zeros((1500, 1), np.float32)
    out = ring.crossfade(new, at=1000, length=1000)[:, 0]
    assert out[0] > 0.99 and out[999] < 0.01 and np.all(np.diff(out[:1000]) < 0)
    np.testing.assert_array_equal(out[1000:], 0)  # past the fade: the new audio as it is
    # Only as much as is queued is faded: 1000 frames are queued past `at`=1000, none past 2000.
    np.testing.assert_array_equal(ring.crossfade(new, at=2000, length=1000), new)
