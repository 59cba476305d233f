"""Bad inputs, faults and load: clear errors, nothing lost, the user's audio never changed silently."""
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from amssfx import audio_io
from amssfx.effects import EffectChain
from amssfx.engine import Engine
from amssfx.errors import SessionError
from amssfx.session import Session, load
from conftest import ROOT, run_cli, sine


def only_input_left(folder, *names):
    return sorted(p.name for p in folder.iterdir()) == sorted(names)


def err_line(r, code=1):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("amssfx: error:") and "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def model(identity_onnx):
    return identity_onnx


# 1. unreadable files
@pytest.mark.parametrize("name,content,needle", [
    ("missing.wav", None, "not found"),
    ("empty.wav", b"", "empty (0 bytes)"),
    ("random.wav", os.urandom(8192), "not a readable audio file"),
    ("text.flac", b"this is not audio\n" * 100, "not a readable audio file"),
    ("junk.wav", b"RIFF\xff\xff\x00\x00WAVEfmt " + os.urandom(200), "not a readable audio file"),
])
def test_unreadable_inputs(tmp_path, model, name, content, needle):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.wav"
    msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", model))
    assert needle in msg and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_zero_frame_file(tmp_path, model):
    src = tmp_path / "zero.wav"
    sf.write(str(src), np.zeros((0, 2), np.float32), 44100)
    msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--model", model))
    assert "no audio frames" in msg and not (tmp_path / "o.wav").exists()


# 2. truncated files
def test_truncated_wav_is_processed_to_its_real_end_with_a_warning(tmp_path, model):
    src = tmp_path / "t.wav"
    sf.write(str(src), sine(440, 1.0).T, 44100, subtype="PCM_16")
    data = src.read_bytes()
    src.write_bytes(data[:-40000])  # 10000 frames missing
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--model", model, "--quiet")
    assert r.returncode == 0 and "truncated" in r.stderr
    y, _ = audio_io.read(tmp_path / "o.wav")
    assert y.shape[1] == 44100 - 10000
    assert np.abs(y[:, -2000:]).max() > 0.1  # the real end is audio, not zero-fill


def test_truncated_flac_is_reported(tmp_path, model):
    src = tmp_path / "t.flac"
    sf.write(str(src), (0.5 * np.random.default_rng(0).standard_normal((88200, 2))).clip(-1, 1), 44100,
             subtype="PCM_16")
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--model", model, "--quiet")
    if r.returncode == 0:
        assert "truncated" in r.stderr
        y, _ = audio_io.read(tmp_path / "o.wav")
        assert y.shape[1] < 88200
    else:
        assert r.returncode == 1 and "amssfx: error:" in r.stderr and not (tmp_path / "o.wav").exists()


# 3. lengths
@pytest.mark.parametrize("frames", [1, 441, 3968, 3969, 65024, 65025])
def test_exact_lengths(tmp_path, model, tiny_model, frames):
    src = tmp_path / "in.wav"
    sf.write(str(src), (0.1 * np.ones((frames, 2))).astype(np.float32), 44100, subtype="FLOAT")
    for m in (model, tiny_model[1]):
        out = tmp_path / "o.wav"
        r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", m, "--force", "--quiet")
        assert r.returncode == 0, r.stderr
        assert sf.info(str(out)).frames == frames


# 4. sample rates: pitch, duration, rate preserved
def _peak_hz(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spec))
    a, b, c = np.log(spec[k - 1:k + 2] + 1e-12)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / len(x)


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 22050, 32000, 37800, 44056, 48000, 88200, 96000, 192000])
def test_sample_rates(tmp_path, model, sr):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(1000, 1.0, sr).T, sr, subtype="FLOAT")
    out = tmp_path / "o.wav"
    r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", model, "--quiet")
    assert r.returncode == 0, r.stderr
    y, ysr = audio_io.read(out)
    assert ysr == sr and y.shape == (2, sr)
    assert _peak_hz(y[0, sr // 10:-sr // 10], sr) == pytest.approx(1000, rel=1e-3)


# 5. channels
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 6, 7, 8])
def test_channel_counts(tmp_path, model, channels):
    src = tmp_path / "in.wav"
    x = sine(500, 0.5, 44100, channels)
    x *= np.linspace(0.2, 1.0, channels)[:, None]  # every channel different
    sf.write(str(src), x.T, 44100, subtype="FLOAT")
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--model", model, "--quiet")
    assert r.returncode == 0, r.stderr
    y, _ = audio_io.read(tmp_path / "o.wav")
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:, 4410:-4410], x[:, 4410:-4410], atol=1e-4)  # identity model: unchanged


