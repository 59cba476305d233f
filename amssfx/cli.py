"""Command line: one engine underneath every command; exit 0 ok, 1 runtime error, 2 usage error."""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .errors import AmssfxError, EffectChainError, MaskError, QueryError

USAGE_ERRORS = (QueryError, MaskError, EffectChainError)
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


def build_mask(shape, solos=(), mutes=(), gains=(), base=None) -> np.ndarray:
    """Ones (or `base`); any --solo zeroes the rest; then --mute and --gain apply."""
    from .engine import solo as solo_mask

    m = np.ones(shape, np.float32) if base is None else np.asarray(base, np.float32).copy()
    if solos:
        m = sum(solo_mask(shape, *_hl(s)) for s in solos)
    for s in mutes:
        m[np.nonzero(solo_mask(shape, *_hl(s)))] = 0.0
    for s in gains:
        h, l, g = _gain(s)
        m[np.nonzero(solo_mask(shape, h, l))] = g
    return m


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
    p.add_argument("--fx", action="append", default=[], metavar="SPEC",
                   help="effect after the model: 'reverb:room_size=0.7', JSON, or a .json file")


def _add_model_flags(p) -> None:
    p.add_argument("--model", help="ONNX model (default: the bundled model)")
    p.add_argument("--threads", type=int, help="chunks processed in parallel, one core each (default: all cores)")


def _add_output_flags(p) -> None:
    p.add_argument("--format", dest="format_name", choices=["wav16", "wav24", "wav32f", "flac16", "flac24"],
                   help="output format (default: wav32f for .wav, flac24 for .flac)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--repair-nonfinite", action="store_true",
                   help="replace NaN/Inf input samples with silence (with a warning) instead of stopping")


def cmd_process(args) -> int:
    from . import session as sess
    from .effects import parse_fx
    from .model_runtime import OnnxModel

    s = sess.load(args.session) if args.session else None
    inp = args.input or (s.input if s else None)
    query = args.query if args.query is not None else (s.query if s else None)
    out = args.output or (s.output if s else None)
    if not inp or query is None or not out:
        raise UsageError("process needs IN, --query and -o (or a --session that has them)")
    model_path = args.model or (s.model_path if s else None)
    args.model = model_path
    engine = _engine(args)
    from .hashing import file_sha256
    sha = file_sha256(engine.model.path)
    if s and s.model_sha256 and s.model_sha256 != sha:
        raise sess.SessionError(f"the session was made with model sha256 {s.model_sha256[:12]}…, "
                                f"but {engine.model.path} is {sha[:12]}…")
    chain = [e for f in args.fx for e in parse_fx(f)] if args.fx else (s.chain if s else [])
    base = s.mask if (s and s.mask is not None) else None
    mask = build_mask(engine.mask_shape, args.solo, args.mute, args.gain, base)
    params = engine.params(query, mask, s.direct_gain if s else 1.0)
    fmt = args.format_name or (s.output_format if s else None)
    rep = engine.process_file(inp, out, params, chain, fmt, args.force,
                              "repair" if args.repair_nonfinite else "error",
                              progress=_Progress("processing", not args.quiet))
    sess.Session(str(Path(inp).resolve()), params.query.text, mask.tolist(), params.direct_gain, chain,
                 str(Path(engine.model.path).resolve()), sha, str(Path(out).resolve()), fmt
                 ).save(sess.sidecar_path(out))
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
    jobs = plan_stems(engine, args.query, [_hl(s) for s in args.solo], defaults=not args.no_defaults)
    fmt = args.format_name or "wav24"
    reports = export_stems(engine, args.input, args.output, jobs, fmt, args.force,
                           progress=_Progress("stems", not args.quiet),
                           nonfinite="repair" if args.repair_nonfinite else "error")
    for r in reports:
        _report(r, args.quiet)
    return 0


def cmd_play(args) -> int:
    from .effects import parse_fx
    from .player import play_file

    engine = _engine(args, preview=True)
    chain = [e for f in args.fx for e in parse_fx(f)]
    mask = build_mask(engine.mask_shape, args.solo, args.mute, args.gain)
    params = engine.params(args.query, mask)
    stats = play_file(engine, args.input, params, chain, duration=args.duration, device=args.device)
    for w in stats.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"played {stats.seconds_played:.2f} s")
    print(f"underruns: {stats.underruns}")
    return 0


