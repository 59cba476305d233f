"""Samplers of recorded material: drum kits (velocity layers, round robin, hi-hat choke), pitched
one-shot instruments, and loops fitted to a song's bars. All audio is (2, time) float32 at 44.1 kHz."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal

from .sources import allowed, readable

SAMPLE_RATE = 44100
CHOKE_FADE_S = 0.012  # an open hi-hat stops over 12 ms when the closed or pedal hat plays


@lru_cache(maxsize=512)
def load(path: str) -> np.ndarray:
    """A sample file as (2, time) float32 at 44.1 kHz (mono doubled, other rates resampled)."""
    import soundfile as sf

    x, rate = sf.read(str(allowed(path)), dtype="float32", always_2d=True)
    x = x.T[:2]
    if x.shape[0] == 1:
        x = np.concatenate([x, x])
    if rate != SAMPLE_RATE:
        f = Fraction(SAMPLE_RATE, int(rate)).limit_denominator(1000)
        x = signal.resample_poly(x, f.numerator, f.denominator, axis=-1).astype(np.float32)
    x.setflags(write=False)
    return x


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power gains of a pan position in [-1, 1]."""
    p = float(np.clip(pan, -1.0, 1.0))
    return float(np.sqrt(0.5 * (1 - p))) * np.sqrt(2), float(np.sqrt(0.5 * (1 + p))) * np.sqrt(2)


def add_at(out: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0, pan: float = 0.0) -> None:
    """out[:, start:] += gain * x placed at `pan`, cut to out's length."""
    if start >= out.shape[-1] or start < 0:
        return
    n = min(x.shape[-1], out.shape[-1] - start)
    gl, gr = pan_gains(pan)
    out[0, start:start + n] += (gain * gl) * x[0, :n]
    out[1, start:start + n] += (gain * gr) * x[1, :n]


# ---------------------------------------------------------------- drums

# GM drum keys -> roles; a kit without a role plays the first fallback it has.
ROLE_OF_KEY = {35: "kick", 36: "kick", 37: "rim", 38: "snare", 40: "snare", 39: "clap", 42: "hat_closed",
               44: "hat_pedal", 46: "hat_open", 41: "tom_low", 43: "tom_low", 45: "tom_low", 47: "tom_mid",
               48: "tom_mid", 50: "tom_high", 49: "crash", 57: "crash", 55: "crash", 51: "ride", 59: "ride",
               53: "ride", 56: "cowbell", 54: "tamb", 70: "shaker"}
FALLBACK = {"rim": ("snare",), "clap": ("snare",), "hat_pedal": ("hat_closed",), "hat_open": ("hat_closed",),
            "tom_low": ("tom_mid", "tom_high"), "tom_mid": ("tom_low", "tom_high"), "tom_high": ("tom_mid", "tom_low"),
            "ride": ("hat_closed", "crash"), "crash": ("ride",), "cowbell": (), "tamb": ("hat_closed",),
            "shaker": ("hat_closed",), "kick": (), "snare": ("clap", "rim"), "hat_closed": ("hat_pedal", "ride")}
HAT_CLOSING = ("hat_closed", "hat_pedal")


def role_of_name(name: str) -> str | None:
    """The drum role a kit piece's name or file name suggests, or None."""
    n = name.lower().replace("_", " ").replace("-", " ")
    if "choke" in n or "roll" in n or "swish" in n:
        return None
    if "cowbell" in n:
        return "cowbell"
    if "clap" in n:
        return "clap"
    if re.search(r"\b(kick|bass ?drum|bd)\b|^bd|kick|bassdrum|drum bass", n):
        return "kick"
    if "snare" in n or re.search(r"^sn\b|^sn ", n):
        return "snare"
    if "stick" in n or re.search(r"\brim\b", n):
        return "rim"
    if "hat" in n or re.search(r"\bhh\d*\b", n) or "cymbal closed" in n or "cymbal pedal" in n or "cymbal open" in n:
        if "pedal" in n or "foot" in n:
            return "hat_pedal"
        if "open" in n or "semi" in n:
            return "hat_open"
        return "hat_closed"
    if "tom" in n:
        if "floor" in n or re.search(r"\b(low|lo)\b", n):
            return "tom_low"
        if re.search(r"\b(hi|high)\b", n) or "tom1" in n.replace(" ", ""):
            return "tom_high"
        return "tom_mid"
    if "ride" in n or "bell" in n or "cup" in n or re.search(r"\brd\d*\b", n):
        return "ride"
    if "crash" in n or "splash" in n or "china" in n or "cymbal" in n:
        return "crash"
    if "tamb" in n:
        return "tamb"
    if "shaker" in n:
        return "shaker"
    return None


@dataclass
class Layer:
    lo: float  # velocity range, 0..1
    hi: float
    gain: float
    path: str


