"""Procedural four-stem arrangements: a deterministic score of note events from a seed."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DRUM_CHANNEL = 9
SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10],
          "dorian": [0, 2, 3, 5, 7, 9, 10], "mixolydian": [0, 2, 4, 5, 7, 9, 10]}
PROGRESSIONS = [[0, 4, 5, 3], [0, 5, 3, 4], [5, 3, 0, 4], [0, 3, 4, 3], [1, 4, 0, 0],
                [0, 0, 3, 4], [0, 6, 5, 4], [5, 4, 3, 4], [0, 2, 3, 4]]
STYLES = ("rock", "pop", "funk", "ballad", "electronic", "shuffle", "latin", "halftime")
# GM programs (0-based) per role. Drum kits are bank 128 presets.
BASS_PROGRAMS = [32, 33, 34, 35, 36, 37, 38, 39, 43]
OTHER_PROGRAMS = [0, 1, 2, 4, 5, 6, 7, 11, 16, 17, 18, 19, 24, 25, 26, 27, 28, 29, 30, 40, 41,
                  42, 46, 48, 49, 50, 51, 56, 57, 60, 61, 64, 65, 68, 71, 73, 80, 81, 88, 89,
                  90, 91, 92, 94, 95, 99, 105, 107]
VOICE_PROGRAMS = [52, 53, 54, 85]  # choir aahs, voice oohs, synth voice, lead 6 (voice)
DRUM_KITS = [0, 8, 16, 24, 25, 32, 40]
# GM drum keys
KICK, SNARE, RIM, CLAP, HAT_C, HAT_P, HAT_O, TOM_L, TOM_M, TOM_H, CRASH, RIDE, TAMB, SHAKER, COWBELL = (
    36, 38, 37, 39, 42, 44, 46, 45, 47, 50, 49, 51, 54, 70, 56)


@dataclass
class Note:
    time_s: float
    duration_s: float
    channel: int
    key: int
    velocity: int


@dataclass
class Part:
    """One instrument of a stem: channel program and placement, and its notes."""

    channel: int
    bank: int
    program: int
    pan_cc: int
    volume_cc: int
    notes: list[Note] = field(default_factory=list)


@dataclass
class Phrase:
    """A spoken phrase of the vocals stem, placed on a beat."""

    time_s: float
    text: str
    voice: str
    pitch: int
    speed: int
    gain: float
    pan: float


@dataclass
class Song:
    seed: int
    duration_s: float
    tempo_bpm: float
    style: str
    key_root: int
    scale: str
    parts: dict[str, list[Part]]  # stem -> parts
    phrases: list[Phrase]
    chords: list[list[int]] = field(default_factory=list)  # MIDI keys of each bar's chord

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def scale_steps(self) -> list[int]:
        return SCALES[self.scale]


WORDS = ("love night light baby dream fire heart rain dance alone tonight forever home road sky "
         "river gold shadow morning city ocean summer echo thunder hold me close run away "
         "never let go feel the beat come on yeah oh whoa sing along higher lower falling flying "
         "stay with me take my hand under the moon hear me call break free all right").split()


def _humanize(rng, base: int, spread: int = 12) -> int:
    return int(np.clip(base + rng.integers(-spread, spread + 1), 20, 127))


def _drum_part(rng, song_bars: int, beat_s: float, style: str, kit: int) -> Part:
    p = Part(DRUM_CHANNEL, 128, kit, int(rng.integers(54, 74)), int(rng.integers(90, 120)))
    steps = 16
    step_s = beat_s / 4
    swing = 0.33 * step_s if style == "shuffle" else 0.0
    kick = np.zeros(steps, bool)
    snare = np.zeros(steps, bool)
    if style == "halftime":
        kick[[0, 10]] = True
        snare[8] = True
    elif style == "electronic":
        kick[[0, 4, 8, 12]] = True
        snare[[4, 12]] = True
    elif style == "latin":
        kick[[0, 6, 8, 14]] = True
        snare[[3, 10]] = True
    elif style == "funk":
        kick[[0, 3, 7, 10]] = True
        snare[[4, 12, 15]] = True
    else:
        kick[[0, 8]] = True
        snare[[4, 12]] = True
        if rng.random() < 0.6:
            kick[int(rng.choice([6, 10, 11, 14]))] = True
    hat_div = int(rng.choice([2, 2, 1, 4])) if style != "ballad" else 4
    hat_key = int(rng.choice([HAT_C, HAT_C, HAT_P, RIDE]))
    snare_key = int(rng.choice([SNARE, SNARE, CLAP, RIM])) if style in ("electronic", "ballad") else SNARE
    extra = int(rng.choice([TAMB, SHAKER, COWBELL, -1, -1]))
    for bar in range(song_bars):
        t0 = bar * 4 * beat_s
        fill = bar % 4 == 3 and rng.random() < 0.5
        for s in range(steps):
            t = t0 + s * step_s + (swing if s % 2 == 1 else 0.0)
            if fill and s >= 12:
                p.notes.append(Note(t, step_s, DRUM_CHANNEL, int(rng.choice([TOM_L, TOM_M, TOM_H, SNARE])),
                                    _humanize(rng, 100)))
                continue
            if kick[s]:
                p.notes.append(Note(t, step_s, DRUM_CHANNEL, KICK, _humanize(rng, 110)))
            if snare[s]:
                p.notes.append(Note(t, step_s, DRUM_CHANNEL, snare_key, _humanize(rng, 105)))
            if s % hat_div == 0:
                acc = 95 if s % 4 == 0 else 70
                key = HAT_O if (s == 14 and rng.random() < 0.3) else hat_key
                p.notes.append(Note(t, step_s, DRUM_CHANNEL, key, _humanize(rng, acc)))
            if extra > 0 and s % 4 == 2:
                p.notes.append(Note(t, step_s, DRUM_CHANNEL, extra, _humanize(rng, 60)))
        if bar % 8 == 0:
            p.notes.append(Note(t0, beat_s, DRUM_CHANNEL, CRASH, _humanize(rng, 100)))
    return p


def _chord_notes(root_midi: int, scale: list[int], degree: int, size: int = 3) -> list[int]:
    out = []
    for i in range(size):
        d = degree + 2 * i
        out.append(root_midi + scale[d % 7] + 12 * (d // 7))
    return out


def _bass_part(rng, chords, beat_s: float, style: str, channel: int) -> Part:
    p = Part(channel, 0, int(rng.choice(BASS_PROGRAMS)), int(rng.integers(56, 72)), int(rng.integers(95, 125)))
    pattern = int(rng.integers(0, 4))
    for bar, notes in enumerate(chords):
        root = notes[0]
        while root > 45:
            root -= 12
        while root < 28:
            root += 12
        t0 = bar * 4 * beat_s
        if pattern == 0:  # roots on each beat
            hits = [(b * beat_s, beat_s * 0.9, root) for b in range(4)]
        elif pattern == 1:  # root-octave eighths
            hits = [(e * beat_s / 2, beat_s * 0.45, root + (12 if e % 2 else 0)) for e in range(8)]
        elif pattern == 2:  # syncopated
            hits = [(0, beat_s * 1.4, root), (1.5 * beat_s, beat_s * 0.5, root),
                    (2.5 * beat_s, beat_s, notes[2] - 12 if notes[2] - 12 > 24 else root), (3.5 * beat_s, beat_s * 0.4, root)]
        else:  # walking through the chord
            seq = [root, notes[1] - 12 if notes[1] - 12 >= 28 else notes[1], notes[2] - 12 if notes[2] - 12 >= 28 else notes[2], root + 12]
            hits = [(b * beat_s, beat_s * 0.85, seq[b]) for b in range(4)]
        for dt, dur, key in hits:
            p.notes.append(Note(t0 + dt, dur, channel, int(key), _humanize(rng, 100)))
    return p


def _other_parts(rng, chords, beat_s: float, first_channel: int) -> list[Part]:
    parts = []
    n = int(rng.integers(1, 4))
    for i in range(n):
        ch = first_channel + i
        p = Part(ch, 0, int(rng.choice(OTHER_PROGRAMS)), int(rng.integers(20, 108)), int(rng.integers(70, 115)))
        style = int(rng.integers(0, 3))
        octave = int(rng.choice([0, 12]))
        for bar, notes in enumerate(chords):
            t0 = bar * 4 * beat_s
            if style == 0:  # sustained chord
                for k in notes:
                    p.notes.append(Note(t0, 4 * beat_s * 0.95, ch, k + octave, _humanize(rng, 80)))
            elif style == 1:  # arpeggio in eighths
                seq = notes + [notes[1]]
                for e in range(8):
                    p.notes.append(Note(t0 + e * beat_s / 2, beat_s / 2, ch, seq[e % 4] + octave, _humanize(rng, 85)))
            else:  # rhythmic stabs
                for b in (0, 1.5, 2, 3.5):
                    for k in notes:
                        p.notes.append(Note(t0 + b * beat_s, beat_s * 0.4, ch, k + octave, _humanize(rng, 90)))
        parts.append(p)
    return parts


def _voice_part(rng, chords, scale, root_midi, beat_s: float, channel: int) -> Part:
    p = Part(channel, 0, int(rng.choice(VOICE_PROGRAMS)), int(rng.integers(48, 80)), int(rng.integers(90, 120)))
    base = root_midi + 12
    for bar, notes in enumerate(chords):
        if bar % 4 == 3 and rng.random() < 0.5:
            continue  # breathe
        t0 = bar * 4 * beat_s
        t = 0.0
        while t < 4:
            dur = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
            k = int(rng.choice(notes)) + 12 if rng.random() < 0.6 else base + scale[int(rng.integers(0, 7))]
            p.notes.append(Note(t0 + t * beat_s, min(dur, 4 - t) * beat_s * 0.95, channel, k, _humanize(rng, 95)))
            t += dur
    return p


def _phrases(rng, n_bars: int, beat_s: float) -> list[Phrase]:
    voices = ["en", "en-us", "en-gb-scotland", "en-029", "en-gb-x-rp"]
    variants = ["", "+f1", "+f2", "+f3", "+f4", "+m1", "+m2", "+m3", "+m4", "+m7"]
    voice = rng.choice(voices) + rng.choice(variants)
    out = []
    for bar in range(0, n_bars, 2 if rng.random() < 0.5 else 1):
        if rng.random() < 0.2:
            continue
        words = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 6))))
        out.append(Phrase(bar * 4 * beat_s + int(rng.integers(0, 2)) * beat_s, words, str(voice),
                          int(rng.integers(20, 90)), int(rng.integers(110, 190)),
                          float(rng.uniform(0.5, 1.0)), float(rng.uniform(-0.5, 0.5))))
    return out


def arrange(seed: int, duration_s: float = 30.0) -> Song:
    """A deterministic song of `duration_s` seconds from `seed`."""
    rng = np.random.default_rng(seed)
    style = str(rng.choice(STYLES))
    tempo = float(rng.uniform(60, 100)) if style in ("ballad", "halftime") else float(rng.uniform(85, 165))
    beat_s = 60.0 / tempo
    n_bars = int(np.ceil(duration_s / (4 * beat_s))) + 1
    scale_name = str(rng.choice(list(SCALES)))
    scale = SCALES[scale_name]
    key_root = int(rng.integers(0, 12))
    root_midi = 48 + key_root
    prog = PROGRESSIONS[int(rng.integers(0, len(PROGRESSIONS)))]
    chords = [_chord_notes(root_midi, scale, prog[b % len(prog)]) for b in range(n_bars)]
    parts = {
        "drums": [_drum_part(rng, n_bars, beat_s, style, int(rng.choice(DRUM_KITS)))],
        "bass": [_bass_part(rng, chords, beat_s, style, 0)],
        "other": _other_parts(rng, chords, beat_s, 1),
        "vocals": [],
    }
    mode = rng.choice(["speech", "voice", "both"], p=[0.4, 0.3, 0.3])
    phrases = _phrases(rng, n_bars, beat_s) if mode in ("speech", "both") else []
    if mode in ("voice", "both"):
        parts["vocals"].append(_voice_part(rng, chords, scale, root_midi, beat_s, 4))
    return Song(seed, duration_s, tempo, style, key_root, scale_name, parts, phrases, chords)
