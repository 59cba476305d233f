"""Render banks of procedural songs as four stems: synthetic (synth.py) or recorded (recorded.py) material."""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

from .arrange import arrange
from .recorded import check_material, render_recorded
from .synth import (EVALUATION_SOUNDFONTS, SAMPLE_RATE, STEMS, is_reserved, render_song,  # noqa: F401
                    soundfont_path)

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