@dataclass
class Piece:
    name: str
    role: str
    layers: list[Layer]

    def layer(self, velocity: float, rng: np.random.Generator) -> Layer:
        """The layer for a velocity in 0..1; among several (round robin), one at random."""
        fits = [l for l in self.layers if l.lo <= velocity <= l.hi]
        if not fits:
            fits = [min(self.layers, key=lambda l: min(abs(velocity - l.lo), abs(velocity - l.hi)))]
        return fits[int(rng.integers(len(fits)))]


@dataclass
class DrumKit:
    name: str
    pieces: dict[str, list[Piece]] = field(default_factory=dict)  # role -> pieces

    def piece_for(self, role: str, choice: dict[str, Piece], rng) -> Piece | None:
        """The piece that plays `role` in this song (one per role, drawn once), or a fallback's."""
        for r in (role,) + FALLBACK.get(role, ()):
            if r in choice:
                return choice[r]
            if self.pieces.get(r):
                choice[r] = self.pieces[r][int(rng.integers(len(self.pieces[r])))]
                return choice[r]
        return None


def _text(el, tag: str, default: str = "") -> str:
    for c in el:
        if c.tag.split("}")[-1] == tag:
            return c.text or default
    return default


def hydrogen_kit(xml_path: str | Path) -> DrumKit:
    """A Hydrogen drumkit.xml: pieces by role, each with its velocity layers."""
    xml_path = allowed(xml_path)
    root = ET.parse(xml_path).getroot()
    kit = DrumKit(_text(root, "name", xml_path.parent.name))
    for ins in root.iter():
        if ins.tag.split("}")[-1] != "instrument":
            continue
        name = _text(ins, "name")
        layers = []
        for lay in ins.iter():
            if lay.tag.split("}")[-1] != "layer":
                continue
            f = xml_path.parent / _text(lay, "filename")
            if f.is_file() and readable(allowed(f)):
                layers.append(Layer(float(_text(lay, "min", "0")), float(_text(lay, "max", "1")),
                                    float(_text(lay, "gain", "1")), str(allowed(f))))
        role = role_of_name(name) or (role_of_name(Path(layers[0].path).stem) if layers else None)
        if role and layers:
            kit.pieces.setdefault(role, []).append(Piece(name, role, layers))
    return kit


def oneshot_kit(name: str, files) -> DrumKit:
    """A kit of one-shot files, each file a piece of the role its name suggests; soft/hard names
    split the velocity range."""
    kit = DrumKit(name)
    for f in files:
        role = role_of_name(Path(f).stem)
        if role is None:
            continue
        stem = Path(f).stem.lower()
        lo, hi = (0.0, 0.6) if "soft" in stem else (0.6, 1.0) if "hard" in stem else (0.0, 1.0)
        kit.pieces.setdefault(role, []).append(Piece(Path(f).stem, role, [Layer(lo, hi, 1.0, str(allowed(f)))]))
    return kit


DRUM_PAN = {"kick": 0.0, "snare": 0.05, "rim": 0.05, "clap": 0.0, "hat_closed": 0.3, "hat_pedal": 0.3,
            "hat_open": 0.3, "tom_high": 0.25, "tom_mid": -0.1, "tom_low": -0.35, "crash": 0.45, "ride": -0.4,
            "cowbell": 0.2, "tamb": -0.3, "shaker": 0.35}


