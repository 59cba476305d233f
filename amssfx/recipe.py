"""The use cases every front end shares: a recipe (input, query, latent-channel mask, effect chain,
model, output) rendered to a file with its sidecar, exported as a mix and stems, saved and replayed.

The CLI, the app and the Python API call these functions; none of them builds a session, checks a
model's hash or names an export file on its own.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from . import session as sess
from .engine import Engine, RenderParams, Report
from .errors import AmssfxError, AudioWriteError, Cancelled, SessionError
from .hashing import file_sha256
from .mix import StemMix
from .regions import Regions

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Recipe:
    """Everything that makes a result; `mask` None is all ones, `grid` the app's controls."""

    input: str
    query: str
    mask: list | None = None
    direct_gain: float = 1.0
    chain: list = field(default_factory=list)
    model_path: str | None = None
    model_sha256: str | None = None
    output: str | None = None
    output_format: str | None = None
    grid: dict | None = None
    mix: StemMix | None = None  # the stem mixer over the result (None: all stems at unity)
    regions: Regions | None = None  # edit only these time ranges (None: the whole file)

    def but(self, **changes) -> "Recipe":
        """A copy with some fields changed (None leaves a field as it is)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def params(self, engine: Engine) -> RenderParams:
        return engine.params(self.query, self.mask, self.direct_gain, self.mix)


def load(path) -> Recipe:
    """The recipe of a session file or sidecar (validated: sessions.py)."""
    s = sess.load(path)
    return Recipe(s.input, s.query, s.mask, s.direct_gain, list(s.chain), s.model_path, s.model_sha256,
                  s.output, s.output_format, s.grid, StemMix.from_dict(s.mix) if s.mix else None,
                  Regions.from_list(s.regions) if s.regions else None)


def session_of(recipe: Recipe, engine: Engine, output: str | Path | None = None) -> sess.Session:
    """The session that replays `recipe` with `engine`'s model (its path and sha256 recorded)."""
    mask = recipe.params(engine).mask_array().tolist()
    out = output if output is not None else recipe.output
    return sess.Session(str(Path(recipe.input).resolve()), recipe.query, mask, float(recipe.direct_gain),
                        list(recipe.chain), str(Path(engine.model.path).resolve()), file_sha256(engine.model.path),
                        str(Path(out).resolve()) if out else None, recipe.output_format, recipe.grid,
                        recipe.mix.to_dict() if recipe.mix and not recipe.mix.unity else None,
                        recipe.regions.to_list() if recipe.regions else None)


def save(recipe: Recipe, engine: Engine, path) -> Path:
    return session_of(recipe, engine).save(path)


def check_model(recipe: Recipe, engine: Engine) -> None:
    """SessionError if the recipe was made with another model than `engine`'s (its result would differ)."""
    if recipe.model_sha256:
        sha = file_sha256(engine.model.path)
        if sha != recipe.model_sha256:
            raise SessionError(f"the session was made with model sha256 {recipe.model_sha256[:12]}…, "
                               f"but {engine.model.path} is {sha[:12]}…")


def engine_for(recipe: Recipe, threads: int | None = None) -> Engine:
    """The engine of the recipe's model (the bundled one if it names none)."""
    return Engine(recipe.model_path, threads=threads)


def render(recipe: Recipe, engine: Engine, force: bool = False, nonfinite: str = "error",
           progress: Progress | None = None, cancel: threading.Event | None = None, corrupt: str = "stop") -> Report:
    """Render the recipe into its output and write its sidecar: both appear, or neither does."""
    if not recipe.output:
        raise AmssfxError("the recipe has no output file")
    check_model(recipe, engine)
    rep = engine.process_file(recipe.input, recipe.output, recipe.params(engine), recipe.chain,
                              recipe.output_format, force, nonfinite, progress=progress, cancel=cancel,
                              corrupt=corrupt, regions=recipe.regions)
    sidecar = sess.sidecar_path(recipe.output)
    try:
        session_of(recipe, engine).save(sidecar)
    except (OSError, KeyboardInterrupt) as e:  # an output never stands without its sidecar
        Path(recipe.output).unlink(missing_ok=True)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise AmssfxError(f"cannot write the sidecar {sidecar}: {e.strerror or e}; the output was removed") from None
    return rep


