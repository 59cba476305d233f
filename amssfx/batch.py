"""Batch: one job (process, stems, or a saved recipe) over many files; this module finds the files and
does one of them (`run_item`), batch_workers.py runs many on worker processes or a Dask cluster.

The work of one file is `run_item`, the same everywhere: on this machine a pool of worker processes
(one per core, each engine on one thread) runs it; with a cluster address, the workers of a Dask
distributed scheduler the user started do (they must see the same paths). A file's outputs are
written atomically, then a record of what made them (`<outdir>/.amssfx-batch/<name>.json`: the
input's sha256, the job, the model's sha256, the outputs); a later run skips a file whose record
matches and whose outputs exist, so a batch resumes where it stopped. One bad file fails alone.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import AmssfxError, Cancelled, UsageValueError
from .recipe import STEM_FILE_FORMAT, Recipe

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
RECORD_DIR = ".amssfx-batch"
RECORD_SCHEMA = "amssfx.batch-item"
SUMMARY_NAME = "batch-summary.json"
KINDS = ("process", "stems")


@dataclass(frozen=True)
class Job:
    """What is done to every file: `process` (one output per file: the recipe rendered) or `stems` (a
    folder of stems per file, with the recipe's processed mix if it has a query, or one .stem.mp4 with
    format 'stem.mp4'). The recipe is the one the CLI, the app and the API render (recipe.py); its
    input is each file in turn, and it names the model by path and sha256."""

    kind: str
    recipe: Recipe
    format_name: str | None = None
    force: bool = False
    nonfinite: str = "error"
    corrupt: str = "stop"
    run_id: str = ""  # which run wrote a record: a file a lost cluster worker finished is this run's, not skipped

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UsageValueError(f"a batch job is one of {KINDS}, not {self.kind!r}")
        if not (self.recipe.model_path and self.recipe.model_sha256):
            raise UsageValueError("a batch job's recipe names its model by path and sha256")

    @property
    def model_path(self) -> str:
        return str(self.recipe.model_path)

    @property
    def model_sha256(self) -> str:
        return str(self.recipe.model_sha256)

    @property
    def query(self) -> str | None:
        return self.recipe.query or None

    def spec(self) -> dict:
        """What a file's outputs depend on, besides the input and the model (compared on resume)."""
        r = self.recipe
        spec = {"kind": self.kind, "query": self.query, "mask": r.mask, "direct_gain": r.direct_gain,
                "chain": list(r.chain), "format": self.format_name,
                "mix": r.mix.to_dict() if r.mix is not None and not r.mix.unity else None}
        if r.regions:
            spec["regions"] = r.regions.to_list()
        return spec


@dataclass(frozen=True)
class Item:
    input: str  # absolute path
    name: str   # where its outputs go, relative to the output folder, without suffix ("album/song")


def _walk(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_SUFFIXES]
    return found


def _glob_base(pattern: str) -> Path:
    parts = []
    for part in Path(pattern).parts:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def find_inputs(inputs: list[str], out_dir) -> list[Item]:
    """The audio files named by `inputs` (files, folders searched recursively, globs), each with an
    output name that mirrors its place under the folder (or glob root) it was found in. Files inside
    `out_dir` are left out; names never collide (a clash gets the input's suffix, then a short hash)."""
    out = Path(out_dir).resolve()
    found: list[tuple[Path, PurePosixPath]] = []
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            pairs = [(f, p) for f in _walk(p)]
        elif p.is_file():
            pairs = [(p, p.parent)]
        elif any(c in arg for c in "*?["):
            base = _glob_base(arg)
            pairs = []
            for m in sorted(glob.glob(arg, recursive=True)):
                mp = Path(m)
                if mp.is_dir():
                    pairs += [(f, base) for f in _walk(mp)]
                elif mp.is_file() and mp.suffix.lower() in AUDIO_SUFFIXES and not mp.name.startswith("."):
                    pairs.append((mp, base))
        else:
            raise UsageValueError(f"{arg}: no such file or folder")
        for f, base in pairs:
            fa = f.resolve()
            if fa == out or out in fa.parents:
                continue
            try:
                rel = fa.relative_to(base.resolve())
            except ValueError:
                rel = Path(fa.name)
            found.append((fa, PurePosixPath(rel.as_posix())))
    seen, unique = set(), []
    for fa, rel in found:
        if fa not in seen:
            seen.add(fa)
            unique.append((fa, rel))
    if not unique:
        raise UsageValueError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in {' '.join(inputs)[:200]}")
    names = [str(rel.with_suffix("")) for _, rel in unique]
    for fix in (lambda fa, n: f"{n}_{fa.suffix.lstrip('.').lower()}",
                lambda fa, n: f"{n}_{hashlib.sha1(str(fa).encode()).hexdigest()[:8]}"):
        counts = {n.lower(): 0 for n in names}
        for n in names:
            counts[n.lower()] += 1
        names = [fix(fa, n) if counts[n.lower()] > 1 else n for (fa, _), n in zip(unique, names)]
    return [Item(str(fa), n) for (fa, _), n in zip(unique, names)]


