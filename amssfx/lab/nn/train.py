"""Training loop: random remixes, a signal-to-distortion loss on complex spectrograms, resumable checkpoints."""
from __future__ import annotations

import copy
import json
import math
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import RemixDataset, StemBank
from . import checkpoint
from .config import CONFIGS, DEFAULT, ModelConfig
from .model import AMSSNet, with_mask_output
from .widen import widen as widen_model
from .spec import stft


def _to_torch(batch):
    inp, tgt, tok = batch[:3]
    return torch.from_numpy(inp), torch.from_numpy(tgt), torch.from_numpy(tok)


# The loss is the evaluation's own measure: minus the SDR in dB of each example, averaged over
# the batch. The STFT (Hann, hop n_fft / 4) is a tight frame, so energies of spectrogram
# differences are waveform energies times a constant and the SDR is the same in both domains.
# A plain MSE would weight an example by its loudness; the evaluation weights every clip
# alike, and a quiet target (one stem separated, a filtered stem) is as important as a loud one.
# SDR_FLOOR: errors below -30 dB of the input's energy are not pushed further, which also
# keeps the loss finite when the target is silent (every target stem dropped).
LOSS = "neg_sdr_db"
SDR_FLOOR = 1e-3


def sdr_loss(est: torch.Tensor, ref: torch.Tensor, inp: torch.Tensor, reduce: bool = True) -> torch.Tensor:
    """Mean over the batch of -10*log10(sum ref^2 / sum (ref - est)^2), floored by the input's
    energy; reduce=False: one value per example."""
    dims = tuple(range(1, ref.dim()))
    floor = SDR_FLOOR * inp.pow(2).sum(dims) + 1e-12
    err = (est - ref).pow(2).sum(dims) + floor
    per_example = 10.0 * torch.log10(err / (ref.pow(2).sum(dims) + floor))
    return per_example.mean() if reduce else per_example


def spec_loss(model, inp, tgt, tok, bf16: bool = False, reduce: bool = True, lach_floor: float = 0.0,
              lach_weight: float = 0.0, lach_at: str = "block", lach_amplitude: bool = False,
              lach_pool: str = "example") -> torch.Tensor:
    """The loss of one batch. bf16: the network runs under bfloat16 autocast (convolutions and
    matmuls in bfloat16, weights and gradients float32); the STFT and the loss stay float32.
    lach_floor/lach_weight: the dead-channel floor (`lach_penalty`), added in training only, on each
    channel's share of the last block's output (lach_at "block") or of the model's output with the
    channel soloed (lach_at "output": what the evaluation measures; the model must have
    measure_solos set). lach_amplitude: the floor on the square root of the share (`lach_penalty`).
    lach_pool: the share of each example ("example") or of the whole batch ("batch")."""
    base = getattr(model, "_orig_mod", model)
    cfg = base.cfg
    x, y = stft(inp, cfg.n_fft, cfg.hop), stft(tgt, cfg.n_fft, cfg.hop)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        est = model(x, tok)
    loss = sdr_loss(est.float(), y, x, reduce)
    if lach_weight > 0 and lach_floor > 0 and base.training:
        carried = base.solo_energy if lach_at == "output" else base.dec[-1].contribution
        loss = loss + lach_weight * lach_penalty(carried.float(), lach_floor, lach_amplitude, lach_pool == "batch")
    return loss


def lach_penalty(contribution: torch.Tensor, floor: float, amplitude: bool = False,
                 pooled: bool = False) -> torch.Tensor:
    """How far the latent channels of the last block fall below `floor` of the block's output, as
    a fraction of the floor (0 at or above it, 1 for a channel that carries nothing), summed over
    channels and averaged over the batch (or, `pooled`, of the batch as one). contribution (b, heads,
    lach) >= 0. A channel that the attention never picks, or whose values are zero, carries nothing
    and cannot be soloed to hear anything; this term makes the training move some of the output
    into it. The share is an energy, the square of what the channel puts out, so its gradient
    vanishes as that output goes to zero: a channel cancelled to nothing stays there. With
    `amplitude` the floor is on the square root of the share, whose gradient does not vanish there.

    pooled: the share of the whole batch, the examples' energies summed, instead of each example's.
    Each example has its own query, under which a channel that has specialised in one source is
    rightly quiet (under "separate vocals" a channel of the other instruments is shut); the floor
    per example pushes it open under every query, the floor over a batch of mixed queries asks only
    that it carry something under some of them."""
    if pooled:
        contribution = contribution.sum(0, keepdim=True)
    share = contribution / (contribution.sum((1, 2), keepdim=True) + 1e-20)
    ratio = (share / floor).clamp_min(1e-12).sqrt() if amplitude else share / floor
    return torch.relu(1.0 - ratio).sum((1, 2)).mean()


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX). Without it, oneDNN emulates
    bfloat16 and a training step under autocast is about ten times slower than in float32 (measured
    on an AVX2-only AMD EPYC: 60 s against 5.5 s for a batch of 8 of `wider_mask`)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without this check: float32, which is never slow
        return False