def cmd_export_onnx(args) -> int:
    try:
        from .export.onnx_export import export_checkpoint
    except ImportError as e:
        raise AmssfxError(f"export needs the 'export' extra (torch, onnx): {e}") from None
    path = export_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path}")
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


def cmd_flops(args) -> int:
    from .nn.flops import report

    print(report(args.config))
    return 0


def _family_weights(text: str) -> dict[str, float]:
    """FAMILY=W,... as a dict; the dataset's own check decides what is allowed."""
    from .data.dataset import family_weight_list

    out = {}
    for item in filter(None, text.split(",")):
        name, _, w = item.partition("=")
        try:
            out[name.strip()] = float(w)  # no "=": w is "", not a number either
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: expected FAMILY=WEIGHT with a number as WEIGHT") from None
    try:
        family_weight_list(out)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return out


def cmd_train(args) -> int:
    from .data.render import render_bank
    from .nn.train import native_bf16, train

    if args.mask_output and not args.init:
        raise UsageError("--mask-output adds a mask to the model given by --init")
    if args.widen and not args.init:
        raise UsageError("--widen widens the model given by --init")
    if args.lr_end is not None and not 0 <= args.lr_end <= args.lr:
        raise UsageError(f"--lr-end must be between 0 and --lr ({args.lr:g}), got {args.lr_end:g}")
    if not 0 <= args.eq_db <= 24:
        raise UsageError(f"--eq-db must be between 0 and 24 dB, got {args.eq_db:g}")
    if not 0 <= args.coherent <= 1:
        raise UsageError(f"--coherent must be between 0 and 1, got {args.coherent:g}")
    if not 0 <= args.lach_floor < 1 / 16 or not 0 <= args.lach_weight <= 10:
        raise UsageError(f"--lach-floor must be in [0, 1/16) and --lach-weight in [0, 10], "
                         f"got {args.lach_floor:g} and {args.lach_weight:g}")
    if args.bf16 and not native_bf16():
        print("amssfx: warning: --bf16 ignored: this CPU has no native bfloat16 (AVX512-BF16 or AMX), where "
              "bfloat16 autocast runs about ten times slower than float32; training in float32", file=sys.stderr)
        args.bf16 = False
    from .data.dataset import parse_banks

    try:
        train_banks = parse_banks(args.train_bank)
    except ValueError as e:
        raise UsageError(f"--train-bank: {e}") from None
    defaults = {"data/train": (args.train_minutes, 1, "fluidsynth"), "data/valid": (6, 2, "fluidsynth"),
                "data/rec_train": (80, 11, "recorded"), "data/rec_valid": (8, 12, "recorded-heldout")}
    for bank in [b for b, _ in train_banks] + [args.valid_bank]:
        if not list(Path(bank).glob("song_*.npy")):  # banks are regenerated from their seeds, never committed
            if bank not in defaults:
                raise UsageError(f"{bank} holds no songs; render it with `amssfx data render --out {bank}`")
            minutes, seed, material = defaults[bank]
            print(f"rendering {minutes:g} minutes of {material} songs into {bank} (seed {seed})")
            render_bank(bank, minutes, seed, jobs=os.cpu_count() or 1, material=material)
    res = train(args.run, args.train_bank, args.valid_bank, args.config, hours=args.hours, batch=args.batch,
                lr=args.lr, threads=args.threads, checkpoint_minutes=args.checkpoint_minutes, init=args.init,
                compile=args.compile, bf16=args.bf16, ema_decay=args.ema_decay,
                mask_output=args.mask_output, mask_lr_mult=10.0 if args.mask_output else 1.0,
                family_weights=args.family_weights, widen=args.widen, lr_end=args.lr_end,
                eq_db=args.eq_db, coherent=args.coherent, lach_floor=args.lach_floor, lach_weight=args.lach_weight)
    print(res)
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import HELD_OUT, evaluate, update_section

    if args.clips < 2 or args.lach_clips < 0 or not 1 <= args.seconds <= 60:
        raise UsageError("--clips must be 2 or more, --lach-clips 0 or more, --seconds between 1 and 60")
    if args.threads is not None and not 1 <= args.threads <= 256:
        raise UsageError(f"--threads must be between 1 and 256, got {args.threads}")
    for name in args.held_out or list(HELD_OUT):
        out = Path(args.out_dir) / HELD_OUT[name].table if args.out_dir else None
        table = evaluate(args.model, name, Path(args.bank_root) / f"test_{name}", out, clips=args.clips,
                         seconds=args.seconds, lach_clips=args.lach_clips, threads=args.threads,
                         channels_beside_model=name == "recorded")
        if args.doc:
            update_section(args.doc, f"evaluation-{name}", table)
        print(table)
    return 0