def play_drums(notes, kit: DrumKit, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """The drum part's notes (GM keys) played on `kit`, with velocity layers, round robin, a
    drummer's stereo image (mirrored at random) and the open hi-hat choked by the closed one."""
    out = np.zeros((2, n_samples), np.float32)
    choice: dict[str, Piece] = {}
    mirror = -1.0 if rng.random() < 0.5 else 1.0
    width = float(rng.uniform(0.4, 1.2))
    closing = sorted(int(n.time_s * SAMPLE_RATE) for n in notes if ROLE_OF_KEY.get(n.key) in HAT_CLOSING)
    fade = int(CHOKE_FADE_S * SAMPLE_RATE)
    for n in notes:
        role = ROLE_OF_KEY.get(n.key)
        piece = kit.piece_for(role, choice, rng) if role else None
        if piece is None:
            continue
        vel = float(np.clip(n.velocity / 127 + rng.normal(0, 0.03), 0.0, 1.0))
        lay = piece.layer(vel, rng)
        x = load(lay.path)
        start = int(n.time_s * SAMPLE_RATE + rng.normal(0, 0.004) * SAMPLE_RATE)  # a drummer's timing
        if piece.role == "hat_open" and closing:
            i = int(np.searchsorted(closing, start + 1))
            if i < len(closing) and closing[i] - start < x.shape[-1]:
                cut = max(closing[i] - start, 1)
                x = x[:, :cut + fade].copy()
                x[:, cut:] *= np.linspace(1.0, 0.0, x.shape[-1] - cut, dtype=np.float32)
        gain = lay.gain * (0.25 + 0.75 * vel ** 1.5)
        add_at(out, x, max(start, 0), gain, mirror * width * DRUM_PAN.get(piece.role, 0.0))
    return out


def fit_loop(path: str, bar_s: float, n_samples: int, rng: np.random.Generator, pan: float = 0.0) -> np.ndarray:
    """A loop repeated over the song, resampled so that it lasts 1, 2 or 4 bars (whichever is
    nearest its own length)."""
    x = load(path)
    bars = min((1, 2, 4), key=lambda b: abs(np.log(x.shape[-1] / SAMPLE_RATE / (b * bar_s))))
    target = int(round(bars * bar_s * SAMPLE_RATE))
    f = Fraction(target, x.shape[-1]).limit_denominator(200)
    y = signal.resample_poly(x, f.numerator, f.denominator, axis=-1).astype(np.float32)[:, :target]
    out = np.zeros((2, n_samples), np.float32)
    for start in range(0, n_samples, max(target, 1)):
        add_at(out, y, start, 1.0, pan)
    return out


# ---------------------------------------------------------------- pitched instruments

def _midi(f0: float) -> float:
    return 69.0 + 12.0 * np.log2(f0 / 440.0)


@lru_cache(maxsize=512)
def root_key(path: str) -> float:
    """The MIDI pitch of a one-shot sample: from its name (`bass_hit_c`, `bass_dnb_f`) or from the
    autocorrelation of its loudest 100 ms; 60 when neither says."""
    m = re.search(r"_([a-g])(s?)$", Path(path).stem.lower())
    if m:
        return 36.0 + "c d ef g a b".index(m.group(1)) + (1 if m.group(2) else 0)
    x = load(path).mean(0)
    hop = 2205
    if x.shape[-1] < 4 * hop:
        return 60.0
    energy = np.array([np.sum(x[i:i + 2 * hop] ** 2) for i in range(0, x.shape[-1] - 2 * hop, hop)])
    i = int(np.argmax(energy[: max(len(energy) // 2, 1)])) * hop
    seg = x[i + hop // 2:i + hop // 2 + 4410].astype(np.float64)
    seg = seg - seg.mean()
    ac = signal.fftconvolve(seg, seg[::-1])[len(seg) - 1:]
    lo, hi = SAMPLE_RATE // 1200, SAMPLE_RATE // 30  # 30 Hz .. 1.2 kHz
    if ac[0] <= 0 or hi >= len(ac):
        return 60.0
    lag = lo + int(np.argmax(ac[lo:hi]))
    if ac[lag] < 0.3 * ac[0]:
        return 60.0
    return float(_midi(SAMPLE_RATE / lag))


@lru_cache(maxsize=2048)
def shifted(path: str, semitones: int) -> np.ndarray:
    """The sample moved by whole semitones (resampled: pitch and length change together, as a
    classic sampler does)."""
    x = load(path)
    if semitones == 0:
        return x
    f = Fraction(2 ** (-semitones / 12)).limit_denominator(64)
    y = signal.resample_poly(x, f.numerator, f.denominator, axis=-1).astype(np.float32)
    y.setflags(write=False)
    return y


def play_notes(notes, path: str, n_samples: int, rng: np.random.Generator, pan: float = 0.0,
               strum_s: float = 0.0) -> np.ndarray:
    """Notes played on a one-shot sample: each note cut at its end with a short release; notes
    far from the sample's own pitch are moved by octaves towards it (at most 7 semitones of
    resampling either way), so the part keeps its pitch classes; chords strummed by `strum_s`."""
    out = np.zeros((2, n_samples), np.float32)
    root = root_key(path)
    release = int(rng.uniform(0.04, 0.15) * SAMPLE_RATE)
    chord_pos: dict[float, int] = {}
    for n in notes:
        k = n.key - round(root)
        while k > 7:
            k -= 12
        while k < -7:
            k += 12
        x = shifted(path, int(k))
        dur = int(n.duration_s * SAMPLE_RATE)
        if dur + release < x.shape[-1]:
            x = x[:, :dur + release].copy()
            x[:, dur:] *= np.linspace(1.0, 0.0, x.shape[-1] - dur, dtype=np.float32)
        j = chord_pos.get(n.time_s, 0)
        chord_pos[n.time_s] = j + 1
        start = int((n.time_s + j * strum_s + rng.normal(0, 0.003)) * SAMPLE_RATE)
        add_at(out, x, max(start, 0), (n.velocity / 127) ** 1.2, pan)
    return out