def rate_factor(fraction: float, lr: float, lr_end: float | None) -> float:
    """The rate at `fraction` (0..1) of a run, as a multiple of `lr`: constant without `lr_end`,
    otherwise a half cosine from `lr` down to `lr_end` at the end."""
    if lr_end is None or lr <= 0:
        return 1.0
    f = min(max(fraction, 0.0), 1.0)
    return (lr_end + (lr - lr_end) * 0.5 * (1.0 + math.cos(math.pi * f))) / lr


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters and floating buffers (the
    batch-norm statistics); integer buffers (batch counters) are copied."""
    for e, m in zip(ema.parameters(), model.parameters()):
        e.lerp_(m.detach(), 1.0 - decay)
    for e, m in zip(ema.buffers(), model.buffers()):
        if e.dtype.is_floating_point:
            e.lerp_(m, 1.0 - decay)
        else:
            e.copy_(m)


@torch.no_grad()
def validate(model: AMSSNet, data: RemixDataset, examples: int, batch: int) -> tuple[float, dict[str, float]]:
    """Mean loss over `examples` fixed examples, and the mean per task family."""
    model.eval()
    losses, families = [], []
    for i in range(0, examples, batch):
        b = data.batch(i, min(batch, examples - i))
        losses += spec_loss(model, *_to_torch(b), reduce=False).tolist()
        families += [q.family for q in b[3]]
    model.train()
    by_family = {f: float(np.mean([l for l, g in zip(losses, families) if g == f])) for f in sorted(set(families))}
    return float(np.mean(losses)), by_family


def _revive(model, ema_model, opt, data: RemixDataset, floor: float, step: int) -> list[dict]:
    """Revive the quiet latent channels (revive.py), measured on 8 fixed training mixes."""
    from .revive import channel_shares, revive

    rng = np.random.default_rng([data.seed, 7])
    mixes = torch.from_numpy(np.stack([sum(data.stems(rng).values()) for _ in range(8)]).astype(np.float32))
    shares = channel_shares(model, mixes)
    done = revive(model, shares, floor, seed=step, optimizer=opt, others=(ema_model,))
    after = channel_shares(model, mixes)
    for d in done:
        d["share_after"] = float(after[d["head"], d["lach"]])
        print(f"revived latent channel {d['head']}:{d['lach']} (share {d['share']:.4f} -> {d['share_after']:.4f}) "
              f"from {d['head']}:{d['donor']}", file=sys.stderr)
    return done


class _StopRequest:
    """Ctrl+C or SIGTERM ends training after the current step, with a last checkpoint, instead of
    losing the steps since the previous one. Within `with`, on the main thread (the only one Python
    delivers signals to); the previous handlers come back when the block ends."""

    def __init__(self):
        self.requested = False
        self.saving = False  # a checkpoint being written is never cut short
        self._old = {}

    def _handle(self, signum, frame):
        if self.requested and not self.saving:  # asked twice: stop now
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this step and writing a checkpoint "
              "(again to stop at once)", file=sys.stderr, flush=True)

    def restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        self.restore()


def train(run_dir: str | Path, train_bank: str, valid_bank: str, config: str | ModelConfig = DEFAULT.name,
          hours: float = 1.0, batch: int = 8, lr: float = 5e-4, threads: int = 2,
          checkpoint_minutes: float = 5.0, valid_examples: int = 192, init: str | None = None,
          progress: bool = True, max_steps: int | None = None, compile: bool = False,
          warmup_steps: int = 200, bf16: bool = False, ema_decay: float = 0.999,
          mask_output: bool = False, mask_lr_mult: float = 1.0,
          family_weights: dict[str, float] | None = None, widen: bool = False,
          lr_end: float | None = None, eq_db: float = 0.0, coherent: float = 0.0,
          lach_floor: float = 0.0, lach_weight: float = 0.0, revive_floor: float = 0.0,
          lach_at: str = "block", lach_amplitude: bool = False, lach_pool: str = "example",
          target_weights: dict[int, float] | None = None) -> dict:
    """Train (or resume) in `run_dir`; returns the final training and validation loss.

    bf16: bfloat16 autocast for the network's forward pass (3x faster steps on CPUs with
    AVX512-BF16; validation stays float32). valid_examples: a fixed set; per-example SDRs spread
    by ~5 dB, so 64 examples left the mean uncertain by more than a few minutes of training
    change it. The optimizer state is resumed only if it was made with the same loss; otherwise
    (a run that started under another loss) Adam starts afresh, with `warmup_steps` of linear
    warm-up.

    ema_decay: an exponential moving average of the weights (half-life ~700 steps at 0.999) is
    kept beside the trained weights, saved as `model_ema.pt` and validated alike. Averaging
    the last stretch of a constant-rate run smooths out the step-to-step noise of the weights;
    which of the two files ships is decided by the evaluation.

    mask_output: start from `init` with the mask output added (zero, so the start is `init`'s
    output). mask_lr_mult: the mask's weights learn at this multiple of the rate (the CLI uses
    10 when it adds a mask to a trained model: the mask starts from zero under weights that are
    already trained, at the low rate of a fine-tuning run). The multiple is kept in the
    optimizer state, so a resumed run keeps it.

    family_weights: draw training queries of these families more (or less) often than the
    rest (weight 1); validation always draws them uniformly. target_weights: likewise by the number
    of sources a query names (1, 2 or 3); validation keeps the uniform draw over target sets.

    lr_end: the rate falls from `lr` to `lr_end` along a half cosine over this call's `hours`
    (wall-clock time, so a run stopped early has not reached `lr_end`); a resumed run starts
    its schedule again from `lr`.

    eq_db: timbre augmentation of the training stems (data/augment.py), a random low and high
    shelf of up to +-eq_db dB per stem; validation stems are never equalised.

    coherent: the share of training examples mixed from the four stems of one song at one
    offset (the rest remix stems of different songs); validation always remixes, so its
    figures stay comparable with earlier runs.

    lach_floor, lach_weight: a penalty (lach_penalty) on latent channels of the last block that carry
    less than lach_floor of its output, weighted by lach_weight; 0 leaves the loss unchanged. lach_at:
    the share of what: "block" (the last block's output) or "output" (the model's output with the
    channel soloed, as the evaluation measures it; the 16 solos cost one more pass of the output
    layers each). lach_amplitude: the floor on the square root of the share, which can bring back a
    channel whose output has gone to zero (the energy's gradient vanishes there). lach_pool: the share
    of each example ("example") or of the batch ("batch": the examples' energies summed).
    The training loss printed includes it; validation never does.

    revive_floor: before the first step, latent channels of the last block that carry less than this
    share of its output under the evaluation's query (on 8 training mixes) get the weights of a live
    channel of their head (revive.py); 0: off.

    widen: start from `init` with the level channels of `config` (widen.py: the same output to
    start, new channels with fresh weights in and zero weights out)."""
    from tqdm import tqdm

    torch.set_num_threads(threads)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    ckpt, state_path, log_path = run / "model.pt", run / "train_state.pt", run / "log.jsonl"
    ema_path = run / "model_ema.pt"
    new_cfg = CONFIGS[config] if isinstance(config, str) else config  # of a new run (or a widened init)
    if ckpt.exists():
        model = checkpoint.load(ckpt)
    elif init:
        model = checkpoint.load(init)
        if mask_output and not model.cfg.mask_output:
            model = with_mask_output(model)
        if widen:
            model = widen_model(model, new_cfg)
    else:
        torch.manual_seed(0)
        model = AMSSNet(new_cfg)
    cfg = model.cfg
    model.train()
    if lach_at not in ("block", "output"):
        raise ValueError(f"lach_at is 'block' or 'output', not {lach_at!r}")
    if lach_pool not in ("example", "batch"):
        raise ValueError(f"lach_pool is 'example' or 'batch', not {lach_pool!r}")
    model.measure_solos = lach_at == "output" and lach_weight > 0 and lach_floor > 0
    groups = {True: [], False: []}
    for name, p in model.named_parameters():
        groups[name.startswith("mask.")].append(p)
    opt = torch.optim.Adam([{"params": groups[False], "lr_mult": 1.0}]
                           + ([{"params": groups[True], "lr_mult": mask_lr_mult}] if groups[True] else []), lr=lr)
    step, examples_seen, opt_steps = 0, 0, 0
    if state_path.exists() and ckpt.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        step, examples_seen = int(st["step"]), int(st["examples"])
        if st.get("loss", "mse") == LOSS:
            opt.load_state_dict(st["optimizer"])
            opt_steps = int(st.get("opt_steps", warmup_steps))

    start, span = time.time(), hours * 3600

    def set_lr():
        decay = rate_factor((time.time() - start) / span if span > 0 else 1.0, lr, lr_end)
        for g in opt.param_groups:
            g["lr"] = lr * decay * g.get("lr_mult", 1.0) * min(1.0, (opt_steps + 1) / max(warmup_steps, 1))

    set_lr()
    ema_model = checkpoint.load(ema_path) if ema_path.exists() and ckpt.exists() else copy.deepcopy(model)
    if ema_model.cfg != cfg:
        raise ValueError(f"{ema_path} was made with another configuration than {ckpt}")
    ema_model.train()
    # torch.compile fuses the many small elementwise ops around the convs (~1.25x per step on
    # this CPU, after about two minutes of compiling); checkpoints stay those of `model`.
    net = torch.compile(model) if compile else model
    data = RemixDataset(StemBank(train_bank), cfg.chunk_samples, seed=1000 + step, family_weights=family_weights,
                        eq_db=eq_db, coherent=coherent, target_weights=target_weights)
    valid = RemixDataset(StemBank(valid_bank), cfg.chunk_samples, seed=424242, drop_prob=0.0)
    revived = _revive(model, ema_model, opt, data, revive_floor, step) if revive_floor > 0 else []
    deadline = start + span
    last_ckpt = time.time()
    t0, ex0 = time.time(), examples_seen
    bar = tqdm(desc="train", unit="step", disable=not progress, mininterval=10)
    ema = None

    stop = _StopRequest()

    def save_all(valid: tuple[float, dict], valid_ema: tuple[float, dict]):
        stop.saving = True
        checkpoint.save(model, ckpt, {"step": step, "examples": examples_seen})
        checkpoint.save(ema_model, ema_path, {"step": step, "examples": examples_seen, "ema_decay": ema_decay})
        tmp = state_path.with_name("train_state.pt.tmp")
        torch.save({"optimizer": opt.state_dict(), "step": step, "examples": examples_seen, "loss": LOSS,
                    "opt_steps": opt_steps}, tmp)
        os.replace(tmp, state_path)
        rec = {"time": time.time(), "step": step, "examples": examples_seen, "loss": LOSS, "train_loss": ema,
               "lr": opt.param_groups[0]["lr"], "eq_db": eq_db, "train_bank": str(train_bank), "valid_bank": str(valid_bank),
               "coherent": coherent, "target_weights": target_weights, "lach_floor": lach_floor, "lach_weight": lach_weight, "lach_at": lach_at,
               "lach_amplitude": lach_amplitude, "lach_pool": lach_pool,
               "valid_loss": valid[0], "valid_loss_ema": valid_ema[0],
               "valid_by_family": valid[1], "valid_by_family_ema": valid_ema[1]}
        if revived:  # once, in the first record after the revival
            rec["revived"] = list(revived)
            revived.clear()
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        stop.saving = False

    # The next batch is remixed on a thread while the model trains on this one (numpy and
    # scipy's filters release the GIL; the remix costs about a quarter of a step).
    prefetch = ThreadPoolExecutor(max_workers=1)
    pending = prefetch.submit(data.batch, step * batch, batch)
    with stop:
        while time.time() < deadline and (max_steps is None or step < max_steps) and not stop.requested:
            inp, tgt, tok = _to_torch(pending.result())
            pending = prefetch.submit(data.batch, (step + 1) * batch, batch)
            loss = spec_loss(net, inp, tgt, tok, bf16, lach_floor=lach_floor, lach_weight=lach_weight, lach_at=lach_at,
                             lach_amplitude=lach_amplitude, lach_pool=lach_pool)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            ema_update(ema_model, model, ema_decay)
            opt_steps += 1
            set_lr()
            step += 1
            examples_seen += batch
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            rate = (examples_seen - ex0) / max(time.time() - t0, 1e-6)
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.4g}", ex_per_s=f"{rate:.2f}")
            if time.time() - last_ckpt > checkpoint_minutes * 60:
                v = validate(model, valid, valid_examples, batch)
                save_all(v, validate(ema_model, valid, valid_examples, batch))
                last_ckpt = time.time()
        prefetch.shutdown(cancel_futures=True)
        bar.close()
        v = validate(model, valid, valid_examples, batch)
        v_ema = validate(ema_model, valid, valid_examples, batch)
        save_all(v, v_ema)
    return {"step": step, "examples": examples_seen, "train_loss": ema, "valid_loss": v[0], "valid_loss_ema": v_ema[0]}
