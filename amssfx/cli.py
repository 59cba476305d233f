"""Command line: one engine underneath every command; exit 0 ok, 1 runtime error, 2 usage error."""
from __future__ import annotations

import argparse
import sys
import time


from .errors import AmssfxError

from .cli_args import (DEFAULT_LACH_QUERY, USAGE_ERRORS, UsageError, _add_mask_flags, _add_model_flags,  # noqa: F401
                       _add_output_flags, _add_region_flags, _engine, _hl, _Parser, _Progress, _regions, _report,
                       _stem_mix, build_mask, run_main)


def cmd_process(args) -> int:
    from dataclasses import replace

    from . import recipe as rc
    from .effects import parse_fx
    from .query import caveat

    base = rc.load(args.session) if args.session else rc.Recipe("", "")
    r = base.but(input=args.input, query=args.query, output=args.output, output_format=args.format_name,
                 model_path=args.model)
    if not r.input or (args.query is None and not base.query) or not r.output:
        raise UsageError("process needs IN, --query and -o (or a --session that has them)")
    if args.fx:
        r = replace(r, chain=[e for f in args.fx for e in parse_fx(f)])
    if args.mix:
        r = replace(r, mix=_stem_mix(args.mix))
    if args.start is not None or args.end is not None or args.region:
        r = replace(r, regions=_regions(args.start, args.end, args.region))
    args.model = r.model_path
    engine = _engine(args)
    if args.solo or args.mute or args.gain:  # flags over the session's mask; its app controls no longer apply
        r = replace(r, mask=build_mask(engine.mask_shape, args.solo, args.mute, args.gain, r.mask).tolist(), grid=None)
    warning = caveat(r.params(engine).query)
    if warning:
        print(f"amssfx: warning: {warning}", file=sys.stderr)
    rep = rc.render(r, engine, args.force, "repair" if args.repair_nonfinite else "error",
                    progress=_Progress("processing", not args.quiet), corrupt=args.on_corrupt)
    _report(rep, args.quiet)
    return 0


def cmd_lach(args) -> int:
    from .engine import solo

    engine = _engine(args)
    params = engine.params(args.query, solo(engine.mask_shape, args.head, args.lach), direct_gain=0.0)
    rep = engine.process_file(args.input, args.output, params, None, args.format_name, args.force,
                              "repair" if args.repair_nonfinite else "error",
                              progress=_Progress(f"latent channel {args.head}:{args.lach}", not args.quiet))
    _report(rep, args.quiet)
    return 0


def cmd_stems(args) -> int:
    from .stems import export_stems, plan_stems

    engine = _engine(args)
    if args.format_name == "stem.mp4":
        return _stem_file(args, engine)
    jobs = plan_stems(engine, args.query, [_hl(s) for s in args.solo], defaults=not args.no_defaults)
    fmt = args.format_name or "wav24"
    reports = export_stems(engine, args.input, args.output, jobs, fmt, args.force,
                           progress=_Progress("stems", not args.quiet),
                           nonfinite="repair" if args.repair_nonfinite else "error", corrupt=args.on_corrupt)
    for r in reports:
        _report(r, args.quiet)
    return 0


def _stem_file(args, engine) -> int:
    from pathlib import Path

    from . import recipe as rc
    from .stems import stem_file_path

    if args.query or args.solo or args.no_defaults:
        raise UsageError("stems --format stem.mp4 holds the mix and its four stems; --query, --solo and "
                         "--no-defaults do not apply")
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":  # a folder: <folder>/<input name>.stem.mp4
        out = stem_file_path(args.input, out)
    t0 = time.perf_counter()
    rc.render_stem_file(args.input, engine, out, args.force, "repair" if args.repair_nonfinite else "error",
                        progress=_Progress("stems", not args.quiet), corrupt=args.on_corrupt)
    if not args.quiet:
        print(f"wrote {out} (mix, drums, bass, other, vocals) in {time.perf_counter() - t0:.2f} s")
    return 0


def cmd_batch(args) -> int:
    from .cli_batch import run

    return run(args)


def cmd_play(args) -> int:
    from .effects import parse_fx
    from .playback import play_file

    engine = _engine(args, preview=True)
    chain = [e for f in args.fx for e in parse_fx(f)]
    mask = build_mask(engine.mask_shape, args.solo, args.mute, args.gain)
    params = engine.params(args.query, mask, mix=_stem_mix(args.mix) if args.mix else None)
    from .audio_io import probe

    dur = probe(args.input).duration_seconds
    if args.start is not None and not 0 <= args.start < dur:
        raise UsageError(f"--start {args.start:g}: must be from 0 to the file's end ({dur:.1f} s)")
    regions = _regions(None, None, args.region) if args.region else None

    shown = []

    def show(pos: float, total: float) -> None:
        shown.append(pos)
        sys.stderr.write(f"\r{int(pos // 60)}:{pos % 60:04.1f} / {int(total // 60)}:{total % 60:04.1f}")
        sys.stderr.flush()

    try:
        stats = play_file(engine, args.input, params, chain, duration=args.duration, device=args.device,
                          start_seconds=args.start or 0.0, regions=regions, position=None if args.quiet else show)
    finally:
        if shown:
            sys.stderr.write("\n")  # the position line ends before a report or an error
    for w in stats.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"played {stats.seconds_played:.2f} s")
    print(f"underruns: {stats.underruns}")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_bench

    run_bench(args)
    return 0


