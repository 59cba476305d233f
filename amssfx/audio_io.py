"""Audio files: block-wise reading with checks, and atomic writing that never touches the input."""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .errors import AudioReadError, AudioWriteError, NonFiniteAudioError

READ_FORMATS = ("WAV", "FLAC", "OGG", "MP3")
# Output formats by name -> (soundfile format, subtype).
OUTPUT_FORMATS = {
    "wav16": ("WAV", "PCM_16"), "wav24": ("WAV", "PCM_24"), "wav32f": ("WAV", "FLOAT"),
    "flac16": ("FLAC", "PCM_16"), "flac24": ("FLAC", "PCM_24"),
}
DEFAULT_FORMAT_BY_SUFFIX = {".wav": "wav32f", ".flac": "flac24"}
NONFINITE_POLICIES = ("error", "repair")

# Below this, a file holds no audible music (its Nyquist frequency is 500 Hz); every rate from it up is
# processed and written back at its own rate.
MIN_SAMPLE_RATE = 1000
CORRUPT_POLICIES = ("stop", "skip")


@dataclass
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate


def _wav_declared_frames(path: Path, channels: int) -> int | None:
    """Frames the RIFF header's data chunk declares, or None if not a plain PCM/float WAV."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        block_align = None
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                return None
            cid, size = hdr[:4], int.from_bytes(hdr[4:], "little")
            if cid == b"fmt ":
                fmt = f.read(size)
                block_align = int.from_bytes(fmt[12:14], "little")
                if size % 2:
                    f.read(1)
            elif cid == b"data":
                if not block_align or size == 0xFFFFFFFF:
                    return None
                return size // block_align
            else:
                f.seek(size + (size % 2), 1)


def probe(path: str | os.PathLike) -> AudioInfo:
    """Open and check an audio file; raise AudioReadError with a one-line reason."""
    p = Path(path)
    if not p.exists():
        raise AudioReadError(f"{p}: file not found")
    if p.is_dir():
        raise AudioReadError(f"{p}: is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioReadError(f"{p}: file is empty (0 bytes)")
    try:
        info = sf.info(str(p))
    except Exception as e:  # noqa: BLE001 - libsndfile reports many kinds of failure
        raise AudioReadError(f"{p}: not a readable audio file (WAV, FLAC, OGG or MP3): "
                             f"{str(e).splitlines()[-1][:160]}") from None
    if info.frames <= 0:
        raise AudioReadError(f"{p}: the file has no audio frames")
    if info.channels <= 0 or info.samplerate <= 0:
        raise AudioReadError(f"{p}: invalid header ({info.channels} channels, {info.samplerate} Hz)")
    if info.samplerate < MIN_SAMPLE_RATE:
        raise AudioReadError(f"{p}: sample rate {info.samplerate} Hz; amssfx processes {MIN_SAMPLE_RATE} Hz "
                             f"and above")
    out = AudioInfo(p, int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype)
    if info.format == "WAV":
        declared = _wav_declared_frames(p, info.channels)
        if declared is not None and declared > info.frames:
            out.warnings.append(f"{p}: file is truncated: the header declares {declared} frames, "
                                f"only {info.frames} are present; processing those")
    return out


def _check_finite(block: np.ndarray, offset: int, policy: str, warnings: list[str], path: Path) -> np.ndarray:
    bad = ~np.isfinite(block)
    if not bad.any():
        return block
    ch, pos = np.nonzero(bad)
    where = ", ".join(f"frame {offset + int(t)} channel {int(c)}" for c, t in list(zip(ch, pos))[:3])
    if policy == "error":
        raise NonFiniteAudioError(f"{path}: {int(bad.sum())} NaN/Inf samples in a block, first at {where}; "
                                  f"use --repair-nonfinite to replace them with silence")
    warnings.append(f"{path}: replaced {int(bad.sum())} NaN/Inf samples with 0, first at {where}")
    return np.where(bad, np.float32(0), block)


class AudioReader:
    """Iterate a file in (channels, frames) float32 blocks; never loads the whole file."""

    def __init__(self, path: str | os.PathLike, nonfinite: str = "error", corrupt: str = "stop"):
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}")
        if corrupt not in CORRUPT_POLICIES:
            raise ValueError(f"corrupt must be one of {CORRUPT_POLICIES}")
        self.info = probe(path)
        self.nonfinite = nonfinite
        self.corrupt = corrupt

    @property
    def warnings(self) -> list[str]:
        return self.info.warnings

    def blocks(self, block_frames: int = 65536, start: int = 0) -> Iterator[np.ndarray]:
        """(channels, frames) blocks from `start`. A block that cannot be decoded (a corrupt frame
        of a compressed file) stops the read with its real position, or with corrupt='skip' is
        replaced by silence over the span that cannot be decoded, with a warning naming it: the
        output keeps the input's length either way."""
        p = self.info.path
        pos = start
        f = None
        try:
            f = self._open(start)
            while True:
                try:
                    data = f.read(block_frames, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as e:
                    f.close()  # a decoder that failed is not trusted again: every probe reopens the file
                    bad, resume = self._locate(pos, block_frames)
                    if self.corrupt == "stop":
                        raise AudioReadError(
                            f"{p}: cannot decode frames from {bad} ({bad / self.info.sample_rate:.2f} s): "
                            f"{str(e).splitlines()[-1][:100]}; --on-corrupt skip processes the rest with "
                            f"that span silent") from None
                    self.warnings.append(f"{p}: frames {bad}-{resume} ({bad / self.info.sample_rate:.2f}-"
                                         f"{resume / self.info.sample_rate:.2f} s) cannot be decoded; "
                                         f"they are silent in the output")
                    g = self._open(pos)
                    good = g.read(bad - pos, dtype="float32", always_2d=True) if bad > pos else \
                        np.zeros((0, self.info.channels), np.float32)
                    g.close()
                    data = np.concatenate([good, np.zeros((resume - bad, self.info.channels), np.float32)])
                    f = self._open(resume)
                if data.shape[0] == 0:
                    break
                block = _check_finite(np.ascontiguousarray(data.T), pos, self.nonfinite, self.warnings, p)
                pos += data.shape[0]
                yield block
        except (NonFiniteAudioError, AudioReadError, GeneratorExit):
            raise
        except Exception as e:  # noqa: BLE001
            raise AudioReadError(f"{p}: read failed at frame {pos}: {str(e).splitlines()[-1][:160]}") from None
        finally:
            if f is not None:
                f.close()
        if pos < self.info.frames:
            self.warnings.append(f"{p}: file is truncated: {self.info.frames} frames declared, "
                                 f"{pos} readable; processed those")
            self.info.frames = pos

    def _open(self, at: int):
        f = sf.SoundFile(str(self.info.path))
        if at:
            f.seek(min(at, self.info.frames))
        return f

    def _decodes(self, a: int, n: int) -> bool:
        try:
            with self._open(a) as f:
                f.read(n, dtype="float32")
            return True
        except (sf.LibsndfileError, RuntimeError):
            return False

    def _locate(self, pos: int, block_frames: int, step: int = 4096) -> tuple[int, int]:
        """(first frame that fails to decode, first frame from which decoding works again) in the
        block at `pos`, to `step` frames; the end of the file if it never recovers."""
        end = self.info.frames
        bad = next((a for a in range(pos, min(pos + block_frames, end), step)
                    if not self._decodes(a, min(step, end - a))), pos)
        resume = bad + step
        while resume < end and not self._decodes(resume, min(step, end - resume)):
            resume += step
        return bad, min(resume, end)


def read(path: str | os.PathLike, nonfinite: str = "error") -> tuple[np.ndarray, int]:
    """Whole file as (channels, frames) float32 (for short files and tests)."""
    r = AudioReader(path, nonfinite)
    blocks = list(r.blocks())
    return np.concatenate(blocks, 1), r.info.sample_rate


def resolve_format(path: str | os.PathLike, name: str | None) -> tuple[str, str]:
    suffix = Path(path).suffix.lower()
    if name is None:
        if suffix not in DEFAULT_FORMAT_BY_SUFFIX:
            raise AudioWriteError(f"{path}: unknown output extension {suffix!r}; use .wav or .flac")
        name = DEFAULT_FORMAT_BY_SUFFIX[suffix]
    if name not in OUTPUT_FORMATS:
        raise AudioWriteError(f"unknown output format {name!r}; choose from {', '.join(OUTPUT_FORMATS)}")
    fmt, subtype = OUTPUT_FORMATS[name]
    if suffix != "." + fmt.lower():
        raise AudioWriteError(f"{path}: format {name} needs the extension .{fmt.lower()}")
    return fmt, subtype


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


class AtomicWriter:
    """Write blocks to a temp file beside `path`, renamed over it only on success.

    Integer formats clip out-of-range samples (never wrap) and count them in `clipped`.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, format_name: str | None = None,
                 force: bool = False, protect: tuple = ()):
        self.path = Path(path)
        for src in protect:
            if _same_file(self.path, Path(src)):
                raise AudioWriteError(f"{self.path}: refusing to overwrite the input file")
        if self.path.exists() and not force:
            raise AudioWriteError(f"{self.path}: exists; use --force to overwrite")
        if self.path.is_dir():
            raise AudioWriteError(f"{self.path}: is a folder")
        self.format, self.subtype = resolve_format(self.path, format_name)
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.clipped = 0
        self.frames = 0
        self._file = None
        self._tmp: str | None = None

    def __enter__(self) -> "AtomicWriter":
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.exists():
            raise AudioWriteError(f"{self.path}: folder {parent} does not exist")
        try:
            # A fresh hidden name in the same folder (so the rename is atomic); created by
            # libsndfile with the usual permissions.
            self._tmp = str(parent / f".{self.path.stem}.{secrets.token_hex(6)}.part{self.path.suffix}")
            self._file = sf.SoundFile(self._tmp, "w", self.sample_rate, self.channels, self.subtype,
                                      format=self.format)
        except Exception as e:  # noqa: BLE001
            self._discard()
            raise AudioWriteError(f"{self.path}: cannot write: {_reason(e)}") from None
        return self

    def write(self, block: np.ndarray) -> None:
        """block: (channels, frames) float32."""
        if block.shape[0] != self.channels:
            raise AudioWriteError(f"block has {block.shape[0]} channels, the file {self.channels}")
        if not np.isfinite(block).all():
            raise AudioWriteError(f"{self.path}: refusing to write NaN/Inf samples")
        data = block.T
        if self.subtype != "FLOAT":
            over = np.abs(data) > 1.0
            n = int(over.sum())
            if n:
                self.clipped += n
                data = np.clip(data, -1.0, 1.0)
        try:
            self._file.write(data)
        except Exception as e:  # noqa: BLE001
            raise AudioWriteError(f"{self.path}: write failed: {_reason(e, self.path.parent)}") from None
        self.frames += block.shape[1]

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._file.close()
            self._file = None
            os.replace(self._tmp, self.path)
            self._tmp = None
        except Exception as e:  # noqa: BLE001
            self._discard()
            raise AudioWriteError(f"{self.path}: cannot finish writing: {_reason(e, self.path.parent)}") from None

    def _discard(self) -> None:
        if self._tmp and self._file is not None:
            # Closing a SoundFile syncs it to disk first (0.44 s for 230 MB here), which a cancel
            # would wait for; emptying the doomed file first leaves nothing to sync.
            try:
                os.truncate(self._tmp, 0)
            except OSError:
                pass
        if self._file is not None:
            try:
                self._file.close()
            except Exception:  # noqa: BLE001 - the temp file is removed regardless
                pass
            self._file = None
        if self._tmp and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None


def _reason(e: Exception, folder: Path | None = None) -> str:
    """A short reason; libsndfile reports a full disk only as 'System error', so look."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    if folder is not None:
        try:
            if shutil.disk_usage(folder).free < (1 << 20):
                return "No space left on device (the disk is full)"
        except OSError:
            pass
    return str(e).splitlines()[-1][:160] if str(e) else type(e).__name__


def write(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, format_name: str | None = None,
          force: bool = False, protect: tuple = ()) -> AtomicWriter:
    """Write a whole (channels, frames) array atomically; returns the writer (for `clipped`)."""
    w = AtomicWriter(path, sample_rate, audio.shape[0], format_name, force, protect)
    with w:
        w.write(np.asarray(audio, np.float32))
    return w
