"""The CLI end to end: exit codes, one-line errors, outputs, sessions, stems."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from amssfx import audio_io
from conftest import ROOT, run_cli, run_lab, sine

BUNDLED = ROOT / "amssfx" / "assets" / "default.onnx"


def one_line_error(r, code, prog="amssfx"):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory):
    p = tmp_path_factory.mktemp("in") / "short.wav"
    sf.write(str(p), sine(300, 2.0).T, 44100, subtype="FLOAT")
    return p


@pytest.mark.parametrize("which", ["tiny", "bundled"])
def test_process_demo_end_to_end(tmp_path, demo_path, tiny_model, which):
    model = tiny_model[1] if which == "tiny" else BUNDLED
    out = tmp_path / "out.wav"
    r = run_cli("process", demo_path, "--query", "apply heavy lowpass to drums", "-o", out, "--model", model,
                "--solo", "0:1", "--gain", "1:0=0.5", "--fx", "reverb:room_size=0.5", "--quiet")
    assert r.returncode == 0, r.stderr
    y, sr = audio_io.read(out)
    x, _ = audio_io.read(demo_path)
    assert y.shape == x.shape and sr == 44100 and np.isfinite(y).all()
    side = json.loads((tmp_path / "out.wav.amssfx.json").read_text())
    assert side["query"] == "apply heavy lowpass to drums" and side["chain"][0]["type"] == "reverb"
    # The session reproduces the result bit for bit.
    r2 = run_cli("process", "--session", tmp_path / "out.wav.amssfx.json", "-o", tmp_path / "again.wav", "--quiet")
    assert r2.returncode == 0, r2.stderr
    np.testing.assert_array_equal(audio_io.read(tmp_path / "again.wav")[0], y)


def test_usage_errors_exit_2(short_wav, tmp_path):
    out = tmp_path / "o.wav"
    msg = one_line_error(run_cli("process", short_wav, "--query", "mute drumz", "-o", out), 2)
    assert "drumz" in msg and "did you mean 'drums'" in msg
    msg = one_line_error(run_cli("process", short_wav, "--query", "mute vocals", "-o", out, "--solo", "9:9"), 2)
    assert "out of range" in msg
    msg = one_line_error(run_cli("process", short_wav, "--query", "mute vocals", "-o", out, "--fx", "wobble:x=1"), 2)
    assert "unknown effect type 'wobble'" in msg
    msg = one_line_error(run_cli("process", short_wav, "--query", "mute vocals", "-o", out, "--fx",
                                 '{"name": "gain", "bypass": "false"}'), 2)
    assert "needs a 'type'" in msg and "'name'" in msg  # what is missing comes first, with what was given
    one_line_error(run_cli("process", short_wav, "--bogus"), 2)
    assert not out.exists()
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--mask-output"), 2, "amssfx-lab")
    assert "--init" in msg and not (tmp_path / "run").exists()
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--family-weights", "echo=2"), 2, "amssfx-lab")
    assert "echo" in msg
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--lr", "1e-4", "--lr-end", "1e-3"), 2, "amssfx-lab")
    assert "--lr-end" in msg and not (tmp_path / "run").exists()
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--eq-db", "-3"), 2, "amssfx-lab")
    assert "--eq-db" in msg and not (tmp_path / "run").exists()
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--coherent", "1.5"), 2, "amssfx-lab")
    assert "--coherent" in msg and not (tmp_path / "run").exists()
    msg = one_line_error(run_lab("train", "--run", tmp_path / "run", "--revive", "0.5"), 2, "amssfx-lab")
    assert "--revive" in msg and not (tmp_path / "run").exists()


@pytest.mark.parametrize("native", [True, False])
def test_train_bf16_only_where_native(tmp_path, monkeypatch, capsys, native):
    """--bf16 reaches training on a CPU with native bfloat16; elsewhere it is dropped with a warning."""
    import amssfx.lab.nn.train as train_mod
    from amssfx.lab import cli

    for bank in ("train", "valid"):  # present banks: nothing is rendered
        (tmp_path / bank).mkdir()
        np.save(tmp_path / bank / "song_0000.npy", np.zeros((4, 2, 8), np.float32))
    seen = {}
    monkeypatch.setattr(train_mod, "native_bf16", lambda: native)
    monkeypatch.setattr(train_mod, "train", lambda *a, **kw: seen.update(kw) or "trained")
    code = cli.main(["train", "--run", str(tmp_path / "run"), "--train-bank", str(tmp_path / "train"),
                     "--valid-bank", str(tmp_path / "valid"), "--bf16"])
    err = capsys.readouterr().err
    assert code == 0 and seen["bf16"] is native
    assert ("--bf16 ignored" in err) is (not native)


def test_runtime_errors_exit_1(short_wav, tmp_path):
    out = tmp_path / "o.wav"
    msg = one_line_error(run_cli("process", tmp_path / "missing.wav", "-q", "mute vocals", "-o", out), 1)
    assert "file not found" in msg
    msg = one_line_error(run_cli("process", short_wav, "-q", "mute vocals", "-o", out, "--model", tmp_path / "m.onnx"), 1)
    assert "not found" in msg
    msg = one_line_error(run_cli("process", short_wav, "-q", "mute vocals", "-o", short_wav, "--force"), 1)
    assert "input" in msg
    assert not out.exists()


def test_debug_shows_traceback(short_wav, tmp_path):
    r = run_cli("process", tmp_path / "missing.wav", "-q", "mute vocals", "-o", tmp_path / "o.wav", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_existing_output_needs_force(short_wav, tmp_path):
    out = tmp_path / "o.wav"
    out.write_bytes(b"keep me")
    msg = one_line_error(run_cli("process", short_wav, "-q", "mute vocals", "-o", out), 1)
    assert "--force" in msg and out.read_bytes() == b"keep me"


def test_lach_and_stems(short_wav, tmp_path, tiny_model):
    out = tmp_path / "lach.wav"
    r = run_cli("lach", short_wav, "--head", "1", "--lach", "0", "-o", out, "--model", tiny_model[1], "--quiet")
    assert r.returncode == 0, r.stderr
    assert audio_io.read(out)[0].shape == audio_io.read(short_wav)[0].shape
    d = tmp_path / "stems"
    r = run_cli("stems", short_wav, "-o", d, "--model", tiny_model[1], "--query", "apply heavy lowpass to drums",
                "--solo", "0:1", "--format", "flac24", "--quiet")
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in d.iterdir())
    assert names == sorted(f"short_{n}.flac" for n in ["vocals", "drums", "bass", "other", "lach_0_1",
                                                        "apply_heavy_lowpass_to_drums"])
    r = run_cli("stems", short_wav, "-o", d, "--model", tiny_model[1], "--format", "flac24", "--quiet")
    assert r.returncode == 1 and "--force" in r.stderr


def test_flops_command():
    r = run_lab("flops", "small")
    assert r.returncode == 0 and "GFLOP per second of audio" in r.stdout


@pytest.mark.slow
def test_bench_quick_runs_and_reports_every_figure():
    """The benchmark command works end to end (its figures are not asserted: it is not a timed test)."""
    r = run_cli("bench", "--quick", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("gflop_per_audio_second", "rtf_onnxruntime_1thread", "rtf_torch_eager_1thread",
                "onnxruntime_speedup_vs_torch", "rtf_engine_file", "rtf_cli_0.25min", "rss_growth_mb",
                "preview_underruns", "preview_change_latency_ms_median", "startup_seconds", "cpu",
                "batch_audio_min_per_min_1w", "mixer_4_stems_cost_ratio", f"batch_audio_min_per_min_{os.cpu_count()}w"):
        assert res[key] is not None, key