def cmd_app(args) -> int:
    try:
        from .gui.app import main as app_main
    except ImportError as e:
        raise AmssfxError(f"the app needs the 'gui' extra (PyQt6, sounddevice, pyqtgraph): {e}") from None
    return app_main(args.input, args.model, screenshot=args.screenshot, quit_after=args.quit_after, play=args.play)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="amssfx", description="Change one source of a mix with a text query.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    from . import __version__

    p.add_argument("--version", action="version", version=f"amssfx {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    s = sub.add_parser("process", help="process a file with a query")
    s.add_argument("input", nargs="?")
    s.add_argument("--query", "-q")
    s.add_argument("-o", "--output")
    s.add_argument("--session", help="a recipe (.amssfx.json) to reproduce; flags override it")
    _add_region_flags(s)
    s.add_argument("--quiet", action="store_true")
    _add_mask_flags(s)
    _add_model_flags(s)
    _add_output_flags(s)
    s.set_defaults(fn=cmd_process)

    s = sub.add_parser("lach", help="hear one latent channel alone (the paper's manipulate_lach)")
    s.add_argument("input")
    s.add_argument("--head", type=int, required=True)
    s.add_argument("--lach", type=int, required=True)
    s.add_argument("--query", default=DEFAULT_LACH_QUERY,
                   help=f"query that conditions the latent channels (default: {DEFAULT_LACH_QUERY!r})")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--quiet", action="store_true")
    _add_model_flags(s)
    _add_output_flags(s)
    s.set_defaults(fn=cmd_lach)

    s = sub.add_parser("stems", help="export vocals, drums, bass, other (+ queries and solos)")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True, help="output folder (or, with --format stem.mp4, a .stem.mp4 file)")
    s.add_argument("--query", action="append", default=[], help="an extra stem made by this query")
    s.add_argument("--solo", action="append", default=[], metavar="H:L", help="an extra latent-channel stem")
    s.add_argument("--no-defaults", action="store_true", help="only the --query and --solo stems")
    s.add_argument("--quiet", action="store_true")
    _add_model_flags(s)
    _add_output_flags(s, stem_file=True)
    s.set_defaults(fn=cmd_stems)

    s = sub.add_parser("batch", help="one job over many files: process (--query/--session) or --stems")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders (searched recursively) or globs")
    s.add_argument("-o", "--output", required=True, help="output folder; it mirrors the inputs' folders")
    s.add_argument("--query", "-q", help="process every file with this query")
    s.add_argument("--session", help="apply this saved recipe (.amssfx.json) to every file; flags override it")
    s.add_argument("--stems", action="store_true",
                   help="export vocals, drums, bass and other per file (and the processed mix with --query)")
    s.add_argument("--workers", type=int, help="files processed at once on this machine (default: one per core)")
    s.add_argument("--cluster", metavar="ADDRESS",
                   help="run on the workers of this Dask distributed scheduler, e.g. tcp://host:8786")
    _add_region_flags(s, "of every file")
    s.add_argument("--quiet", action="store_true")
    _add_mask_flags(s)
    s.add_argument("--model", help="ONNX model (default: the session's, or the bundled model)")
    _add_output_flags(s, stem_file=True)
    s.set_defaults(fn=cmd_batch)

    s = sub.add_parser("play", help="preview through the default audio device")
    s.add_argument("input")
    s.add_argument("--query", "-q", required=True)
    s.add_argument("--duration", type=float, help="seconds to play (default: the whole file)")
    s.add_argument("--start", type=float, metavar="SECONDS", help="start playing here (default: the beginning)")
    s.add_argument("--region", action="append", default=[], metavar="START-END",
                   help="hear the edit only in this time range, in seconds (repeatable), as process --region")
    s.add_argument("--device", help="sounddevice output device name or index")
    s.add_argument("--quiet", action="store_true", help="no position line while playing")
    _add_mask_flags(s)
    _add_model_flags(s)
    s.set_defaults(fn=cmd_play)

    s = sub.add_parser("bench", help="speed and memory figures (not a test)")
    s.add_argument("--model", help="ONNX model (default: bundled)")
    s.add_argument("--checkpoint", help="torch checkpoint for the eager comparison (default: bundled)")
    s.add_argument("--quick", action="store_true", help="short inputs, for a smoke run")
    s.add_argument("--batch", action="store_true", help="only the batch figures: throughput with 1 worker and "
                                                          "one per core, and the speed-up between them")
    s.add_argument("--readme", metavar="FILE", help="also replace the bench section of this file (docs/performance.md; "
                                                          "with --batch, the batch section of README.md)")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("app", help="open the desktop app")
    s.add_argument("input", nargs="?")
    s.add_argument("--model")
    s.add_argument("--play", action="store_true", help="start playing once the file is loaded")
    s.add_argument("--screenshot", help="save a screenshot of the window before quitting (with --quit-after)")
    s.add_argument("--quit-after", type=float, help="close the app after this many seconds")
    s.set_defaults(fn=cmd_app)

    return p


def main(argv=None) -> int:
    return run_main(build_parser, sys.argv[1:] if argv is None else argv, "amssfx")


if __name__ == "__main__":
    sys.exit(main())
