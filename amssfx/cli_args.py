"""The command lines' shared parts: the parser that fails in one line, the flags several commands take
and their parsing (latent channels, stem mix, regions, output), the engine, progress and report lines,
and `run_main`: one-line errors, exit codes, SIGTERM/SIGHUP as Ctrl-C (the user CLI and the lab's)."""
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


def _regions(start, end, spans=()):
    """--start/--end (one region) or --region A-B (repeatable), in seconds."""
    from .regions import Regions

    try:
        if spans:
            if start is not None or end is not None:
                raise UsageError("give --start/--end or --region, not both")
            pairs = []
            for text in spans:
                a, dash, b = text.partition("-")
                if not dash:
                    raise UsageError(f"--region {text!r} must be START-END in seconds, e.g. 30-45.5")
                try:
                    pairs.append((float(a), float(b)))
                except ValueError:
                    raise UsageError(f"--region {text!r}: START and END must be numbers of seconds") from None
            return Regions.make(pairs)
        return Regions.parse(start, end)
    except UsageValueError as e:
        raise UsageError(f"--start/--end/--region: {e}") from None


def _add_region_flags(p, of: str = "") -> None:
    of = f" {of}" if of else ""
    p.add_argument("--start", type=float, metavar="SECONDS",
                   help=f"edit only from here{of} (the rest is the input as is)")
    p.add_argument("--end", type=float, metavar="SECONDS", help=f"edit only up to here{of}")
    p.add_argument("--region", action="append", default=[], metavar="START-END",
                   help=f"edit only this time range{of}, in seconds (repeatable); 10 ms fades inside each edge")


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
