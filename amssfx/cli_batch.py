"""`amssfx batch`: the command line of the batch (amssfx/batch.py, amssfx/batch_workers.py)."""
from __future__ import annotations

import json
import sys
import time

from .cli_args import UsageError, _engine, _regions, _stem_mix, build_mask


class _BatchProgress:
    """One line on stderr: files done of all, failures, throughput in audio minutes per minute, ETA."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled = total, enabled
        self.t0 = time.perf_counter()
        self.counts = {"ok": 0, "skipped": 0, "failed": 0, "cancelled": 0}
        self.audio = 0.0
        self.work = 0.0

    def __call__(self, r: dict) -> None:
        self.counts[r["status"]] = self.counts.get(r["status"], 0) + 1
        self.audio += r["audio_seconds"]
        if not self.enabled:
            return
        done = sum(self.counts.values())
        wall = time.perf_counter() - self.t0
        rate = self.audio / max(wall, 1e-9)
        left = self.total - done
        eta = wall / max(done, 1) * left
        line = (f"\rbatch {done}/{self.total} files  ok {self.counts['ok']}  skipped {self.counts['skipped']}  "
                f"failed {self.counts['failed']}  {rate:.1f} audio min/min  ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        if r["status"] == "failed":
            what = r["reason"] if r["input"] in r["reason"] else f"{r['input']}: {r['reason']}"
            sys.stderr.write(f"\r{' ' * 100}\rfailed: {what}\n")
        sys.stderr.write(line + ("\n" if done == self.total else ""))
        sys.stderr.flush()


def _batch_table(rows: list[dict]) -> str:
    lines = [f"{'status':<9} {'seconds':>8}  file"]
    for r in rows:
        tail = f"  ({r['reason']})" if r["reason"] and r["status"] != "ok" else ""
        lines.append(f"{r['status']:<9} {r['seconds']:>8.1f}  {r['name']}{tail}")
    return "\n".join(lines)


def run(args) -> int:
    from pathlib import Path

    from . import batch as bt
    from . import batch_workers as workers
    from . import recipe as rc
    from .effects import parse_fx
    from .hashing import file_sha256

    base = rc.load(args.session) if args.session else rc.Recipe("", "")
    query = args.query if args.query is not None else (base.query or None)
    kind = "stems" if args.stems else "process"
    if kind == "process" and not query:
        raise UsageError("batch needs --query or --session (or --stems for stems only)")
    if args.format_name == "stem.mp4" and kind != "stems":
        raise UsageError("--format stem.mp4 goes with --stems")
    if args.format_name == "stem.mp4" and query:
        raise UsageError("a .stem.mp4 holds the input mix and its four stems; --query does not apply")
    args.model = args.model or base.model_path
    engine = _engine(args)
    if args.session:
        rc.check_model(base, engine)
    chain = [e for f in args.fx for e in parse_fx(f)] if args.fx else list(base.chain)
    mask = base.mask
    if args.solo or args.mute or args.gain:
        mask = build_mask(engine.mask_shape, args.solo, args.mute, args.gain, mask).tolist()
    mix = _stem_mix(args.mix) if args.mix else base.mix
    if mix is not None and not query:
        raise UsageError("the stem mixer (--mix) works over a query's result; give --query too")
    if query:
        engine.params(query, mask, base.direct_gain, mix)  # a bad query or mask stops here, before any file
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise UsageError(f"--workers must be from 1 to 256, got {args.workers}")
    fmt = args.format_name or (base.output_format if kind == "process" else None)
    regions = base.regions
    if args.start is not None or args.end is not None or args.region:
        regions = _regions(args.start, args.end, args.region)
    if regions is not None and args.format_name == "stem.mp4":
        raise UsageError("a .stem.mp4 holds the input mix and its four stems whole; regions do not apply")
    if regions is not None and not query:
        raise UsageError("regions (--start/--end/--region) limit a query's edit; give --query too")
    model = str(Path(engine.model.path).resolve())
    recipe = rc.Recipe("", query or "", mask, float(base.direct_gain), chain, model, file_sha256(model),
                       mix=mix if mix is not None and not mix.unity else None, regions=regions)
    job = bt.Job(kind, recipe, fmt, args.force, "repair" if args.repair_nonfinite else "error", args.on_corrupt)
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o {out}: exists and is not a folder")
    items = bt.find_inputs(args.inputs, out)
    out.mkdir(parents=True, exist_ok=True)
    progress = _BatchProgress(len(items), not args.quiet)
    results: list[dict] = []

    def on_result(r):
        results.append(r)
        progress(r)

    t0 = time.perf_counter()
    import os

    n = args.workers or min(os.cpu_count() or 1, len(items))
    where = f"the Dask cluster at {args.cluster}" if args.cluster else f"{n} worker{'s' * (n > 1)} on this machine"
    if not args.quiet:
        print(f"{len(items)} files -> {out} on {where}", file=sys.stderr)
    try:
        if args.cluster:
            workers.run_cluster(job, items, out, args.cluster, on_result)
        else:
            workers.run_local(job, items, out, args.workers, on_result)
    finally:
        summary = workers.write_summary(out, job, items, results, time.perf_counter() - t0)
    rows = json.loads(summary.read_text())["files"]
    if not args.quiet:
        print(_batch_table(rows))
    counts = json.loads(summary.read_text())["counts"]
    print(f"{counts['ok']} done, {counts['skipped']} skipped, {counts['failed']} failed; summary: {summary}")
    return 1 if counts["failed"] else 0