def cmd_render(args) -> int:
    from .data.render import render_bank

    if args.jobs < 1:
        raise UsageError(f"--jobs must be 1 or more, got {args.jobs}")
    res = render_bank(args.out, args.minutes, args.seed, jobs=args.jobs, material=args.material)
    print(f"rendered {res['rendered_seconds']:.0f} s of 4-stem audio in {res['elapsed_seconds']:.1f} s "
          f"({res['audio_seconds_per_second']:.1f} s of audio per second)")
    return 0


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
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--query", action="append", default=[], help="an extra stem made by this query")
    s.add_argument("--solo", action="append", default=[], metavar="H:L", help="an extra latent-channel stem")
    s.add_argument("--no-defaults", action="store_true", help="only the --query and --solo stems")
    s.add_argument("--quiet", action="store_true")
    _add_model_flags(s)
    _add_output_flags(s)
    s.set_defaults(fn=cmd_stems)

    s = sub.add_parser("play", help="preview through the default audio device")
    s.add_argument("input")
    s.add_argument("--query", "-q", required=True)
    s.add_argument("--duration", type=float, help="seconds to play (default: the whole file)")
    s.add_argument("--device", help="sounddevice output device name or index")
    _add_mask_flags(s)
    _add_model_flags(s)
    s.set_defaults(fn=cmd_play)

    s = sub.add_parser("export-onnx", help="export a checkpoint to ONNX with the amssfx contract")
    s.add_argument("checkpoint")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(fn=cmd_export_onnx)

    s = sub.add_parser("bench", help="speed and memory figures (not a test)")
    s.add_argument("--model", help="ONNX model (default: bundled)")
    s.add_argument("--checkpoint", help="torch checkpoint for the eager comparison (default: bundled)")
    s.add_argument("--quick", action="store_true", help="short inputs, for a smoke run")
    s.add_argument("--readme", metavar="FILE", help="also replace the bench section of this file (docs/performance.md)")
    s.set_defaults(fn=cmd_bench)

    s = sub.add_parser("app", help="open the desktop app")
    s.add_argument("input", nargs="?")
    s.add_argument("--model")
    s.add_argument("--play", action="store_true", help="start playing once the file is loaded")
    s.add_argument("--screenshot", help="save a screenshot of the window before quitting (with --quit-after)")
    s.add_argument("--quit-after", type=float, help="close the app after this many seconds")
    s.set_defaults(fn=cmd_app)

    s = sub.add_parser("flops", help="GFLOP per second of audio of a configuration")
    s.add_argument("config", nargs="?", default="all")
    s.set_defaults(fn=cmd_flops)

    from .nn.config import DEFAULT as DEFAULT_CONFIG  # no torch: a dataclass and its instances

    s = sub.add_parser("train", help="train or resume a model (extra 'train')")
    s.add_argument("--run", default=f"training/{DEFAULT_CONFIG.name}",
                   help="run folder (default: the committed run of the bundled model, which resumes)")
    s.add_argument("--train-bank", default="data/train:1,data/rec_train:2",
                   help="stem banks, FOLDER[:WEIGHT],... (a bank is drawn in proportion to its weight); "
                        "data/train and data/rec_train are rendered if empty")
    s.add_argument("--train-minutes", type=float, default=540.0, help="minutes of songs to render for training")
    s.add_argument("--valid-bank", default="data/rec_valid",
                   help="validation bank (default: held-out recorded sources, rendered if empty)")
    s.add_argument("--config", default=DEFAULT_CONFIG.name, help="configuration of a new run")
    s.add_argument("--init", help="start from this checkpoint")
    s.add_argument("--hours", type=float, default=1.0)
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--lr", type=float, default=5e-4)
    s.add_argument("--lr-end", type=float,
                   help="let the rate fall from --lr to this along a half cosine over --hours (default: constant)")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--checkpoint-minutes", type=float, default=5.0)
    s.add_argument("--compile", action="store_true", help="torch.compile the model (faster steps, slow start)")
    s.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast for the forward pass (much faster on CPUs with AVX512-BF16 or AMX; "
                        "ignored with a warning on CPUs without them)")
    s.add_argument("--ema-decay", type=float, default=0.999,
                   help="decay of the weight average saved as model_ema.pt beside model.pt")
    s.add_argument("--family-weights", type=_family_weights, metavar="FAMILY=W,...",
                   help="draw these task families W times as often as the others, e.g. lowpass=2,highpass=2")
    s.add_argument("--eq-db", type=float, default=0.0, metavar="DB",
                   help="timbre augmentation: each training stem through a random low and high shelf of up to "
                        "+-DB dB (default 0: off); validation stems are never equalised")
    s.add_argument("--coherent", type=float, default=0.0, metavar="P",
                   help="share of training examples mixed from the four stems of one song at one offset, as in a "
                        "real mix (default 0: every stem from a song of its own)")
    s.add_argument("--lach-floor", type=float, default=0.0, metavar="SHARE",
                   help="share of the last block's output every latent channel should carry (e.g. 0.02); 0: off")
    s.add_argument("--lach-weight", type=float, default=0.0, metavar="W",
                   help="weight of the --lach-floor penalty (per channel: 1 - share / floor, at least 0)")
    s.add_argument("--mask-output", action="store_true",
                   help="with --init: add the complex mask output to that model and train it on")
    s.add_argument("--widen", action="store_true",
                   help="with --init: give that model the level channels of --config (e.g. wider_mask), same output "
                        "to start, and train it on")
    s.set_defaults(fn=cmd_train)

    from .evaluate import CLIPS, HELD_OUT

    s = sub.add_parser("evaluate", help="the evaluation protocol on held-out songs (real-timbre and synthetic)")
    s.add_argument("--model", help="ONNX model (default: bundled)")
    s.add_argument("--held-out", action="append", choices=list(HELD_OUT), metavar="SET",
                   help=f"held-out set, repeatable: {', '.join(HELD_OUT)} (default: all, in that order)")
    s.add_argument("--bank-root", default="data", help="held-out banks are FOLDER/test_SET (rendered if missing)")
    s.add_argument("--out-dir", help="where the tables go (default: beside the bundled model)")
    s.add_argument("--doc", help="also replace each set's marked section (<!-- evaluation-SET:start -->) of this file")
    s.add_argument("--clips", type=int, default=CLIPS, help=f"clips per family (default {CLIPS}, as the bundled table)")
    s.add_argument("--lach-clips", type=int, default=4, help="clips for the latent-channel table (0: skip)")
    s.add_argument("--seconds", type=float, default=8.0)
    s.add_argument("--threads", type=int, help="chunks processed in parallel, one core each (default: all cores)")
    s.set_defaults(fn=cmd_evaluate)

    d = sub.add_parser("data", help="training data")
    dsub = d.add_subparsers(dest="data_command", parser_class=_Parser)
    s = dsub.add_parser("render", help="render songs to a stem bank")
    s.add_argument("--minutes", type=float, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="songs rendered at a time, one process each (default: one per core)")
    s.add_argument("--material", choices=["fluidsynth", "recorded", "recorded-heldout"], default="fluidsynth",
                   help="General-MIDI soundfont and espeak-ng, recorded kits, samples and voices of the "
                        "training split, or the held-out recorded sources (for validation)")
    s.set_defaults(fn=cmd_render)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "fn"):
            build_parser().print_help()
            return 2
        return args.fn(args)
    except (UsageError, *USAGE_ERRORS) as e:
        if debug:
            raise
        print(f"amssfx: error: {e}", file=sys.stderr)
        return 2
    except AmssfxError as e:
        if debug:
            raise
        print(f"amssfx: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("amssfx: interrupted; no partial output was kept", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence prints one line
        if debug:
            raise
        print(f"amssfx: unexpected error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
