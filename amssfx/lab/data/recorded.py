"""Songs played with recorded material: the arrangement of a seed (arrange.py) with each stem drawn
from recorded drum kits, loops, instrument samples and voices (sources.py), or from FluidSynth,
then produced (production.py). Four (2, time) float32 stems that sum to the mix."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .arrange import Note, Song, _voice_part
from .production import character, master, produce_stem
from .sampler import SAMPLE_RATE, DrumKit, fit_loop, hydrogen_kit, oneshot_kit, play_drums, play_notes
from .singing import spoken_line, sung_line
from .sources import Source, soundfonts, sources

STEMS = ("vocals", "drums", "bass", "other")
# Share of stems that FluidSynth plays in a training song (the model keeps hearing the sounds
# it was trained on); held-out songs are recorded material only.
FLUID_P = {"drums": 0.25, "bass": 0.3, "other": 0.3}
VOCAL_MODES = {"train": {"sung": 0.4, "sung_harmony": 0.15, "spoken": 0.15, "espeak": 0.1, "choir": 0.08,
                         "instrumental": 0.12},
               "heldout": {"sung": 0.5, "sung_harmony": 0.2, "spoken": 0.2, "instrumental": 0.1}}
LEAD_HINTS = ("guitar", "violin", "flute", "trumpet", "cello", "guit_", "piano", "organ")


@lru_cache(maxsize=8)
def _sources(split: str) -> dict[str, list[Source]]:
    out: dict[str, list[Source]] = {}
    for s in sources(split):
        out.setdefault(s.role, []).append(s)
    return out


NEEDED_ROLES = {"train": ("kit", "oneshot_kit", "bass", "other", "voice"), "heldout": ("kit", "bass", "other", "voice")}


def check_material(split: str) -> None:
    """FileNotFoundError naming the packages to install if a role of `split` has no source here."""
    from .sources import PACKAGES

    missing = [r for r in NEEDED_ROLES[split] if not _sources(split).get(r)]
    if missing:
        raise FileNotFoundError(f"no recorded {', '.join(missing)} material found; install Debian's "
                                f"{' '.join(PACKAGES)} (`make lab`)")


@lru_cache(maxsize=32)
def _kit(source: Source) -> DrumKit:
    return hydrogen_kit(source.files[0]) if source.role == "kit" else oneshot_kit(source.name, source.files)


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _fluid(parts, song: Song, rng) -> np.ndarray:
    from .synth import render_parts

    return render_parts(parts, song.duration_s, str(_pick(rng, soundfonts())))


def _drums(song: Song, split: str, n: int, rng) -> np.ndarray:
    src = _sources(split)
    notes = [x for p in song.parts["drums"] for x in p.notes]
    if split == "train" and rng.random() < FLUID_P["drums"]:
        return _fluid(song.parts["drums"], song, rng)
    if split == "train" and rng.random() < 0.2 and src.get("drum_loop"):
        loop = fit_loop(str(_pick(rng, _pick(rng, src["drum_loop"]).files)), 4 * song.beat_s, n, rng)
        if rng.random() < 0.5:  # a loop under a played kit, as producers layer them
            kit = _kit(_pick(rng, src.get("kit", []) or src["oneshot_kit"]))
            return 0.5 * loop + play_drums(notes, kit, n, rng)
        return loop
    kits = src.get("kit", [])
    if split == "train" and (rng.random() < 0.45 or not kits):
        kits = src["oneshot_kit"]
    return play_drums(notes, _kit(_pick(rng, kits)), n, rng)


def _pitched(parts, role: str, song: Song, split: str, n: int, rng) -> np.ndarray:
    src = _sources(split)
    out = np.zeros((2, n), np.float32)
    for p in parts:
        if split == "train" and rng.random() < FLUID_P[role]:
            out += _fluid([p], song, rng)
            continue
        pan = (p.pan_cc - 64) / 64
        if role == "other" and rng.random() < 0.15 and src.get("other_loop"):
            out += 0.7 * fit_loop(str(_pick(rng, src["other_loop"]).files[0]), 4 * song.beat_s, n, rng, pan)
            continue
        path = str(_pick(rng, src[role]).files[0])
        strum = float(rng.uniform(0.006, 0.03)) if "guit" in path else 0.0
        out += play_notes(p.notes, path, n, rng, pan if role == "other" else pan * 0.3, strum)
    return out


def _melody(song: Song, rng) -> list[Note]:
    if song.parts["vocals"]:
        return list(song.parts["vocals"][0].notes)
    return _voice_part(rng, song.chords, song.scale_steps, 48 + song.key_root, song.beat_s, 4).notes


def _vocals(song: Song, split: str, n: int, rng) -> tuple[np.ndarray, list[Note]]:
    """The vocal stem, and a melody for a lead instrument when the song is instrumental."""
    modes = VOCAL_MODES[split]
    mode = str(rng.choice(list(modes), p=np.array(list(modes.values())) / sum(modes.values())))
    if mode == "instrumental":
        return np.zeros((2, n), np.float32), _melody(song, rng)
    if mode == "espeak":
        from .synth import render_phrases

        return render_phrases(song) if song.phrases else _fluid(song.parts["vocals"], song, rng), []
    if mode == "choir":
        parts = song.parts["vocals"] or []
        return (_fluid(parts, song, rng) if parts else np.zeros((2, n), np.float32)), []
    words = list(_pick(rng, _sources(split)["voice"]).files)
    pan = float(rng.uniform(-0.15, 0.15))
    if mode == "spoken":
        return spoken_line([str(w) for w in words], song.beat_s, n, rng, pan), []
    melody = _melody(song, rng)
    out = sung_line(melody, [str(w) for w in words], n, rng, pan=pan)
    if mode == "sung_harmony":  # a backing voice a third above, quieter, to one side
        third = int(rng.choice([3, 4]))
        out += sung_line(melody, [str(w) for w in words], n, rng, transpose=third,
                         pan=float(rng.choice([-0.5, 0.5])), gain=float(rng.uniform(0.3, 0.6)))
    return out, []


def render_recorded(song: Song, split: str = "train") -> dict[str, np.ndarray]:
    """The four produced stems of `song` (split 'train' or 'heldout' chooses the material)."""
    rng = np.random.default_rng([song.seed, 17])
    n = int(round(song.duration_s * SAMPLE_RATE))
    vocals, lead = _vocals(song, split, n, rng)
    other_parts = list(song.parts["other"])
    stems = {"vocals": vocals, "drums": _drums(song, split, n, rng),
             "bass": _pitched(song.parts["bass"], "bass", song, split, n, rng)}
    other = _pitched(other_parts, "other", song, split, n, rng)
    if lead:  # an instrumental: the melody is played by a recorded lead instrument, part of `other`
        leads = [s for s in _sources(split)["other"] if any(h in s.name for h in LEAD_HINTS)] or _sources(split)["other"]
        other = other + play_notes(lead, str(_pick(rng, leads).files[0]), n, rng, float(rng.uniform(-0.2, 0.2)))
    stems["other"] = other
    if split == "train":  # the parts' own sounds, from a stream of their own: held-out banks are unchanged
        sound = np.random.default_rng([song.seed, 19])
        stems = {k: character(v, k, sound) for k, v in stems.items()}
    levels = {"vocals": (-2, 4), "drums": (-3, 3), "bass": (-4, 2), "other": (-5, 1)}  # dB, around equal RMS
    out = {}
    for name in STEMS:
        x = produce_stem(stems[name].astype(np.float32), name, rng)
        rms = float(np.sqrt(np.mean(x * x)))
        out[name] = (x * (0.1 * 10 ** (rng.uniform(*levels[name]) / 20) / rms)).astype(np.float32) if rms > 1e-6 \
            else np.zeros((2, n), np.float32)
    return master(out, rng)
