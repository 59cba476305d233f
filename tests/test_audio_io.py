import os

import numpy as np
import pytest
import soundfile as sf

from amssfx import audio_io
from amssfx.errors import AudioReadError, AudioWriteError, NonFiniteAudioError


def write_raw(path, data, sr=44100, subtype="FLOAT"):
    sf.write(str(path), data.T, sr, subtype=subtype)
    return path


@pytest.mark.parametrize("ext,fmt,subtype", [("wav", "WAV", "FLOAT"), ("flac", "FLAC", "PCM_24"),
                                             ("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")])
def test_reads_common_formats_block_by_block(tmp_path, ext, fmt, subtype):
    x = np.clip(0.3 * np.random.default_rng(0).standard_normal((2, 30000)), -0.99, 0.99).astype(np.float32)
    p = tmp_path / f"a.{ext}"
    sf.write(str(p), x.T, 44100, format=fmt, subtype=subtype)
    r = audio_io.AudioReader(p)
    blocks = list(r.blocks(4096))
    assert all(b.shape[1] <= 4096 for b in blocks) and len(blocks) > 1
    y = np.concatenate(blocks, 1)
    assert y.shape[0] == 2 and abs(y.shape[1] - 30000) <= 2000  # lossy codecs pad frames
    if ext in ("wav", "flac"):
        np.testing.assert_allclose(y, x, atol=1e-6 if ext == "wav" else 1e-6 + 2 ** -23)


@pytest.mark.parametrize("content,needle", [
    (None, "file not found"),
    (b"", "empty (0 bytes)"),
    (os.urandom(4096), "not a readable audio file"),
    (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunk" * 3, "not a readable audio file"),
])
def test_bad_files_give_one_line_errors(tmp_path, content, needle):
    p = tmp_path / "bad.wav"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(AudioReadError) as e:
        audio_io.probe(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_zero_frame_file(tmp_path):
    p = write_raw(tmp_path / "z.wav", np.zeros((2, 0), np.float32))
    with pytest.raises(AudioReadError, match="no audio frames"):
        audio_io.probe(p)


def test_truncated_wav_is_reported_not_zero_filled(tmp_path):
    x = np.full((2, 10000), 0.25, np.float32)
    p = write_raw(tmp_path / "t.wav", x, subtype="PCM_16")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 8000])  # cut the tail: 2000 frames of 4 bytes
    r = audio_io.AudioReader(p)
    y = np.concatenate(list(r.blocks()), 1)
    assert y.shape[1] == 8000
    assert np.all(np.abs(y - 0.25) < 1e-3)  # nothing zero-filled
    assert any("truncated" in w for w in r.warnings)


def test_nonfinite_policy(tmp_path):
    x = np.zeros((2, 5000), np.float32)
    x[1, 1234] = np.nan
    x[0, 4000] = np.inf
    p = write_raw(tmp_path / "n.wav", x)
    with pytest.raises(NonFiniteAudioError, match="frame 1234 channel 1"):
        audio_io.read(p)
    y, _ = audio_io.read(p, nonfinite="repair")
    assert np.isfinite(y).all() and y[1, 1234] == 0
    r = audio_io.AudioReader(p, nonfinite="repair")
    list(r.blocks())
    assert any("frame 1234" in w for w in r.warnings)


@pytest.mark.parametrize("fmt,atol", [("wav16", 2 ** -15), ("wav24", 2 ** -23), ("wav32f", 0), ("flac16", 2 ** -15),
                                      ("flac24", 2 ** -23)])
def test_write_formats_round_trip(tmp_path, fmt, atol):
    x = (0.5 * np.sin(np.linspace(0, 100, 20000))[None].repeat(3, 0)).astype(np.float32)
    ext = "flac" if fmt.startswith("flac") else "wav"
    p = tmp_path / f"o.{ext}"
    audio_io.write(p, x, 48000, fmt)
    y, sr = audio_io.read(p)
    assert sr == 48000 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=atol + 1e-9)
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_integer_formats_clip_and_count(tmp_path):
    x = np.array([[0.5, 4.0, -4.0, 1.0]], np.float32)
    w = audio_io.write(tmp_path / "c.wav", x, 44100, "wav16")
    assert w.clipped == 2
    y, _ = audio_io.read(tmp_path / "c.wav")
    assert y[0, 1] > 0.99 and y[0, 2] < -0.99  # clipped, never wrapped
    w = audio_io.write(tmp_path / "f.wav", x, 44100, "wav32f")
    assert w.clipped == 0
    np.testing.assert_array_equal(audio_io.read(tmp_path / "f.wav")[0], x)


def test_writes_are_atomic_and_protect_the_input(tmp_path):
    src = write_raw(tmp_path / "in.wav", np.zeros((2, 100), np.float32))
    before = src.read_bytes()
    with pytest.raises(AudioWriteError, match="input"):
        audio_io.write(src, np.ones((2, 10), np.float32), 44100, protect=(src,), force=True)
    assert src.read_bytes() == before
    out = tmp_path / "out.wav"
    audio_io.write(out, np.zeros((2, 10), np.float32), 44100)
    with pytest.raises(AudioWriteError, match="--force"):
        audio_io.write(out, np.zeros((2, 10), np.float32), 44100)
    # A failure mid-write leaves neither a partial file nor a changed target.
    good = out.read_bytes()
    with pytest.raises(RuntimeError):
        with audio_io.AtomicWriter(out, 44100, 2, force=True) as w:
            w.write(np.zeros((2, 10), np.float32))
            raise RuntimeError("boom")
    assert out.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["in.wav", "out.wav"]


def test_nonfinite_never_reaches_a_file(tmp_path):
    with pytest.raises(AudioWriteError, match="NaN"):
        audio_io.write(tmp_path / "x.wav", np.array([[np.nan]], np.float32), 44100)
    assert os.listdir(tmp_path) == []
