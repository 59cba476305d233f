"""FluidSynth (FluidR3_GM only) and espeak-ng: the synthetic instruments and voices of the training songs."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from scipy import signal

from .arrange import Song

SAMPLE_RATE = 44100
STEMS = ("vocals", "drums", "bass", "other")
# Training material is rendered with this soundfont only; TimGM6mb and MuseScore_General
# are reserved for evaluation and must never be used here.
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RESERVED_SOUNDFONTS = ("TimGM6mb", "MuseScore_General")


# The project's own held-out soundfont: measured on, never trained or tuned on. MuseScore_General
# is reserved for evaluation outside the project and never used here at all.
EVALUATION_SOUNDFONTS = {"timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2"}


def is_reserved(path: str | Path) -> bool:
    return any(r.lower() in Path(path).name.lower() for r in RESERVED_SOUNDFONTS)


def soundfont_path(evaluation: str | None = None) -> str:
    """FluidR3_GM for training (or AMSSFX_SOUNDFONT, if it is not reserved); TimGM6mb only when
    asked for by name, for evaluation."""
    if evaluation is not None:
        if evaluation not in EVALUATION_SOUNDFONTS:
            raise ValueError(f"evaluation soundfont must be one of {sorted(EVALUATION_SOUNDFONTS)}")
        path = EVALUATION_SOUNDFONTS[evaluation]
    else:
        path = os.environ.get("AMSSFX_SOUNDFONT", SOUNDFONT)
        if is_reserved(path):
            raise ValueError(f"{path} is reserved for evaluation; training renders use FluidR3_GM")
    if not Path(path).exists():
        raise FileNotFoundError(f"soundfont {path} not found; install Debian's fluid-soundfont-gm "
                                f"(or timgm6mb-soundfont for evaluation)")
    return path


def render_parts(parts, duration_s: float, sf2: str) -> np.ndarray:
    import fluidsynth

    n_total = int(round(duration_s * SAMPLE_RATE))
    out = np.zeros((2, n_total), np.float32)
    if not parts:
        return out
    synth = fluidsynth.Synth(gain=0.3, samplerate=float(SAMPLE_RATE))
    try:
        sfid = synth.sfload(sf2)
        events = []
        for p in parts:
            synth.program_select(p.channel, sfid, p.bank, p.program)
            synth.cc(p.channel, 10, p.pan_cc)
            synth.cc(p.channel, 7, p.volume_cc)
            for n in p.notes:
                start = int(n.time_s * SAMPLE_RATE)
                if start >= n_total:
                    continue
                events.append((start, 1, n.channel, n.key, n.velocity))
                events.append((min(int((n.time_s + n.duration_s) * SAMPLE_RATE), n_total), 0, n.channel, n.key, 0))
        events.sort(key=lambda e: (e[0], e[1]))
        pos = 0
        for t, on, ch, key, vel in events:
            if t > pos:
                out[:, pos:t] = _samples(synth, t - pos)
                pos = t
            if on:
                synth.noteon(ch, key, vel)
            else:
                synth.noteoff(ch, key)
        if pos < n_total:
            out[:, pos:] = _samples(synth, n_total - pos)
    finally:
        synth.delete()
    return out


def _samples(synth, n: int) -> np.ndarray:
    s = np.asarray(synth.get_samples(n), np.int16).reshape(-1, 2).T
    return s.astype(np.float32) / 32768.0


def _speak(text: str, voice: str, pitch: int, speed: int) -> np.ndarray:
    """espeak-ng speech as mono float32 at 44.1 kHz (argument list, no shell)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng not found; install Debian's espeak-ng")
    wav = subprocess.run([exe, "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True, timeout=60).stdout
    # WAV from espeak-ng: 44-byte header (data size fields unset), 16-bit mono at 22050 Hz.
    pcm = np.frombuffer(wav[44:len(wav) - (len(wav) - 44) % 2], np.int16).astype(np.float32) / 32768.0
    return signal.resample_poly(pcm, 2, 1).astype(np.float32)


def render_phrases(song: Song) -> np.ndarray:
    n_total = int(round(song.duration_s * SAMPLE_RATE))
    out = np.zeros((2, n_total), np.float32)
    for ph in song.phrases:
        x = _speak(ph.text, ph.voice, ph.pitch, ph.speed) * ph.gain
        start = int(ph.time_s * SAMPLE_RATE)
        if start >= n_total:
            continue
        x = x[: n_total - start]
        left, right = np.sqrt(0.5 * (1 - ph.pan)), np.sqrt(0.5 * (1 + ph.pan))
        out[0, start:start + len(x)] += left * x
        out[1, start:start + len(x)] += right * x
    return out


def render_song(song: Song, evaluation_soundfont: str | None = None) -> dict[str, np.ndarray]:
    """The four stems of a song, (2, time) float32 each, summing to the mix."""
    sf2 = soundfont_path(evaluation_soundfont)
    stems = {name: render_parts(song.parts[name], song.duration_s, sf2) for name in STEMS}
    if song.phrases:
        stems["vocals"] = stems["vocals"] + render_phrases(song)
    return stems
