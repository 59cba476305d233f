"""Render procedural songs to four stems with FluidSynth (FluidR3_GM only) and espeak-ng."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy import signal

from .arrange import Song, arrange

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


def _render_parts(parts, duration_s: float, sf2: str) -> np.ndarray:
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


def _render_phrases(song: Song) -> np.ndarray:
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
    stems = {name: _render_parts(song.parts[name], song.duration_s, sf2) for name in STEMS}
    if song.phrases:
        stems["vocals"] = stems["vocals"] + _render_phrases(song)
    return stems


def song_seed(base_seed: int, index: int) -> int:
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1)[0])


MATERIALS = ("fluidsynth", "recorded", "recorded-heldout")


def _render_one(out: Path, seed: int, song_seconds: float, evaluation_soundfont: str | None,
                material: str = "fluidsynth") -> float:
    """Render song `seed` into `out` unless it is there (temp file + rename); the seconds rendered."""
    path = out / f"song_{seed:010d}.npy"
    if path.exists():
        return 0.0
    if material == "fluidsynth":
        stems = render_song(arrange(seed, song_seconds), evaluation_soundfont)
    else:
        from .recorded import render_recorded

        stems = render_recorded(arrange(seed, song_seconds), "heldout" if material == "recorded-heldout" else "train")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # never matched by a bank's song_*.npy
    with open(tmp, "wb") as f:
        np.save(f, np.stack([stems[k] for k in STEMS]))
    os.replace(tmp, path)
    return song_seconds


def render_bank(out_dir: str | Path, minutes: float, seed: int, song_seconds: float = 30.0,
                progress: bool = True, evaluation_soundfont: str | None = None, jobs: int = 1,
                material: str = "fluidsynth") -> dict:
    """Render `minutes` of songs into `out_dir` as one (4, 2, time) float32 .npy per song.

    material: 'fluidsynth' (General-MIDI soundfont and espeak-ng), 'recorded' (recorded kits,
    samples and voices of the training split, some stems from FluidSynth: recorded.py) or
    'recorded-heldout' (the held-out recorded sources only, for validation).

    Songs already present (same seed) are kept, so an interrupted render resumes. `jobs` songs are
    rendered at a time, each job in a worker process (FluidSynth and espeak-ng use one core each);
    every song depends on its own seed only, so the bank is the same for any number of jobs and
    whatever the calling process has done before.
    """
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, got {jobs}")
    if material not in MATERIALS:
        raise ValueError(f"material must be one of {', '.join(MATERIALS)}, got {material!r}")
    if material != "fluidsynth" and evaluation_soundfont is not None:
        raise ValueError("an evaluation soundfont renders FluidSynth songs only")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    soundfont_path(evaluation_soundfont)  # a missing or reserved soundfont fails before any work
    if material != "fluidsynth":
        from .recorded import check_material

        check_material("heldout" if material == "recorded-heldout" else "train")
    n_songs = max(1, int(np.ceil(minutes * 60 / song_seconds)))
    seeds = [song_seed(seed, i) for i in range(n_songs)]
    t0 = time.perf_counter()
    rendered_s = 0.0
    bar = tqdm(total=n_songs, desc="render", unit="song", disable=not progress)

    def done(seconds: float) -> None:
        nonlocal rendered_s
        rendered_s += seconds
        bar.update(1)
        bar.set_postfix(audio_s_per_s=f"{rendered_s / (time.perf_counter() - t0):.1f}")

    # Songs are rendered in fresh worker processes, also for one job: FluidSynth's dither noise comes
    # from the C library's rand(), whose state is the process's, so a song rendered in a process where
    # other code has used rand() differs from the bank's by up to two LSB. Spawned, not forked: a fork
    # of a process that has used FluidSynth (its threads and locks) can hang in the child.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for seconds in pool.map(_render_one, [out] * n_songs, seeds, [song_seconds] * n_songs,
                                [evaluation_soundfont] * n_songs, [material] * n_songs):
            done(seconds)
    bar.close()
    elapsed = time.perf_counter() - t0
    label = Path(soundfont_path(evaluation_soundfont)).name if material == "fluidsynth" else material
    index = {"seed": seed, "soundfont": label, "material": material,
             "songs": sorted(p.name for p in out.glob("song_*.npy")),
             "song_seconds": song_seconds, "sample_rate": SAMPLE_RATE, "stems": list(STEMS)}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return {"songs": n_songs, "rendered_seconds": rendered_s, "elapsed_seconds": elapsed,
            "audio_seconds_per_second": rendered_s / elapsed if elapsed > 0 else float("inf")}


DEMO_SEED = 20261128  # the bundled demo song; not a seed of any training or evaluation bank


def render_demo(out_path: str | Path, seconds: float = 30.0) -> Path:
    """Re-create the bundled demo song (mix only) as 16-bit FLAC."""
    from amssfx.audio_io import write

    stems = render_song(arrange(DEMO_SEED, seconds))
    write(out_path, sum(stems.values()), SAMPLE_RATE, "flac16", force=True)
    return Path(out_path)