def render_all(recipe: Recipe, engine: Engine, folder, stems=("vocals", "drums", "bass", "other"), mix: bool = True,
           format_name: str = "wav24", force: bool = False, nonfinite: str = "error",
           progress: Progress | None = None, cancel: threading.Event | None = None,
           corrupt: str = "stop") -> list[Report]:
    """The processed mix (`<input>_processed.<ext>` with its sidecar) and the named stems into `folder`,
    with one progress over all of them."""
    from .audio_io import probe
    from .stems import DEFAULT_STEMS, StemJob, export_stems, stem_path

    unknown = set(stems) - {n for n, _ in DEFAULT_STEMS}
    if unknown:
        raise AmssfxError(f"unknown stems {sorted(unknown)}; choose from {[n for n, _ in DEFAULT_STEMS]}")
    frames = probe(recipe.input).frames
    jobs = [StemJob(n, engine.params(q)) for n, q in DEFAULT_STEMS if n in stems]
    total = frames * (int(mix) + len(jobs))
    reports = []
    if mix:
        Path(folder).mkdir(parents=True, exist_ok=True)
        out = stem_path(recipe.input, folder, "processed", format_name)
        reports.append(render(recipe.but(output=str(out), output_format=format_name), engine, force, nonfinite,
                              progress=(lambda d, _t: progress(d, total)) if progress else None, cancel=cancel,
                              corrupt=corrupt))
    if jobs:
        offset = frames if mix else 0
        reports += export_stems(engine, recipe.input, folder, jobs, format_name, force,
                                progress=(lambda d, _t: progress(offset + d, total)) if progress else None,
                                cancel=cancel, nonfinite=nonfinite, corrupt=corrupt)
    return reports


STEM_FILE_FORMAT = "stem.mp4"


def render_stem_file(input_path, engine: Engine, out_path, force: bool = False, nonfinite: str = "error",
                     progress: Progress | None = None, cancel: threading.Event | None = None,
                     corrupt: str = "stop") -> Path:
    """A Native Instruments Stems file (`.stem.mp4`): the input mix and its drums, bass, other and
    vocals stems as AAC tracks (export/stem_mp4.py). The stems are rendered into a hidden folder beside
    the output, removed on every way out."""
    import shutil
    import tempfile

    from .audio_io import AtomicWriter, AudioReader, probe
    from .export.stem_mp4 import NI_STEMS, check_rate, ffmpeg, write_stem_mp4
    from .stems import DEFAULT_STEMS, StemJob, export_stems, stem_path

    out_path = Path(out_path)
    if out_path.exists() and not force:
        raise AudioWriteError(f"{out_path}: exists; use --force to overwrite")
    info = probe(input_path)
    check_rate(info.sample_rate)
    ffmpeg()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent))
    try:
        mix = work / "mix.wav"
        reader = AudioReader(input_path, nonfinite, corrupt)
        with AtomicWriter(mix, info.sample_rate, info.channels, "wav32f") as w:
            for block in reader.blocks():
                w.write(block)
        queries = dict(DEFAULT_STEMS)
        jobs = [StemJob(n, engine.params(queries[n])) for n, _, _ in NI_STEMS]
        export_stems(engine, input_path, work, jobs, "wav32f", progress=progress, cancel=cancel,
                     nonfinite=nonfinite, corrupt=corrupt)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled; no output was written")
        files = {j.name: stem_path(input_path, work, j.name, "wav32f") for j in jobs}
        return write_stem_mp4(mix, files, out_path, force)
    finally:
        shutil.rmtree(work, ignore_errors=True)


__all__ = ["Recipe", "load", "save", "session_of", "check_model", "engine_for", "render", "render_all",
           "render_stem_file", "STEM_FILE_FORMAT"]