# 6. NaN / Inf
def test_nonfinite_input(tmp_path, model):
    x = sine(300, 1.0)
    x[0, 22050] = np.nan
    x[1, 100] = np.inf
    src = tmp_path / "n.wav"
    sf.write(str(src), x.T, 44100, subtype="FLOAT")
    out = tmp_path / "o.wav"
    msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", model))
    assert "NaN/Inf" in msg and "frame 100 channel 1" in msg and not out.exists()
    r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", model, "--repair-nonfinite", "--quiet")
    assert r.returncode == 0 and "replaced 2 NaN/Inf samples" in r.stderr
    y, _ = audio_io.read(out)
    assert np.isfinite(y).all()


class _NanBoard(list):
    """Stands in for a plugin chain that produces NaN on its second block."""

    def __init__(self):
        super().__init__([object()])
        self.calls = 0
        self.resets = 0

    def __call__(self, x, sr, reset=False):
        self.calls += 1
        return np.full_like(x, np.nan) if self.calls == 2 else x * 0.5

    def reset(self):
        self.resets += 1


def test_nan_inside_the_chain_is_silenced_and_reported():
    chain = EffectChain([{"type": "gain", "gain_db": 0.0}], 44100)
    chain.board = _NanBoard()
    blocks = [chain.process(np.ones((2, 1000), np.float32)) for _ in range(3)]
    assert np.all(blocks[0] == 0.5) and np.all(blocks[1] == 0) and np.all(blocks[2] == 0.5)
    assert chain.board.resets == 1 and "0.023 s" in chain.warnings[0]


# 7. silence
def test_silence_in_silence_out(tmp_path):
    eng = Engine()  # the bundled model
    x = np.zeros((2, 100000), np.float32)
    y = eng.process_array(x, 44100, eng.params("increase the volume of drums"))
    assert np.all(y == 0)
    quiet = (1e-7 * np.random.default_rng(0).standard_normal((2, 100000))).astype(np.float32)
    y = eng.process_array(quiet, 44100, eng.params("increase the volume of drums"))
    tiny = np.abs(y[y != 0])
    assert tiny.size == 0 or tiny.min() >= np.finfo(np.float32).tiny  # no subnormals
    assert np.sqrt(np.mean(y ** 2)) < 1e-5  # quiet stays quiet


# 8. hot input and gain
def test_hot_input_float_kept_integer_clipped_and_counted(tmp_path, model):
    src = tmp_path / "hot.wav"
    sf.write(str(src), (4.0 * sine(200, 0.5)).T, 44100, subtype="FLOAT")
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "f.wav", "--model", model, "--fx",
                "gain:gain_db=24", "--quiet")
    assert r.returncode == 0
    y, _ = audio_io.read(tmp_path / "f.wav")
    assert np.abs(y).max() > 20  # kept as is in float
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "i.wav", "--model", model, "--fx",
                "gain:gain_db=24", "--format", "wav16", "--quiet")
    assert r.returncode == 0 and "clipped" in r.stderr
    y, _ = audio_io.read(tmp_path / "i.wav")
    assert np.abs(y).max() <= 1.0 and np.sign(y[0, 25]) == np.sign(np.sin(2 * np.pi * 200 * 25 / 44100))


