"""Command line: one engine underneath every command; exit 0 ok, 1 runtime error, 2 usage error."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .errors import AmssfxError, EffectChainError, MaskError, QueryError, UsageValueError

USAGE_ERRORS = (QueryError, MaskError, EffectChainError, UsageValueError)
DEFAULT_LACH_QUERY = "separate vocals, drums, bass"


class UsageError(AmssfxError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _hl(text: str) -> tuple[int, int]:
    try:
        h, l = text.split(":")
        return int(h), int(l)
    except ValueError:
        raise UsageError(f"latent channel {text!r} must be HEAD:LACH, e.g. 1:4") from None


def _gain(text: str) -> tuple[int, int, float]:
    hl, eq, g = text.partition("=")
    if not eq:
        raise UsageError(f"--gain {text!r} must be HEAD:LACH=GAIN, e.g. 0:2=0.5")
    h, l = _hl(hl)
    try:
        return h, l, float(g)
    except ValueError:
        raise UsageError(f"--gain {text!r}: gain must be a number") from None


def _stem_mix(specs):
    from .mix import StemMix

    try:
        return StemMix.parse(specs)
    except UsageValueError as e:
        raise UsageError(str(e) if str(e).startswith("--mix") else f"--mix: {e}") from None


def build_mask(shape, solos=(), mutes=(), gains=(), base=None) -> np.ndarray:
    """The mask of --solo, --mute and --gain (over `base`, a session's mask): amssfx/mask.py."""
    from .mask import compose

    try:
        return compose(tuple(shape), [_hl(s) for s in solos], [_hl(s) for s in mutes], [_gain(g) for g in gains], base)
    except MaskError as e:
        raise UsageError(f"--solo/--mute/--gain: {e}") from None


class _Progress:
    def __init__(self, label: str, enabled: bool = True):
        self.label, self.enabled = label, enabled
        self.t0 = time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.enabled or (now - self._last < 0.5 and done < total):
            return
        self._last = now
        pct = 100.0 * done / max(total, 1)
        sys.stderr.write(f"\r{self.label} {pct:5.1f}%  ({now - self.t0:.1f} s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _engine(args, preview: bool = False):
    from .engine import Engine

    return Engine(getattr(args, "model", None), threads=getattr(args, "threads", None), preview=preview)


def _report(rep, quiet=False) -> None:
    for w in rep.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if rep.clipped:
        print(f"warning: {rep.clipped} samples were above full scale and clipped by the integer output "
              f"format; use --format wav32f to keep them", file=sys.stderr)
    if not quiet:
        dur = rep.frames / max(rep.sample_rate, 1)
        print(f"wrote {rep.output} ({dur:.2f} s, {rep.channels} ch, {rep.sample_rate} Hz) in {rep.seconds:.2f} s "
              f"({dur / max(rep.seconds, 1e-9):.1f}x real time)")


def _add_mask_flags(p) -> None:
    p.add_argument("--solo", action="append", default=[], metavar="H:L", help="keep only these latent channels")
    p.add_argument("--mute", action="append", default=[], metavar="H:L", help="mute a latent channel")
    p.add_argument("--gain", action="append", default=[], metavar="H:L=G", help="set a latent channel's gain")
    p.add_argument("--mix", action="append", default=[], metavar="STEM=DB,...",
                   help="stem mixer over the result: gain in dB (-60 to +12, or -inf/mute) and pan (-1 to 1) of "
                        "vocals, drums, bass, other, e.g. 'vocals=-6,drums=+3,bass=pan:-0.5'")
    p.add_argument("--fx", action="append", default=[], metavar="SPEC",
                   help="effect after the model: 'reverb:room_size=0.7', JSON, or a .json file")


def _add_model_flags(p) -> None:
    p.add_argument("--model", help="ONNX model (default: the bundled model)")
    p.add_argument("--threads", type=int, help="chunks processed in parallel, one core each (default: all cores)")


AUDIO_FORMATS = ["wav16", "wav24", "wav32f", "flac16", "flac24"]


def _add_output_flags(p, stem_file: bool = False) -> None:
    if stem_file:
        p.add_argument("--format", dest="format_name", choices=AUDIO_FORMATS + ["stem.mp4"],
                       help="stem files' format (default: wav24); stem.mp4 writes one Native Instruments Stems "
                            "file (the mix, drums, bass, other, vocals as AAC) for Traktor and Mixxx")
    else:
        p.add_argument("--format", dest="format_name", choices=AUDIO_FORMATS,
                       help="output format (default: wav32f for .wav, flac24 for .flac)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--repair-nonfinite", action="store_true",
                   help="replace NaN/Inf input samples with silence (with a warning) instead of stopping")
    p.add_argument("--on-corrupt", choices=["stop", "skip"], default="stop",
                   help="a block of a compressed file that cannot be decoded: stop with its position (default), "
                        "or process the rest with that span silent and say which span it was")


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
    from .stems import sanitize

    if args.query or args.solo or args.no_defaults:
        raise UsageError("stems --format stem.mp4 holds the mix and its four stems; --query, --solo and "
                         "--no-defaults do not apply")
    out = Path(args.output)
    if out.suffix.lower() != ".mp4":  # a folder: <folder>/<input name>.stem.mp4
        out = out / f"{sanitize(Path(args.input).stem)}.stem.mp4"
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
    from .player import play_file

    engine = _engine(args, preview=True)
    chain = [e for f in args.fx for e in parse_fx(f)]
    mask = build_mask(engine.mask_shape, args.solo, args.mute, args.gain)
    params = engine.params(args.query, mask, mix=_stem_mix(args.mix) if args.mix else None)
    stats = play_file(engine, args.input, params, chain, duration=args.duration, device=args.device)
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
    s.add_argument("--quiet", action="store_true")
    _add_mask_flags(s)
    s.add_argument("--model", help="ONNX model (default: the session's, or the bundled model)")
    _add_output_flags(s, stem_file=True)
    s.set_defaults(fn=cmd_batch)

    s = sub.add_parser("play", help="preview through the default audio device")
    s.add_argument("input")
    s.add_argument("--query", "-q", required=True)
    s.add_argument("--duration", type=float, help="seconds to play (default: the whole file)")
    s.add_argument("--device", help="sounddevice output device name or index")
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


def _stop_on_signals() -> list[int]:
    """SIGTERM (a logout, a service stop, a batch scheduler) and SIGHUP stop a command as Ctrl-C does:
    the write under way is abandoned and its temp file removed. Returns the list the signals received
    are appended to."""
    import signal
    import threading

    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        return received

    def stop(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    return received


def run_main(build, argv: list[str], prog: str) -> int:
    """Parse and run a command of the parser `build()` makes: errors are one line on stderr
    (exit 2 for usage, 1 otherwise, 130 on Ctrl-C); --debug shows the traceback instead."""
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    received = _stop_on_signals()
    try:
        args = build().parse_args(argv)
        if not hasattr(args, "fn"):
            build().print_help()
            return 2
        return args.fn(args)
    except (UsageError, *USAGE_ERRORS) as e:
        if debug:
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except AmssfxError as e:
        if debug:
            raise
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        import signal

        signum = received[-1] if received else signal.SIGINT
        print(f"{prog}: interrupted ({signal.Signals(signum).name}); no partial output was kept", file=sys.stderr)
        return 128 + int(signum)
    except Exception as e:  # noqa: BLE001 - the last line of defence prints one line
        if debug:
            raise
        print(f"{prog}: unexpected error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    return run_main(build_parser, sys.argv[1:] if argv is None else argv, "amssfx")


if __name__ == "__main__":
    sys.exit(main())
