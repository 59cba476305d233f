"""Preview end to end on a real JACK server (dummy driver), and the app under Xvfb."""
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.jack, pytest.mark.slow]


def _start_jack(prefix: str, output=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """A JACK server on the dummy driver (real-time pace, no sound card), named `prefix-K` for the
    first K in 0..2 whose name is free; returns the server and its name.

    JACK keeps a registry of at most 8 servers in shared memory, and a server that is killed (as one
    test does on purpose, or a killed test run) leaves its entry behind. An entry is reclaimed only
    by a new server of the same name, so the tests use a few fixed names, never a new name per run:
    a name of a dead server is reused, a name of a live one (a test run beside this one) is not."""
    exe = shutil.which("jackd")
    assert exe, "jackd is installed by `make` (Debian jackd2)"
    env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
    said = ""
    for k in range(3):
        name = f"{prefix}-{k}"
        proc = subprocess.Popen([exe, "-n", name, "--no-realtime", "-d", "dummy", "-r", "44100", "-p", "1024"],
                                stdout=output, stderr=subprocess.STDOUT, env=env)
        time.sleep(1.5)
        if proc.poll() is None:
            return proc, name
        said = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    raise AssertionError(f"no JACK server could start under {prefix}-0..2: {said}")


@pytest.fixture(scope="module")
def jack():
    # Clients started by the tests find the server through JACK_DEFAULT_SERVER.
    proc, name = _start_jack("amssfx-test", subprocess.PIPE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JACK_DEFAULT_SERVER", name)
        yield proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def test_jack_preview_30s_with_mask_changes(jack, tiny_model, demo_path):
    """30 s of playback, a mask change every 2 s: no underruns; every change is heard."""
    code = f"""
import time, json, numpy as np
from amssfx.engine import Engine, solo
from amssfx.playback import interpreter_tuned
from amssfx.player import Player, SoundDeviceOutput
interpreter_tuned().__enter__()  # as the app runs
eng = Engine({str(tiny_model[1])!r}, preview=True)
dev = SoundDeviceOutput(None, 2)
p = Player(eng, {str(demo_path)!r}, eng.params("separate drums"), device=dev)
p.start()
for k in range(14):
    time.sleep(2.0)
    h, l = divmod(k, eng.mask_shape[1])
    p.update(params=eng.params("separate drums", solo(eng.mask_shape, h % eng.mask_shape[0], l)))
    assert p.device_error() is None, p.device_error()
time.sleep(1.5)
p.stop()
print(json.dumps({{"underruns": p.stats.underruns, "played": p.stats.seconds_played,
                  "latencies": p.stats.change_latencies_s, "rate": dev.sample_rate}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["underruns"] == 0
    assert res["played"] >= 29.0
    assert len(res["latencies"]) == 14 and max(res["latencies"]) < 1.0


def test_jack_seeks_and_query_changes_for_60s(jack, demo_path):
    """The app's model on a real JACK server: a seek every 2 s and a query change every 3 s for 60 s,
    with the loop on: no underruns, and the playhead runs back only on a seek or at the loop's end."""
    code = f"""
import time, json, numpy as np
from amssfx.engine import Engine
from amssfx.playback import interpreter_tuned
from amssfx.player import Player, SoundDeviceOutput
interpreter_tuned().__enter__()  # as the app runs
eng = Engine(None, preview=True)
p = Player(eng, {str(demo_path)!r}, eng.params("separate drums"), device=SoundDeviceOutput(None, 2))
p.update(loop=(0, p.info.frames))
p.start()
queries = ["mute vocals", "apply heavy lowpass to drums", "separate bass", "pan vocals to the left side"]
rng = np.random.default_rng(2)
ticks, seeks = [], {{}}
t0 = time.perf_counter(); next_seek, next_change, k = 2.0, 3.0, 0
while (now := time.perf_counter() - t0) < 60:
    if now >= next_seek:
        target = int(rng.integers(0, p.info.frames - 44100))
        p.seek(target); seeks[len(ticks)] = target; next_seek += 2.0
    if now >= next_change:
        k += 1; p.update(params=eng.params(queries[k % 4])); next_change += 3.0
    assert p.device_error() is None, p.device_error()
    ticks.append(p.position_frames()); time.sleep(0.033)
p.stop()
print(json.dumps({{"underruns": p.stats.underruns, "ticks": ticks, "seeks": seeks, "frames": p.info.frames}}))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    import json
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["underruns"] == 0, res["underruns"]
    ticks, seeks = res["ticks"], {int(k): v for k, v in res["seeks"].items()}
    assert len(seeks) >= 29
    for i in range(1, len(ticks)):
        if i in seeks:
            assert ticks[i] == seeks[i]
        elif ticks[i] < ticks[i - 1]:  # only the loop's wrap from the end back to the start
            assert ticks[i - 1] > res["frames"] - 0.5 * 44100 and ticks[i] < 0.5 * 44100, (i, ticks[i - 1], ticks[i])


def test_cli_play_reports_underruns(jack, tiny_model, demo_path):
    from conftest import run_cli

    r = run_cli("play", demo_path, "--query", "mute vocals", "--duration", "3", "--model", tiny_model[1])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "underruns: 0"


def test_cli_play_starts_where_asked_and_shows_the_position(jack, tiny_model, demo_path):
    import re

    from conftest import run_cli

    r = run_cli("play", demo_path, "--query", "mute vocals", "--duration", "3", "--start", "20", "--region", "21-22",
                "--model", tiny_model[1])
    assert r.returncode == 0, r.stderr
    shown = [60 * int(m) + float(s) for m, s in re.findall(r"(\d+):(\d\d\.\d) / 0:30\.0", r.stderr)]
    assert len(shown) >= 5, r.stderr
    assert 20.0 <= shown[0] < 21.0 and 21.5 < shown[-1] <= 23.5, shown
    assert all(b >= a for a, b in zip(shown, shown[1:]))
    assert run_cli("play", demo_path, "--query", "mute vocals", "--start", "31", "--model", tiny_model[1]).returncode == 2


def test_cli_play_without_device_is_a_clean_error(tiny_model, demo_path):
    from conftest import run_cli

    r = run_cli("play", demo_path, "--query", "mute vocals", "--duration", "1", "--model", tiny_model[1],
                "--device", "no-such-device-xyz")
    assert r.returncode == 1 and r.stderr.startswith("amssfx: error:") and "Traceback" not in r.stderr


def test_cli_play_when_the_server_dies_is_a_clean_error(tiny_model, demo_path):
    """The JACK server goes away mid-preview: a one-line error soon after, no hang."""
    server, name = _start_jack("amssfx-dying", subprocess.PIPE)
    env = dict(os.environ, JACK_DEFAULT_SERVER=name)
    play = None
    try:
        play = subprocess.Popen([sys.executable, "-m", "amssfx.cli", "play", str(demo_path), "--query", "mute vocals",
                                 "--duration", "25", "--model", str(tiny_model[1]), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        time.sleep(4.0)
        server.kill()
        t0 = time.perf_counter()
        _, err = play.communicate(timeout=20)
        took = time.perf_counter() - t0
    finally:
        server.kill()
        server.wait(10)
        if play is not None and play.poll() is None:  # a hang must not outlive the test
            play.kill()
    assert play.returncode == 1, err
    assert err.startswith("amssfx: error:") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert took < 8.0, took


def _accepts_clients(display: str) -> bool:
    """Whether the X server of a display completes a client's connection set-up on its local socket
    (the X11 set-up request, little-endian, no authorisation; reply byte 1 is success)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(f"/tmp/.X11-unix/X{display}")
            s.sendall(b"l\0" + (11).to_bytes(2, "little") + bytes(8))
            return s.recv(1) == b"\1"
        except OSError:
            return False


@pytest.fixture(scope="module")
def xvfb(tmp_path_factory):
    """An X server on a free display, yielded once it accepts clients: Xvfb writes the display's
    number to -displayfd when it is ready (on this machine it has taken from 1 to 6 s), and a client's
    set-up is then completed once on its local socket. The -displayfd pipe stays open until the
    server ends: Xvfb writes its number to it again after its first client, and dies if the pipe is
    closed (seen here: "Cannot write display number", every run); -noreset keeps it from resetting
    when its last client leaves; -ac: a private server for one test, local only."""
    exe = shutil.which("Xvfb")
    assert exe, "Xvfb is installed by `make` (Debian xvfb)"
    log = tmp_path_factory.mktemp("xvfb") / "xvfb.log"
    r, w = os.pipe()
    with open(log, "wb") as err:
        proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", "1600x1000x24", "-nolisten", "tcp",
                                 "-ac", "-noreset"], stdout=subprocess.DEVNULL, stderr=err, pass_fds=(w,))
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 60)
        number = os.read(r, 16).decode().strip() if ready else ""
        deadline = time.monotonic() + 30
        up = False
        while number.isdigit() and proc.poll() is None and time.monotonic() < deadline:
            up = _accepts_clients(number)
            if up:
                break
            time.sleep(0.2)
        if not up:
            proc.kill()  # a server that never came up must not outlive the test
        assert up, f"Xvfb did not come up (display {number!r}, exit {proc.wait(10)}): {log.read_text()[-1500:]}"
        yield f":{number}"
    finally:
        proc.terminate()  # nothing to do for a server already ended
        proc.wait(10)
        os.close(r)


def test_app_smoke_under_xvfb(xvfb, tmp_path, demo_path):
    shot = tmp_path / "app.png"
    env = dict(os.environ, DISPLAY=xvfb, QT_QPA_PLATFORM="xcb")
    r = subprocess.run([sys.executable, "-m", "amssfx.cli", "app", str(demo_path), "--screenshot", str(shot),
                        "--quit-after", "4"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 10000