# 9. query, mask, fx and session errors
@pytest.mark.parametrize("args,needle", [
    (["-q", ""], "empty query"),
    (["-q", "mute vocalz"], "'vocalz'"),
    (["-q", "mute other"], "'other' cannot be a target"),
    (["-q", "mute vocals", "--solo", "7:0"], "out of range"),
    (["-q", "mute vocals", "--gain", "0:0=abc"], "gain must be a number"),
    (["-q", "mute vocals", "--solo", "x"], "HEAD:LACH"),
    (["-q", "mute vocals", "--fx", "reverb:room_size"], "expected name=value"),
    (["-q", "mute vocals", "--fx", "reverb:loudness=3"], "no parameter 'loudness'"),
    (["-q", "mute vocals", "--fx", "{bad json"], "malformed"),
    (["-q", "mute vocals", "--fx", "vst3:/nope/x.vst3"], "not found"),
])
def test_usage_errors_name_the_problem(tmp_path, model, args, needle):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    r = run_cli("process", src, *args, "-o", tmp_path / "o.wav", "--model", model)
    assert r.returncode in (1, 2)
    assert needle in err_line(r, r.returncode)
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("doc,needle", [
    ("not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"schema": "amssfx.session", "version": 7, "input": "a", "query": "mute vocals"}', "version 7"),
    ('{"schema": "amssfx.session", "version": 1, "query": "mute vocals"}', "'input' is missing"),
    ('{"schema": "amssfx.session", "version": 1, "input": 3, "query": "mute vocals"}', "wrong type"),
    ('{"schema": "amssfx.session", "version": 1, "input": "a", "query": "mute x"}', "unknown word 'x'"),
    ('{"schema": "amssfx.session", "version": 1, "input": "a", "query": "mute vocals", "evil": 1}', "unknown session"),
    ('{"schema": "amssfx.session", "version": 1, "input": "a", "query": "mute vocals", "mask": [[1], [1, 2]]}',
     "rectangular"),
    ('{"schema": "amssfx.session", "version": 1, "input": "a", "query": "mute vocals", "model_sha256": "zz"}',
     "64 lower-case hex"),
])
def test_malformed_sessions(tmp_path, doc, needle):
    p = tmp_path / "s.json"
    p.write_text(doc)
    with pytest.raises(SessionError, match=needle.replace("[", r"\[")):
        load(p)


# 10. model faults
def test_model_faults_via_cli(tmp_path, model):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(os.urandom(1000))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    from conftest import make_identity_onnx

    wrong = make_identity_onnx(tmp_path / "v2.onnx", version=2)
    for m, needle in ((bad, "cannot be loaded"), (empty, "empty"), (wrong, "contract version 2")):
        msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--model", m))
        assert needle in msg
    assert not (tmp_path / "o.wav").exists()


def test_session_model_sha_mismatch(tmp_path, model, tiny_model):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    Session(str(src), "mute vocals", model_path=str(tiny_model[1]), model_sha256="0" * 64).save(tmp_path / "s.json")
    msg = err_line(run_cli("process", "--session", tmp_path / "s.json", "-o", tmp_path / "o.wav"))
    assert "sha256" in msg and not (tmp_path / "o.wav").exists()


# 11. output faults
def test_read_only_folder(tmp_path, model):
    if os.geteuid() == 0:
        # root ignores directory permissions; a path under a file is a folder that cannot be written
        target = tmp_path / "afile" / "o.wav"
        (tmp_path / "afile").write_text("x")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "o.wav"
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    before = src.read_bytes()
    msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", target, "--model", model))
    assert str(target.parent) in msg and src.read_bytes() == before


def test_disk_full_leaves_nothing(tmp_path, model, monkeypatch):
    """An injected ENOSPC in the middle of the write: no partial file, the input untouched."""
    import errno

    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 5.0).T, 44100)
    before = src.read_bytes()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    real_write = sf.SoundFile.write
    calls = {"n": 0}

    def failing(self, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", failing)
    eng = Engine(model)
    from amssfx.errors import AudioWriteError

    with pytest.raises(AudioWriteError, match="No space left on device"):
        eng.process_file(src, out_dir / "o.wav", eng.params("mute vocals"))
    assert list(out_dir.iterdir()) == [] and src.read_bytes() == before


@pytest.mark.skipif(not os.path.exists("/bin/mount") or os.geteuid() != 0, reason="needs root to mount a tmpfs")
def test_disk_full_on_a_real_small_tmpfs(tmp_path, model):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"tmpfs mount not permitted here: {r.stderr.decode().strip()}")
    try:
        src = tmp_path / "in.wav"
        sf.write(str(src), sine(200, 5.0).T, 44100)
        msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", mnt / "o.wav", "--model", model))
        assert "no space left" in msg.lower()
        assert os.listdir(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)])


