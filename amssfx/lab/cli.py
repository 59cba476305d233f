"""The lab's command line, `amssfx-lab`: render training data, train, evaluate, export, count FLOPs.

Needs the `train` extra (torch, pyfluidsynth, pyworld); the user CLI `amssfx` never imports this."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from amssfx.cli_args import UsageError, _Parser, run_main
from amssfx.errors import AmssfxError


def cmd_export_onnx(args) -> int:
    try:
        from amssfx.export.onnx_export import export_checkpoint
    except ImportError as e:
        raise AmssfxError(f"export needs the 'export' extra (torch, onnx): {e}") from None
    path = export_checkpoint(args.checkpoint, args.output)
    print(f"wrote {path}")
    return 0


def cmd_flops(args) -> int:
    from .nn.flops import report

    print(report(args.config))
    return 0


def _weights(text: str, key, check, expected: str) -> dict:
    """KEY=W,... as a dict (key(KEY) as the key); `check`, the dataset's own, decides what is allowed."""
    out = {}
    for item in filter(None, text.split(",")):
        k, _, w = item.partition("=")
        try:
            out[key(k)] = float(w)  # no "=": w is "", not a number either
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: expected {expected}") from None
    try:
        check(out)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return out


def _family_weights(text: str) -> dict[str, float]:
    from .data.dataset import family_weight_list

    return _weights(text, str.strip, family_weight_list, "FAMILY=WEIGHT with a number as WEIGHT")


def _target_weights(text: str) -> dict[int, float]:
    from .data.dataset import count_weight_list

    return _weights(text, int, count_weight_list, "N=WEIGHT with N a number of sources (1-3)")


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
    if not 0 <= args.revive < 1 / 16:
        raise UsageError(f"--revive must be in [0, 1/16), got {args.revive:g}")
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
                raise UsageError(f"{bank} holds no songs; render it with `amssfx-lab render --out {bank}`")
            minutes, seed, material = defaults[bank]
            print(f"rendering {minutes:g} minutes of {material} songs into {bank} (seed {seed})")
            render_bank(bank, minutes, seed, jobs=os.cpu_count() or 1, material=material)
    res = train(args.run, args.train_bank, args.valid_bank, args.config, hours=args.hours, batch=args.batch,
                lr=args.lr, threads=args.threads, checkpoint_minutes=args.checkpoint_minutes, init=args.init,
                compile=args.compile, bf16=args.bf16, ema_decay=args.ema_decay,
                mask_output=args.mask_output, mask_lr_mult=10.0 if args.mask_output else 1.0,
                family_weights=args.family_weights, widen=args.widen, lr_end=args.lr_end,
                eq_db=args.eq_db, coherent=args.coherent, lach_floor=args.lach_floor, lach_weight=args.lach_weight,
                revive_floor=args.revive, lach_at=args.lach_at,
                lach_amplitude=args.lach_amplitude, lach_pool=args.lach_pool, target_weights=args.target_weights)
    print(res)
    return 0


def cmd_evaluate(args) -> int:
    from .evaluate import HELD_OUT, evaluate, update_section

    if args.clips < 2 or args.lach_clips < 0 or args.whole_songs < 0 or not 1 <= args.seconds <= 60:
        raise UsageError("--clips must be 2 or more, --lach-clips and --whole-songs 0 or more, "
                         "--seconds between 1 and 60")
    if args.threads is not None and not 1 <= args.threads <= 256:
        raise UsageError(f"--threads must be between 1 and 256, got {args.threads}")
    for name in args.held_out or list(HELD_OUT):
        out = Path(args.out_dir) / HELD_OUT[name].table if args.out_dir else None
        table = evaluate(args.model, name, Path(args.bank_root) / f"test_{name}", out, clips=args.clips,
                         seconds=args.seconds, lach_clips=args.lach_clips, threads=args.threads,
                         whole_songs=args.whole_songs,
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
    p = _Parser(prog="amssfx-lab", description="The amssfx training lab: data, training, evaluation, export.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command")
    s = sub.add_parser("export-onnx", help="export a checkpoint to ONNX with the amssfx contract")
    s.add_argument("checkpoint")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(fn=cmd_export_onnx)

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
    s.add_argument("--target-weights", type=_target_weights, metavar="N=W,...",
                   help="draw queries that name N sources (1, 2 or 3) W times as often as they come "
                        "otherwise (1, 2 and 3 sources come 3:3:1), e.g. 3=2")
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
    s.add_argument("--lach-at", choices=["block", "output"], default="block",
                   help="measure --lach-floor on the last block's output (default) or on the model's output with "
                        "each channel soloed, as the evaluation does (16 more passes of the output layers)")
    s.add_argument("--lach-amplitude", action="store_true",
                   help="put --lach-floor on the square root of each channel's share: its gradient does not vanish "
                        "where a channel's output has gone to zero, as the share's does")
    s.add_argument("--lach-pool", choices=["example", "batch"], default="example",
                   help="measure --lach-floor on each example (default) or on the whole batch, whose examples carry "
                        "different queries (a channel may be quiet under some queries, not under all)")
    s.add_argument("--revive", type=float, default=0.0, metavar="SHARE",
                   help="before training, give every latent channel of the last block that carries less than SHARE "
                        "of its output (e.g. 0.01) the weights of a live channel of its head; 0: off")
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
    s.add_argument("--whole-songs", type=int, default=12,
                   help="songs for the whole-song checks (keep the band, an instrumental's vocals; 0: skip)")
    s.add_argument("--seconds", type=float, default=8.0)
    s.add_argument("--threads", type=int, help="chunks processed in parallel, one core each (default: all cores)")
    s.set_defaults(fn=cmd_evaluate)
    s = sub.add_parser("render", help="render songs to a stem bank")
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
    return run_main(build_parser, sys.argv[1:] if argv is None else argv, "amssfx-lab")


if __name__ == "__main__":
    sys.exit(main())
