"""Stem export: vocals, drums, bass, other, plus any asked-for queries and latent-channel solos."""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .engine import Engine, RenderParams, Report, solo
from .errors import AudioWriteError
from .mix import STEM_QUERIES
from .query import Query

DEFAULT_STEMS = tuple(STEM_QUERIES.items())  # the stems the mixer rebalances (mix.py)


def sanitize(name: str) -> str:
    """A safe file-name stem: letters, digits, '-', '_' and '.' only; no path parts."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip()).strip("._")
    return s[:80] or "stem"


@dataclass(frozen=True)
class StemJob:
    name: str
    params: RenderParams


def plan_stems(engine: Engine, queries: list[str] = (), solos: list[tuple[int, int]] = (),
               solo_query: str | Query = "separate vocals, drums, bass", defaults: bool = True) -> list[StemJob]:
    jobs = [StemJob(n, engine.params(q)) for n, q in DEFAULT_STEMS] if defaults else []
    for q in queries:
        p = engine.params(q)
        jobs.append(StemJob(sanitize(p.query.text.replace(",", "")), p))
    for h, l in solos:
        jobs.append(StemJob(f"lach_{h}_{l}", engine.params(solo_query, solo(engine.mask_shape, h, l))))
    names = [j.name for j in jobs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise AudioWriteError(f"two stems would share the name {sorted(dup)[0]!r}")
    return jobs


def stem_path(in_path, out_dir, name: str, format_name: str) -> Path:
    """Where the `name` file of an export of `in_path` goes: `<out_dir>/<input stem>_<name>.<ext>`."""
    from .audio_io import OUTPUT_FORMATS

    ext = OUTPUT_FORMATS[format_name][0].lower() if format_name in OUTPUT_FORMATS else "wav"
    return Path(out_dir) / f"{sanitize(Path(in_path).stem)}_{name}.{ext}"


def stem_file_path(in_path, out_dir) -> Path:
    """Where a DJ stem file of `in_path` goes: `<out_dir>/<input stem>.stem.mp4`."""
    return Path(out_dir) / f"{sanitize(Path(in_path).stem)}.stem.mp4"


def export_stems(engine: Engine, in_path, out_dir, jobs: list[StemJob], format_name: str = "wav24",
                 force: bool = False, progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None, nonfinite: str = "error",
                 corrupt: str = "stop") -> list[Report]:
    """One file per job in `out_dir` (`<input stem>_<name>.<ext>`); each written atomically."""
    from .audio_io import probe

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AudioWriteError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    info = probe(in_path)
    targets = [stem_path(in_path, out_dir, j.name, format_name) for j in jobs]
    if not force:
        existing = [t for t in targets if t.exists()]
        if existing:
            raise AudioWriteError(f"{existing[0]}: exists; use --force to overwrite")
    reports = []
    total = info.frames * len(jobs)
    for k, (job, target) in enumerate(zip(jobs, targets)):
        def step(done, _n, k=k):
            if progress:
                progress(k * info.frames + done, total)
        reports.append(engine.process_file(in_path, target, job.params, format_name=format_name, force=force,
                                           progress=step, cancel=cancel, nonfinite=nonfinite, corrupt=corrupt))
    return reports


__all__ = ["DEFAULT_STEMS", "sanitize", "stem_path", "stem_file_path", "plan_stems", "export_stems", "StemJob"]
