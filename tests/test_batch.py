"""Batch: inputs found and named, one job over many files on local workers and on a real Dask cluster,
resume, failures that stay alone, stops that leave nothing partial; Native Instruments stem files."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from amssfx import batch as bt
from amssfx.cli import main
from amssfx.errors import UsageValueError

from conftest import ROOT

MODEL = ROOT / "amssfx" / "assets" / "default.onnx"


def _songs(folder: Path, demo_path, layout: dict[str, float]) -> dict[str, Path]:
    """Slices of the demo song at the relative paths of `layout` (path -> seconds)."""
    audio, sr = sf.read(demo_path, dtype="float32")
    out = {}
    for k, (rel, secs) in enumerate(layout.items()):
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        start = (k * sr * 3) % max(len(audio) - int(secs * sr), 1)
        sf.write(p, audio[start:start + int(secs * sr)], sr)
        out[rel] = p
    return out


def _corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" * 8)
    return path


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name]


def test_inputs_mirror_the_tree_and_never_collide(tmp_path, demo_path):
    lib = tmp_path / "lib"
    _songs(lib, demo_path, {"a/song.wav": 1, "b/song.wav": 1, "a/song.flac": 1, "c/d/deep.wav": 1})
    (lib / "a" / "notes.txt").write_text("not audio")
    (lib / "a" / ".hidden.wav").write_bytes(b"")
    other = _songs(tmp_path / "elsewhere", demo_path, {"song.wav": 1})["song.wav"]
    out = lib / "out"  # inside the library: its files are never inputs
    _songs(out, demo_path, {"old.wav": 1})

    items = bt.find_inputs([str(lib), str(other), str(lib / "b" / "song.wav")], out)
    names = sorted(i.name for i in items)
    assert len(items) == 5  # the repeated file once; no txt, hidden or output files
    assert names[:3] == ["a/song_flac", "a/song_wav", "b/song"]
    assert "c/d/deep" in names
    assert len({n.lower() for n in names}) == len(names)
    # the two top-level "song" files (lib/b/song.wav given twice is one input) do not collide
    assert sum(n.startswith("song") for n in names) == 1

    globbed = bt.find_inputs([str(lib / "**" / "*.wav")], tmp_path / "o")
    assert {i.name for i in globbed} == {"a/song", "b/song", "c/d/deep", "out/old"}

    with pytest.raises(UsageValueError, match="no such file"):
        bt.find_inputs([str(tmp_path / "missing")], out)
    with pytest.raises(UsageValueError, match="no audio files"):
        bt.find_inputs([str(lib / "a" / "*.txt")], out)


def _process_reference(src: Path, query: str, tmp_path: Path) -> np.ndarray:
    ref = tmp_path / "ref" / (src.stem + "_" + src.parent.name + ".wav")
    ref.parent.mkdir(exist_ok=True)
    assert main(["process", str(src), "-q", query, "-o", str(ref), "--quiet", "--threads", "1"]) == 0
    return sf.read(ref, dtype="float32")[0]


def test_local_batch_matches_process_resumes_and_reports_a_bad_file(tmp_path, demo_path, capsys):
    songs = _songs(tmp_path / "in", demo_path, {"x/one.wav": 3, "y/one.wav": 2.5, "two.flac": 2})
    bad = _corrupt(tmp_path / "in" / "x" / "broken.wav")
    out = tmp_path / "out"
    q = "mute drums"

    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "-q", q, "--workers", "2"]) == 1
    text = capsys.readouterr()
    assert "broken.wav" in text.err and "x/broken" in text.out
    summary = json.loads((out / "batch-summary.json").read_text())
    status = {Path(f["input"]).name + "@" + Path(f["input"]).parent.name: f["status"] for f in summary["files"]}
    assert status == {"one.wav@x": "ok", "one.wav@y": "ok", "two.flac@in": "ok", "broken.wav@x": "failed"}
    assert summary["counts"] == {"ok": 3, "skipped": 0, "failed": 1, "cancelled": 0, "not run": 0}
    bad_row = next(f for f in summary["files"] if f["status"] == "failed")
    assert bad_row["reason"] and "\n" not in bad_row["reason"]

    for rel, name in (("x/one.wav", "x/one.wav"), ("y/one.wav", "y/one.wav"), ("two.flac", "two.wav")):
        got = sf.read(out / name, dtype="float32")[0]
        np.testing.assert_array_equal(got, _process_reference(songs[rel], q, tmp_path))
        assert (out / (name + ".amssfx.json")).exists()  # the same sidecar as `amssfx process` writes
    assert songs["x/one.wav"].exists() and bad.exists()  # inputs untouched
    assert not _leftovers(out)

    # A second run skips what is done; a changed input and a changed query are redone.
    mtime = (out / "y" / "one.wav").stat().st_mtime_ns
    _songs(tmp_path / "in", demo_path, {"x/one.wav": 2})
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "-q", q, "--workers", "2", "--quiet"]) == 1
    summary = json.loads((out / "batch-summary.json").read_text())
    status = {f["name"]: f["status"] for f in summary["files"]}
    assert status == {"x/one": "ok", "y/one": "skipped", "two": "skipped", "x/broken": "failed"}
    assert (out / "y" / "one.wav").stat().st_mtime_ns == mtime
    assert sf.info(out / "x" / "one.wav").frames == 2 * 44100

    bad.unlink()
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "-q", "mute bass", "--quiet"]) == 0
    summary = json.loads((out / "batch-summary.json").read_text())
    assert {f["status"] for f in summary["files"]} == {"ok"}


def test_a_file_done_earlier_in_the_same_run_is_ok_not_skipped(tmp_path, demo_path):
    """A cluster worker can finish a file and die before it reports; the scheduler then runs the file again.
    That second run finds the record of this run and reports the file done, not skipped by an earlier run."""
    from amssfx.hashing import file_sha256
    from amssfx.recipe import Recipe

    song = _songs(tmp_path / "in", demo_path, {"a.wav": 1})["a.wav"]
    item = bt.find_inputs([str(tmp_path / "in")], tmp_path / "out")[0]
    recipe = Recipe("", "mute drums", model_path=str(MODEL), model_sha256=file_sha256(MODEL))
    this_run = bt.Job("process", recipe, run_id="run-one")
    assert bt.run_item(this_run, item, str(tmp_path / "out"))["status"] == "ok"
    again = bt.run_item(this_run, item, str(tmp_path / "out"))
    assert again["status"] == "ok" and again["audio_seconds"] == pytest.approx(1.0)
    assert bt.run_item(bt.Job("process", recipe, run_id="run-two"), item, str(tmp_path / "out"))["status"] == "skipped"
    assert song.exists()


def test_batch_stems_and_recipe(tmp_path, demo_path, identity_onnx):
    _songs(tmp_path / "in", demo_path, {"a.wav": 1.5, "b.wav": 1})
    sess = tmp_path / "r.amssfx.json"
    assert main(["process", str(tmp_path / "in" / "a.wav"), "-q", "apply heavy lowpass to drums", "--model",
                 str(identity_onnx), "--fx", "gain:gain_db=-6", "-o", str(tmp_path / "first.wav"), "--quiet"]) == 0
    shutil.copy(tmp_path / "first.wav.amssfx.json", sess)
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--session", str(sess), "--quiet"]) == 0
    # the identity model with a -6 dB gain after it: the recipe's chain ran on every file
    src = sf.read(tmp_path / "in" / "b.wav", dtype="float32")[0]
    got = sf.read(out / "b.wav", dtype="float32")[0]
    np.testing.assert_allclose(got, src * 10 ** (-6 / 20), atol=1e-4)

    stems = tmp_path / "stems"
    assert main(["batch", str(tmp_path / "in"), "-o", str(stems), "--stems", "--model", str(identity_onnx),
                 "--format", "flac16", "--quiet"]) == 0
    assert sorted(p.name for p in (stems / "a").iterdir()) == ["a_bass.flac", "a_drums.flac", "a_other.flac",
                                                              "a_vocals.flac"]


def test_batch_regions_from_the_flags_or_the_session(tmp_path, demo_path, identity_onnx):
    """Regions edit only their time ranges of every file; a session's regions come with it; a change of
    regions is a new job (redone on resume)."""
    songs = _songs(tmp_path / "in", demo_path, {"a.wav": 2, "b.wav": 1.5})
    out = tmp_path / "out"
    flags = ["-q", "apply heavy lowpass to drums", "--model", str(identity_onnx), "--fx", "gain:gain_db=-6",
             "--quiet"]
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--region", "0.5-1.0"] + flags) == 0
    for name in ("a", "b"):
        src = sf.read(songs[f"{name}.wav"], dtype="float32")[0]
        got = sf.read(out / f"{name}.wav", dtype="float32")[0]
        np.testing.assert_array_equal(got[:22050], src[:22050])  # before the region: the input, exactly
        np.testing.assert_allclose(got[22050 + 441:44100 - 441], src[22050 + 441:44100 - 441] * 10 ** (-6 / 20),
                                   atol=1e-4)  # inside, past the 10 ms fades: the edit
        np.testing.assert_array_equal(got[44100:], src[44100:])
        assert json.loads((out / f"{name}.wav.amssfx.json").read_text())["regions"] == [[0.5, 1.0]]
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["job"]["regions"] == [[0.5, 1.0]]

    # the same batch with other regions redoes every file
    assert main(["batch", str(tmp_path / "in"), "-o", str(out), "--region", "0-0.5"] + flags) == 0
    assert json.loads((out / "batch-summary.json").read_text())["counts"]["ok"] == 2
    got = sf.read(out / "a.wav", dtype="float32")[0]
    src = sf.read(songs["a.wav"], dtype="float32")[0]
    np.testing.assert_array_equal(got[22050:], src[22050:])

    # a session's regions apply to every file of a batch that replays it
    sess = tmp_path / "r.amssfx.json"
    shutil.copy(out / "a.wav.amssfx.json", sess)
    again = tmp_path / "again"
    assert main(["batch", str(songs["b.wav"]), "-o", str(again), "--session", str(sess), "--quiet"]) == 0
    got = sf.read(again / "b.wav", dtype="float32")[0]
    src = sf.read(songs["b.wav"], dtype="float32")[0]
    np.testing.assert_array_equal(got[22050:], src[22050:])
    np.testing.assert_allclose(got[441:22050 - 441], src[441:22050 - 441] * 10 ** (-6 / 20), atol=1e-4)


def test_batch_usage_errors(tmp_path, demo_path):
    _songs(tmp_path / "in", demo_path, {"a.wav": 1})
    base = ["batch", str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    assert main(base) == 2  # no job
    assert main(base + ["-q", "mute drums", "--format", "stem.mp4"]) == 2
    assert main(base + ["--stems", "-q", "mute drums", "--format", "stem.mp4"]) == 2
    assert main(base + ["-q", "mute drums", "--workers", "0"]) == 2
    assert main(base + ["-q", "mute nothing"]) == 2
    assert main(base + ["--stems", "--region", "1-2"]) == 2  # regions limit a query's edit
    assert main(base + ["-q", "mute drums", "--region", "2-1"]) == 2
    assert main(["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "out"), "-q", "mute drums"]) == 2
    assert not (tmp_path / "out").exists()


def test_stop_leaves_no_partial_outputs(tmp_path, demo_path):
    """SIGTERM to a running batch: it stops within a block; what exists is whole and recorded."""
    _songs(tmp_path / "in", demo_path, {f"s{k}.wav": 25 for k in range(4)})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "amssfx.cli", "batch", str(tmp_path / "in"), "-o", str(out),
                             "-q", "mute vocals", "--workers", "2", "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not _leftovers(out):  # a worker is writing
        time.sleep(0.05)
    assert _leftovers(out), "no file was being written"
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert time.time() - t0 < 15
    assert "no partial output" in err
    assert not _leftovers(out)
    for wav in out.rglob("*.wav"):
        assert bt.record_path(out, bt.Item("", wav.stem)).exists()
        assert sf.info(wav).frames == 25 * 44100
    summary = json.loads((out / "batch-summary.json").read_text())
    assert summary["counts"]["ok"] < 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cluster_batch_survives_a_killed_worker(tmp_path, demo_path):
    """A real Dask scheduler and two workers as separate processes; one is killed mid-run."""
    pytest.importorskip("distributed", reason="the batch extra (Dask distributed) is installed by make test")
    dask = Path(sys.executable).with_name("dask")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=open(logs / "s.log", "w"), stderr=subprocess.STDOUT)]
    try:
        time.sleep(2)
        for k in range(2):
            procs.append(subprocess.Popen([str(dask), "worker", addr, "--nthreads", "1", "--no-nanny",
                                           "--no-dashboard"], stdout=open(logs / f"w{k}.log", "w"),
                                          stderr=subprocess.STDOUT, cwd=tmp_path))
        songs = _songs(tmp_path / "in", demo_path, {f"d{k % 3}/song{k}.wav": 8 for k in range(7)})
        _corrupt(tmp_path / "in" / "d1" / "broken.wav")
        out = tmp_path / "out"
        run = subprocess.Popen([sys.executable, "-m", "amssfx.cli", "batch", str(tmp_path / "in"), "-o", str(out),
                                "-q", "mute drums", "--cluster", addr], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 240
        while time.time() < deadline and not list((out / ".amssfx-batch").rglob("*.json")):
            time.sleep(0.1)
        procs[1].kill()  # a worker dies with files in hand
        killed_at = len(list((out / ".amssfx-batch").rglob("*.json")))
        stdout, stderr = run.communicate(timeout=300)
        assert run.returncode == 1, stderr  # the corrupt file fails; nothing else does
        assert killed_at < 7
        summary = json.loads((out / "batch-summary.json").read_text())
        status = {f["name"]: f["status"] for f in summary["files"]}
        assert status.pop("d1/broken") == "failed"
        assert set(status.values()) == {"ok"} and len(status) == 7, status
        for rel, src in songs.items():
            got = sf.read(out / rel, dtype="float32")[0]
            np.testing.assert_array_equal(got, _process_reference(src, "mute drums", tmp_path))
        assert not _leftovers(out)
    finally:
        for p in procs[::-1]:
            p.kill()
            p.wait()


def _ffprobe_streams(path: Path) -> list[dict]:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration,sample_rate",
                        "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["streams"]


def _decode(path: Path, track: int, tmp_path: Path) -> np.ndarray:
    dst = tmp_path / f"track{track}.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-map", f"0:a:{track}", "-c:a", "pcm_f32le",
                    str(dst)], check=True)
    return sf.read(dst, dtype="float32")[0]


def _snr(ref: np.ndarray, got: np.ndarray) -> float:
    n = min(len(ref), len(got))
    return float(10 * np.log10((ref[:n] ** 2).sum() / max(((ref[:n] - got[:n]) ** 2).sum(), 1e-20)))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is installed by make test (APT_TEST)")
def test_stem_mp4_reads_back_as_mix_and_four_stems(tmp_path, demo_path):
    from amssfx.export.stem_mp4 import read_stem_metadata

    src = _songs(tmp_path / "in", demo_path, {"song.wav": 6})["song.wav"]
    assert main(["stems", str(src), "-o", str(tmp_path / "dj"), "--format", "stem.mp4", "--quiet"]) == 0
    assert main(["stems", str(src), "-o", str(tmp_path / "wav"), "--format", "wav32f", "--quiet"]) == 0
    stem_file = tmp_path / "dj" / "song.stem.mp4"
    streams = _ffprobe_streams(stem_file)
    assert [s["codec_type"] for s in streams] == ["audio"] * 5
    assert all(s["codec_name"] == "aac" and s["sample_rate"] == "44100" for s in streams)
    assert all(abs(float(s["duration"]) - 6.0) < 0.03 for s in streams)
    meta = read_stem_metadata(stem_file)
    assert [s["name"] for s in meta["stems"]] == ["Drums", "Bass", "Other", "Vocals"]
    assert all(s["color"].startswith("#") and len(s["color"]) == 7 for s in meta["stems"])

    # Each track is its WAV stem (AAC at 256 kbit/s: above 20 dB SNR) and not another one.
    mix = sf.read(src, dtype="float32")[0]
    wavs = {n: sf.read(tmp_path / "wav" / f"song_{n}.wav", dtype="float32")[0]
            for n in ("drums", "bass", "other", "vocals")}
    assert _snr(mix, _decode(stem_file, 0, tmp_path)) > 20
    for k, name in enumerate(("drums", "bass", "other", "vocals"), start=1):
        track = _decode(stem_file, k, tmp_path)
        assert abs(len(track) - len(mix)) < 1024
        assert _snr(wavs[name], track) > 20, name
        others = [n for n in wavs if n != name]
        assert all(_snr(wavs[o], track) < 10 for o in others), name
    assert not _leftovers(tmp_path / "dj")

    # Refused: an existing file without --force, a rate AAC does not take, extra stems.
    assert main(["stems", str(src), "-o", str(tmp_path / "dj"), "--format", "stem.mp4", "--quiet"]) == 1
    odd = tmp_path / "odd.wav"
    sf.write(odd, mix[:30000], 30000)
    assert main(["stems", str(odd), "-o", str(tmp_path / "dj2"), "--format", "stem.mp4", "--quiet"]) == 1
    assert not list((tmp_path / "dj2").glob("*")) if (tmp_path / "dj2").exists() else True
    assert main(["stems", str(src), "-o", str(tmp_path / "dj3"), "--format", "stem.mp4", "--query",
                 "mute drums"]) == 2
