"""Recorded material the training renderer may use: where it is, its licence, its role, its split.

Every file the recorded renderer reads goes through `allowed()`, which refuses the material that
AMSS_TASKS.md reserves for evaluation, by name, wherever it is installed. The split puts whole
sources (a drum kit, an instrument sample, a speaker's language folder) on one side only: the
`heldout` side is never drawn for training; it makes the real-timbre validation bank
(`amssfx evaluate --material recorded`).

| Debian package | licence | used for |
|---|---|---|
| hydrogen-drumkits (`BJA_Pacific`, `The Black Pearl 1.0`, `ColomboAcousticDrumkit` only) | CC-BY-SA-3.0-us, GPL, GPL-2+ | recorded acoustic kits |
| sonic-pi-samples | CC0 (samples), MIT | drum one-shots and loops, bass and guitar samples |
| lmms-common | GPL-2+ | drum one-shots and loops, instrument and bass samples |
| ktuberling-data | GPL-2+ | recorded words of many speakers (vocals, spoken and sung) |
| klettres-data | GPL-2+ | recorded letters and syllables of many speakers (vocals, spoken and sung) |
| csound-soundfont | LGPL-2.1+ | a second General-MIDI soundfont beside FluidR3_GM |
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

# Reserved for evaluation (AMSS_TASKS.md): never read by the project. Matched case-insensitively
# against the whole path, so a reserved kit or package is refused wherever it is installed.
RESERVED = ("fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "fretsonfire", "hedgewars", "freepats",
            "avldrums", "red zeppelin", "redzeppelin", "forzeestereo", "millo-drums", "millo_multilayered",
            "musescore_general", "musescore-general", "timgm6mb", "planetblupi")

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SONIC_PI = Path("/usr/share/sonic-pi/samples")
LMMS = Path("/usr/share/lmms/samples")
KTUBERLING = Path("/usr/share/ktuberling/sounds")
KLETTRES = Path("/usr/share/klettres")
CSOUND_SF2 = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")
FLUID_SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
PACKAGES = ("hydrogen-drumkits", "sonic-pi-samples", "lmms-common", "ktuberling-data", "klettres-data",
            "csound-soundfont")
SPLITS = ("train", "heldout")


class ReservedMaterialError(ValueError):
    """A path names material reserved for evaluation."""


def allowed(path: str | Path) -> Path:
    """`path` unchanged, or ReservedMaterialError if it names reserved material."""
    low = str(path).lower()
    for name in RESERVED:
        if name in low:
            raise ReservedMaterialError(f"{path} is reserved for evaluation ({name}); the project never uses it")
    return Path(path)


@dataclass(frozen=True)
class Source:
    name: str
    role: str  # kit, drum_loop, bass, other, other_loop, voice
    split: str
    files: tuple[Path, ...]


def readable(path: str | Path) -> bool:
    """Whether libsndfile reads this audio file (some packaged samples are malformed)."""
    import soundfile as sf

    try:
        return sf.info(str(path)).frames > 0
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False


def _files(*patterns: str, exclude: tuple[str, ...] = ()) -> tuple[Path, ...]:
    """The readable files matching the patterns (no broken links, no malformed audio)."""
    out = []
    for pat in patterns:
        out += [Path(p) for p in sorted(glob.glob(pat))
                if Path(p).is_file() and not any(e in Path(p).name for e in exclude)]
    return tuple(allowed(p) for p in out if readable(allowed(p)))


# Held out of training, whole: one acoustic kit, some bass and instrument samples, four speakers.
HELDOUT_KITS = ("ColomboAcousticDrumkit",)
TRAIN_KITS = ("BJA_Pacific", "The Black Pearl 1.0")
HELDOUT_BASS = ("bass01.ogg", "bassslap02.ogg", "bass_woodsy_c.flac")
HELDOUT_OTHER = ("steel_guitar_medium_distorted01.ogg", "piano02.ogg", "violin_fingered01.ogg",
                 "latin_guitar03.ogg", "guit_em9.flac")
HELDOUT_VOICES = ("en", "de", "sl", "wa")
# klettres languages left out of training: their speakers may have recorded the held-out ktuberling
# languages too, and a held-out voice must be one the model never heard.
KLETTRES_LEFT_OUT = ("en", "en_GB", "de", "sl", "wa")
# klettres languages whose takes are faulty, measured over every take (2026-12-07): hiss 25 dB under
# the peak (hu), or clipped in most takes (ml 513 of 521, nb 23 of 29, tn 24 of 43).
KLETTRES_FAULTY = ("hu", "ml", "nb", "tn")


def _split_of(path: Path, heldout: tuple[str, ...]) -> str:
    return "heldout" if path.name in heldout else "train"


def sources(split: str) -> list[Source]:
    """Every source of `split` present on this machine (a missing package gives no sources)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    out: list[Source] = []
    for kit in HELDOUT_KITS + TRAIN_KITS:
        d = allowed(HYDROGEN / kit)
        if (d / "drumkit.xml").exists() and (kit in HELDOUT_KITS) == (split == "heldout"):
            out.append(Source(kit, "kit", split, (d / "drumkit.xml",)))
    if split == "train":
        out += [Source("sonic-pi acoustic", "oneshot_kit", split, _files(str(SONIC_PI / "drum_*.flac"))),
                Source("sonic-pi electronic", "oneshot_kit", split,
                       _files(str(SONIC_PI / "bd_*.flac"), str(SONIC_PI / "sn_*.flac"),
                              str(SONIC_PI / "elec_*snare*.flac"), str(SONIC_PI / "elec_*kick*.flac"),
                              str(SONIC_PI / "drum_cymbal_*.flac"))),
                Source("lmms drums", "oneshot_kit", split, _files(str(LMMS / "drums" / "*.ogg"))),
                Source("drum loops", "drum_loop", split,
                       _files(str(SONIC_PI / "loop_amen.flac"), str(SONIC_PI / "loop_breakbeat.flac"),
                              str(SONIC_PI / "loop_compus.flac"), str(LMMS / "beats" / "break0*.ogg"),
                              str(LMMS / "beats" / "jungle01.ogg"), str(LMMS / "beats" / "909beat01.ogg"),
                              str(LMMS / "beats" / "house_loop01.ogg")))]
    bass = _files(str(SONIC_PI / "bass_*.flac"), str(LMMS / "basses" / "*.ogg"),
                  str(LMMS / "instruments" / "bassslap*.ogg"))
    other = _files(*(str(LMMS / "instruments" / f"{n}*.ogg") for n in
                     ("cello", "church_organ", "e_organ", "e_piano", "flute", "harpsichord", "piano",
                      "steel_guitar", "trumpet", "violin")),
                   str(LMMS / "stringsnpads" / "*strings*.ogg"), str(LMMS / "stringsnpads" / "juno_pad01.ogg"),
                   str(SONIC_PI / "ambi_piano.flac"), str(SONIC_PI / "guit_*.flac"))
    loops = _files(str(LMMS / "latin" / "latin_guitar*.ogg"), str(LMMS / "latin" / "latin_brass01.ogg"))
    out += [Source(p.name, "bass", split, (p,)) for p in bass if _split_of(p, HELDOUT_BASS) == split]
    out += [Source(p.name, "other", split, (p,)) for p in other if _split_of(p, HELDOUT_OTHER) == split]
    out += [Source(p.name, "other_loop", split, (p,)) for p in loops if _split_of(p, HELDOUT_OTHER) == split]
    if KTUBERLING.is_dir():
        for lang in sorted(p.name for p in KTUBERLING.iterdir() if p.is_dir()):
            if (lang in HELDOUT_VOICES) == (split == "heldout"):
                files = _files(str(KTUBERLING / lang / "*.ogg"))
                if files:
                    out.append(Source(f"ktuberling {lang}", "voice", split, files))
    if split == "train" and KLETTRES.is_dir():
        skip = KLETTRES_LEFT_OUT + KLETTRES_FAULTY
        for lang in sorted(p.name for p in KLETTRES.iterdir() if p.is_dir() and p.name not in skip):
            files = _files(str(KLETTRES / lang / "alpha" / "*.ogg"), str(KLETTRES / lang / "syllab" / "*.ogg"))
            if files:
                out.append(Source(f"klettres {lang}", "voice", split, files))
    return out


def padded(path: str | Path) -> bool:
    """Whether `path` is a take that its package pads with silence to a fixed length (klettres: up to
    several seconds around a half-second syllable); such takes are trimmed before use (singing.take)."""
    return Path(path).is_relative_to(KLETTRES)


def soundfonts() -> list[Path]:
    """The soundfonts the training renderer may use (FluidR3_GM, and csound's GM bank if installed)."""
    return [allowed(p) for p in (FLUID_SF2, CSOUND_SF2) if p.exists()]