def outputs_of(job: Job, item: Item, out_dir) -> list[Path]:
    """The files one item writes (besides its record and a process output's session sidecar)."""
    from .audio_io import OUTPUT_FORMATS
    from .stems import DEFAULT_STEMS, stem_path

    base = Path(out_dir) / item.name
    if job.kind == "process":
        fmt = job.format_name or "wav32f"
        return [base.with_name(base.name + "." + OUTPUT_FORMATS[fmt][0].lower())]
    if job.format_name == STEM_FILE_FORMAT:
        return [base.with_name(base.name + ".stem.mp4")]
    fmt = job.format_name or "wav24"
    names = (["processed"] if job.query else []) + [n for n, _ in DEFAULT_STEMS]
    return [stem_path(item.input, base, n, fmt) for n in names]


def record_path(out_dir, item: Item) -> Path:
    return Path(out_dir) / RECORD_DIR / (item.name + ".json")


def _clear_leftovers(targets: list[Path]) -> None:
    """Temp files a killed worker left for these targets (the engine's writer, the stem file's work folder)."""
    import shutil

    for t in targets:
        if not t.parent.is_dir():
            continue
        for pattern in (f".{t.stem}.*.part{t.suffix}", f".{t.name}.*part*", f".{t.name}.amssfx.json.part"):
            for left in t.parent.glob(pattern):
                if left.is_dir():
                    shutil.rmtree(left, ignore_errors=True)
                else:
                    left.unlink(missing_ok=True)


_ENGINES: dict = {}


def _engine(job: Job):
    """One engine per worker process and model, on one thread (the pool has one worker per core)."""
    from .engine import Engine
    from .hashing import file_sha256

    if job.model_path not in _ENGINES:
        sha = file_sha256(job.model_path)
        if sha != job.model_sha256:
            raise AmssfxError(f"the model {job.model_path} on this worker is not the one the batch was started "
                              f"with (sha256 {sha[:12]}…, expected {job.model_sha256[:12]}…)")
        _ENGINES[job.model_path] = Engine(job.model_path, threads=1)
    return _ENGINES[job.model_path]


def result(item: Item, status: str, reason: str = "", outputs=(), audio_seconds: float = 0.0,
            seconds: float = 0.0) -> dict:
    return {"input": item.input, "name": item.name, "status": status, "reason": reason,
            "outputs": [str(o) for o in outputs], "audio_seconds": round(audio_seconds, 3),
            "seconds": round(seconds, 3)}


def run_item(job: Job, item: Item, out_dir: str, cancel=None) -> dict:
    """Do the job on one file; returns its result (status ok, skipped or failed, with a one-line reason).
    Raises only Cancelled and KeyboardInterrupt."""
    from . import recipe as rc
    from .audio_io import probe
    from .hashing import file_sha256

    t0 = time.perf_counter()
    targets = outputs_of(job, item, out_dir)
    rec_path = record_path(out_dir, item)
    try:
        sha = file_sha256(item.input)
        record = _read_record(rec_path)
        want = {"input_sha256": sha, "job": job.spec(), "model_sha256": job.model_sha256}
        if record and all(record.get(k) == v for k, v in want.items()) and all(t.exists() for t in targets):
            if job.run_id and record.get("run") == job.run_id:  # finished by a worker lost before it reported
                return result(item, "ok", "", targets, probe(item.input).duration_seconds, time.perf_counter() - t0)
            return result(item, "skipped", "done by an earlier run (same input, job and model)", targets)
        # Outputs of an earlier run of this batch (it left a record) are redone; other files are not ours.
        force = job.force or record is not None
        frames_s = probe(item.input).duration_seconds
        engine = _engine(job)
        targets[0].parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(targets)
        recipe = job.recipe.but(input=item.input)
        if job.kind == "process":
            rc.render(recipe.but(output=str(targets[0]), output_format=job.format_name or "wav32f"), engine,
                      force, job.nonfinite, cancel=cancel, corrupt=job.corrupt)
        elif job.format_name == STEM_FILE_FORMAT:
            rc.render_stem_file(item.input, engine, targets[0], force, job.nonfinite, cancel=cancel,
                                corrupt=job.corrupt)
        else:
            rc.render_all(recipe, engine, targets[0].parent, mix=bool(job.query), format_name=job.format_name or "wav24",
                          force=force, nonfinite=job.nonfinite, cancel=cancel, corrupt=job.corrupt)
        write_record(rec_path, {"schema": RECORD_SCHEMA, "version": 1, "input": item.input, **want,
                                 "run": job.run_id, "outputs": [str(t) for t in targets]})
        return result(item, "ok", "", targets, frames_s, time.perf_counter() - t0)
    except Cancelled:
        raise
    except AmssfxError as e:
        return result(item, "failed", one_line(str(e)), seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one file's unexpected failure never stops the others
        return result(item, "failed", one_line(f"{type(e).__name__}: {e}"), seconds=time.perf_counter() - t0)


def one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _read_record(path: Path) -> dict | None:
    try:
        if path.stat().st_size > 1 << 20:
            return None
        d = json.loads(path.read_text(encoding="utf-8"))
        return d if isinstance(d, dict) and d.get("schema") == RECORD_SCHEMA else None
    except (OSError, ValueError, RecursionError):
        return None


def write_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["Job", "Item", "find_inputs", "outputs_of", "record_path", "run_item", "result", "AUDIO_SUFFIXES",
           "KINDS"]