def test_output_equal_to_input_and_existing_files(tmp_path, model):
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    before = src.read_bytes()
    link = tmp_path / "link.wav"
    link.symlink_to(src)
    for out in (src, link):
        msg = err_line(run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", model, "--force"))
        assert "input" in msg
    assert src.read_bytes() == before


# 15. state: sessions reproduce bit for bit; cancel and restart in a loop
def test_cancel_and_restart_loop(tmp_path, tiny_model):
    from amssfx.errors import Cancelled

    src = tmp_path / "in.wav"
    sf.write(str(src), sine(300, 3.0).T, 44100)
    eng = Engine(tiny_model[1])
    p = eng.params("mute drums")
    ref = eng.process_array(audio_io.read(src)[0], 44100, p)
    for i in range(5):
        ev = threading.Event()
        with pytest.raises(Cancelled):
            eng.process_file(src, tmp_path / "o.wav", p, cancel=ev, force=True,
                             progress=lambda d, t: ev.set() if d > 0 else None)
        if i == 0:
            assert not (tmp_path / "o.wav").exists()
        else:  # a cancelled re-run leaves the previous result as it was
            np.testing.assert_array_equal(audio_io.read(tmp_path / "o.wav")[0], ref)
        eng.process_file(src, tmp_path / "o.wav", p, force=True)
        np.testing.assert_array_equal(audio_io.read(tmp_path / "o.wav")[0], ref)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in.wav", "o.wav"]


# 16. security
def test_checkpoints_load_with_weights_only(tmp_path):
    import torch

    from amssfx.errors import ModelContractError
    from amssfx.lab.nn import checkpoint
    from amssfx.lab.nn.config import TINY
    from amssfx.lab.nn.model import AMSSNet

    p = checkpoint.save(AMSSNet(TINY), tmp_path / "m.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"x": Evil()}, p)
    with pytest.raises(ModelContractError):
        checkpoint.load(p)
    assert not (tmp_path / "pwned").exists()


def test_stem_names_are_sanitised(tmp_path, tiny_model):
    from amssfx.stems import sanitize

    assert sanitize("../../etc/passwd") == "etc_passwd"
    assert "/" not in sanitize("a/b\\c") and sanitize("") == "stem"
    src = tmp_path / "..evil name;rm -rf.wav"
    sf.write(str(src), sine(200, 0.2).T, 44100)
    d = tmp_path / "stems"
    r = run_cli("stems", src, "-o", d, "--model", tiny_model[1], "--no-defaults", "--query", "mute vocals", "--quiet")
    assert r.returncode == 0, r.stderr
    names = [p.name for p in d.iterdir()]
    assert names == ["evil_name_rm_-rf_mute_vocals.wav"]


def test_no_shell_with_user_strings():
    import ast

    for path in (ROOT / "amssfx").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "shell":
                assert not (isinstance(node.value, ast.Constant) and node.value.value is True), path
            if isinstance(node, ast.Attribute) and node.attr in ("system", "popen") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                raise AssertionError(f"os.{node.attr} in {path}")


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_ctrl_c_leaves_no_partial_file(tmp_path, tiny_model, signame):
    """Ctrl-C, SIGTERM (a logout, a service stop) and SIGHUP all stop an export cleanly."""
    import re
    import signal

    seconds = 240
    src = tmp_path / "in.wav"
    sf.write(str(src), sine(300, seconds).T, 44100)
    out = tmp_path / "stems"
    # The child gets the default Ctrl-C handling whatever the test run inherited: a shell starts a
    # background job (`cmd &`) with SIGINT ignored, and Python then installs no KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "amssfx.cli", "stems", str(src), "-o", str(out), "--model",
                             str(tiny_model[1])], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # The signal goes out when the progress line shows the run between its first finished stem (of four) and
    # its end, so it always lands mid-export, however fast the machine is.
    err_parts, mid_run = [], threading.Event()

    def read_stderr():
        for ch in iter(lambda: proc.stderr.read(1), ""):
            err_parts.append(ch)
            pcts = re.findall(r"stems\s+([\d.]+)%", "".join(err_parts[-64:]))
            if pcts and 30.0 <= float(pcts[-1]) <= 80.0:
                mid_run.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert mid_run.wait(120), "".join(err_parts)
    proc.send_signal(getattr(signal, signame))
    proc.wait(timeout=30)
    reader.join(10)
    err = "".join(err_parts)
    assert proc.returncode == 128 + getattr(signal, signame) and f"interrupted ({signame})" in err, err
    assert [p.name for p in out.iterdir() if ".part" in p.name or p.name.startswith(".")] == []
    finished = list(out.iterdir())
    assert 1 <= len(finished) < 4  # the first stem was done, the last was not
    for p in finished:  # whatever finished before Ctrl-C is complete
        assert sf.info(str(p)).frames == seconds * 44100
