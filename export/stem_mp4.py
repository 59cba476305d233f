"""Native Instruments Stems files (`.stem.mp4`), as Traktor and Mixxx load them.

One MP4 holds five AAC tracks: the mix first (what a player without stem support plays), then
drums, bass, other and vocals, in that order; the `moov/udta/stem` box carries a JSON object with
the names and colours of the four stems (and the mastering settings Traktor reads, both off).

ffmpeg (Debian's `ffmpeg`) encodes and multiplexes the tracks with the index (`moov`) after the
media data; the `stem` box is then added to that index in place, so no media offset moves.
AAC is lossy: a stem file is for DJ software; the WAV/FLAC stems stay the exact ones.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import struct
import subprocess
from pathlib import Path

from ..errors import AmssfxError, AudioWriteError

# (stem name in amssfx, name shown by DJ software, colour): the order of the tracks after the mix.
NI_STEMS = (("drums", "Drums", "#009E73"), ("bass", "Bass", "#D55E00"), ("other", "Other", "#CC79A7"),
            ("vocals", "Vocals", "#56B4E9"))
# Sample rates the AAC encoder takes; other rates are refused (never resampled silently).
AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
BITRATE = "256k"  # per stereo track, as NI's own stem creator
CONTAINER = ("moov", "udta", "trak", "mdia", "minf", "stbl", "edts", "dinf")


def metadata() -> dict:
    """The JSON of the `stem` box."""
    return {"version": 1,
            "mastering_dsp": {
                "compressor": {"enabled": False, "input_gain": 0.5, "output_gain": 0.5, "threshold": 0,
                               "dry_wet": 50, "attack": 0.003, "release": 0.3, "ratio": 3, "hp_cutoff": 300},
                "limiter": {"enabled": False, "threshold": 0, "ceiling": -0.35, "release": 0.05}},
            "stems": [{"name": label, "color": colour} for _, label, colour in NI_STEMS]}


def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if not exe:
        raise AmssfxError("writing .stem.mp4 needs ffmpeg (Debian: apt-get install ffmpeg)")
    return exe


def check_rate(sample_rate: int) -> None:
    if sample_rate not in AAC_RATES:
        raise AudioWriteError(f"a .stem.mp4 holds AAC, which takes {', '.join(map(str, AAC_RATES))} Hz; the input "
                              f"is {sample_rate} Hz (export WAV or FLAC stems instead, or resample it first)")


def _boxes(data: bytes, start: int, end: int):
    """(type, box start, box size, header size) of the boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise AudioWriteError(f"malformed MP4 box {kind!r} at byte {pos}")
        yield kind.decode("latin-1"), pos, size, header
        pos += size


def _find(data: bytes, path: tuple[str, ...], start: int = 0, end: int | None = None):
    end = len(data) if end is None else end
    for kind, pos, size, header in _boxes(data, start, end):
        if kind == path[0]:
            return (pos, size, header) if len(path) == 1 else _find(data, path[1:], pos + header, pos + size)
    return None


def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode("latin-1")) + payload


def add_stem_box(path: Path, meta: dict) -> None:
    """Put `meta` as the `stem` box into moov/udta of the MP4 at `path` (moov must be the last box)."""
    data = bytearray(Path(path).read_bytes())
    moov = _find(data, ("moov",))
    if moov is None or moov[0] + moov[1] != len(data) or moov[2] != 8:
        raise AudioWriteError(f"{path}: the MP4 index is not at the end of the file; cannot add the stem box")
    stem = _box("stem", json.dumps(meta).encode())
    udta = _find(data, ("udta",), moov[0] + 8, moov[0] + moov[1])
    if udta is None:
        data += _box("udta", stem)
    else:
        pos, size, header = udta
        if header != 8:
            raise AudioWriteError(f"{path}: unexpected 64-bit udta box")
        data[pos + size:pos + size] = stem
        struct.pack_into(">I", data, pos, size + len(stem))
    struct.pack_into(">I", data, moov[0], len(data) - moov[0])
    Path(path).write_bytes(bytes(data))


def read_stem_metadata(path) -> dict:
    """The JSON of a stem file's `stem` box (AmssfxError if it has none)."""
    data = Path(path).read_bytes()
    box = _find(data, ("moov", "udta", "stem"))
    if box is None:
        raise AmssfxError(f"{path}: not a stem file (no moov/udta/stem box)")
    pos, size, header = box
    return json.loads(data[pos + header:pos + size])


def write_stem_mp4(mix: Path, stems: dict[str, Path], out_path, force: bool = False, bitrate: str = BITRATE) -> Path:
    """Encode `mix` and the four `stems` (WAV files of one rate and length) into `out_path`, atomically."""
    out_path = Path(out_path)
    if out_path.exists() and not force:
        raise AudioWriteError(f"{out_path}: exists; use --force to overwrite")
    missing = [n for n, _, _ in NI_STEMS if n not in stems]
    if missing:
        raise AudioWriteError(f"a stem file needs the stems {[n for n, _, _ in NI_STEMS]}; missing {missing}")
    inputs = [Path(mix)] + [Path(stems[n]) for n, _, _ in NI_STEMS]
    tmp = out_path.with_name(f".{out_path.name}.{secrets.token_hex(6)}.part.mp4")
    cmd = [ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for p in inputs:
        cmd += ["-i", str(p)]
    for k in range(len(inputs)):
        cmd += ["-map", f"{k}:a"]
    cmd += ["-c:a", "aac", "-b:a", bitrate, "-disposition:a:0", "default"]
    for k, (_, label, _) in enumerate(NI_STEMS, start=1):
        cmd += [f"-disposition:a:{k}", "0", f"-metadata:s:a:{k}", f"title={label}",
                f"-metadata:s:a:{k}", f"handler_name={label}"]
    cmd += ["-metadata:s:a:0", "title=Mix", "-metadata:s:a:0", "handler_name=Mix", "-f", "mp4", str(tmp)]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            lines = (run.stderr or "").strip().splitlines()
            raise AudioWriteError(f"{out_path}: ffmpeg failed: {lines[-1][:160] if lines else run.returncode}")
        add_stem_box(tmp, metadata())
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return out_path


__all__ = ["NI_STEMS", "AAC_RATES", "metadata", "check_rate", "add_stem_box", "read_stem_metadata",
           "write_stem_mp4"]
