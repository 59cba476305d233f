"""The multitrack renderer: deterministic four-stem songs, FluidR3_GM only for training."""
import json

import numpy as np
import pytest

from amssfx.lab.data.arrange import arrange
from amssfx.lab.data.render import (DEMO_SEED, SAMPLE_RATE, STEMS, render_bank, render_song, soundfont_path,
                                    song_seed)

pytestmark = pytest.mark.lab


def test_arrangement_is_deterministic_and_varied():
    a, b = arrange(5, 10.0), arrange(5, 10.0)
    assert a == b
    songs = [arrange(s, 10.0) for s in range(40)]
    assert len({s.style for s in songs}) >= 5 and len({round(s.tempo_bpm) for s in songs}) >= 30
    assert len({s.key_root for s in songs}) >= 8
    assert len({p.program for s in songs for p in s.parts["other"]}) >= 20
    assert any(s.phrases for s in songs) and any(s.parts["vocals"] for s in songs)
    assert {s.parts["bass"][0].pan_cc for s in songs} != {64}  # stereo placement varies


@pytest.fixture(scope="module")
def song():
    for seed in range(100):  # a song with both spoken phrases and a GM voice part
        s = arrange(seed, 4.0)
        if s.phrases and s.parts["vocals"]:
            return s
    raise AssertionError("no song with both kinds of voice in 100 seeds")


def test_render_song_four_stems(song):
    stems = render_song(song)
    assert sorted(stems) == sorted(STEMS)
    for name, x in stems.items():
        assert x.shape == (2, 4 * SAMPLE_RATE) and x.dtype == np.float32
        assert np.sqrt(np.mean(x ** 2)) > 1e-4, name  # every stem sounds
        assert np.abs(x).max() <= 1.0
    again = render_song(song)
    for name in STEMS:
        np.testing.assert_array_equal(stems[name], again[name])  # deterministic


def test_reserved_soundfonts_are_refused_for_training(monkeypatch):
    monkeypatch.setenv("AMSSFX_SOUNDFONT", "/usr/share/sounds/sf2/TimGM6mb.sf2")
    with pytest.raises(ValueError, match="reserved for evaluation"):
        soundfont_path()
    monkeypatch.setenv("AMSSFX_SOUNDFONT", "/somewhere/MuseScore_General.sf2")
    with pytest.raises(ValueError, match="reserved for evaluation"):
        soundfont_path()
    monkeypatch.delenv("AMSSFX_SOUNDFONT")
    assert soundfont_path().endswith("FluidR3_GM.sf2")


def test_render_bank_resumes(tmp_path):
    res = render_bank(tmp_path, minutes=0.1, seed=7, song_seconds=3.0, progress=False)
    assert res["songs"] == 2 and res["rendered_seconds"] == 6.0 and res["audio_seconds_per_second"] > 0
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["soundfont"] == "FluidR3_GM.sf2" and len(index["songs"]) == 2
    arr = np.load(tmp_path / index["songs"][0])
    assert arr.shape == (4, 2, 3 * SAMPLE_RATE)
    res = render_bank(tmp_path, minutes=0.1, seed=7, song_seconds=3.0, progress=False)
    assert res["rendered_seconds"] == 0.0  # already there


def test_render_bank_in_parallel_is_the_same_bank(tmp_path):
    import ctypes

    ctypes.CDLL(None).srand(123)  # FluidSynth's dither draws from rand(): the bank must not depend on it
    render_bank(tmp_path / "one", minutes=0.15, seed=9, song_seconds=3.0, progress=False)
    (tmp_path / "two").mkdir()
    first = json.loads((tmp_path / "one" / "index.json").read_text())["songs"]
    np.save(tmp_path / "two" / first[0], np.load(tmp_path / "one" / first[0]))  # one song already there
    res = render_bank(tmp_path / "two", minutes=0.15, seed=9, song_seconds=3.0, progress=False, jobs=2)
    assert res["rendered_seconds"] == 6.0  # the other two songs
    index = json.loads((tmp_path / "two" / "index.json").read_text())
    assert index["songs"] == first and len(first) == 3
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(first + ["index.json"])  # no temp files
    for name in first:
        np.testing.assert_array_equal(np.load(tmp_path / "one" / name), np.load(tmp_path / "two" / name))
    with pytest.raises(ValueError, match="jobs"):
        render_bank(tmp_path / "three", minutes=0.1, seed=9, jobs=0, progress=False)


def test_demo_seed_is_not_a_bank_seed():
    bank_seeds = {song_seed(s, i) for s in (1, 2, 3) for i in range(400)}
    assert DEMO_SEED not in bank_seeds


def test_cli_render_reports_speed(tmp_path):
    from conftest import run_lab

    r = run_lab("render", "--minutes", "0.05", "--out", tmp_path / "bank", "--seed", "11")
    assert r.returncode == 0, r.stderr
    assert "s of audio per second" in r.stdout
    r = run_lab("render", "--minutes", "0.05", "--out", tmp_path / "bank", "--seed", "11", "--jobs", "0")
    assert r.returncode == 2 and "--jobs" in r.stderr
