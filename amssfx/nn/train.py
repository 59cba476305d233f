"""Training loop: random remixes, MSE on complex spectrograms, resumable checkpoints."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import RemixDataset, StemBank
from . import checkpoint
from .config import CONFIGS, ModelConfig
from .model import AMSSNet
from .spec import stft


def _to_torch(batch):
    inp, tgt, tok, _ = batch
    return torch.from_numpy(inp), torch.from_numpy(tgt), torch.from_numpy(tok)


def spec_loss(model, inp, tgt, tok) -> torch.Tensor:
    cfg = getattr(model, "cfg", None) or model._orig_mod.cfg
    x, y = stft(inp, cfg.n_fft, cfg.hop), stft(tgt, cfg.n_fft, cfg.hop)
    return torch.mean((model(x, tok) - y) ** 2)


@torch.no_grad()
def validate(model: AMSSNet, data: RemixDataset, examples: int, batch: int) -> float:
    model.eval()
    losses = [spec_loss(model, *_to_torch(data.batch(i, batch))[:3]).item() for i in range(0, examples, batch)]
    model.train()
    return float(np.mean(losses))


def train(run_dir: str | Path, train_bank: str, valid_bank: str, config: str | ModelConfig = "small",
          hours: float = 1.0, batch: int = 8, lr: float = 5e-4, threads: int = 2,
          checkpoint_minutes: float = 5.0, valid_examples: int = 64, init: str | None = None,
          progress: bool = True, max_steps: int | None = None, compile: bool = False) -> dict:
    """Train (or resume) in `run_dir`; returns the final training and validation loss."""
    from tqdm import tqdm

    torch.set_num_threads(threads)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    ckpt, state_path, log_path = run / "model.pt", run / "train_state.pt", run / "log.jsonl"
    if ckpt.exists():
        model = checkpoint.load(ckpt)
    elif init:
        model = checkpoint.load(init)
    else:
        cfg = CONFIGS[config] if isinstance(config, str) else config
        torch.manual_seed(0)
        model = AMSSNet(cfg)
    cfg = model.cfg
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step, examples_seen = 0, 0
    if state_path.exists() and ckpt.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        opt.load_state_dict(st["optimizer"])
        for g in opt.param_groups:
            g["lr"] = lr
        step, examples_seen = int(st["step"]), int(st["examples"])
    # torch.compile fuses the many small elementwise ops around the convs (~1.25x per step on
    # this CPU, after about two minutes of compiling); checkpoints stay those of `model`.
    net = torch.compile(model) if compile else model
    data = RemixDataset(StemBank(train_bank), cfg.chunk_samples, seed=1000 + step)
    valid = RemixDataset(StemBank(valid_bank), cfg.chunk_samples, seed=424242, drop_prob=0.0)
    deadline = time.time() + hours * 3600
    last_ckpt = time.time()
    t0, ex0 = time.time(), examples_seen
    bar = tqdm(desc="train", unit="step", disable=not progress, mininterval=10)
    ema = None
    best = {"valid_loss": math.inf}

    def save_all(valid_loss: float | None):
        checkpoint.save(model, ckpt, {"step": step, "examples": examples_seen})
        tmp = state_path.with_name("train_state.pt.tmp")
        torch.save({"optimizer": opt.state_dict(), "step": step, "examples": examples_seen}, tmp)
        os.replace(tmp, state_path)
        rec = {"time": time.time(), "step": step, "examples": examples_seen, "train_loss": ema,
               "valid_loss": valid_loss}
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    while time.time() < deadline and (max_steps is None or step < max_steps):
        inp, tgt, tok = _to_torch(data.batch(step * batch, batch))
        loss = spec_loss(net, inp, tgt, tok)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        step += 1
        examples_seen += batch
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        rate = (examples_seen - ex0) / max(time.time() - t0, 1e-6)
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.4g}", ex_per_s=f"{rate:.2f}")
        if time.time() - last_ckpt > checkpoint_minutes * 60:
            v = validate(model, valid, valid_examples, batch)
            save_all(v)
            best["valid_loss"] = v
            last_ckpt = time.time()
    v = validate(model, valid, valid_examples, batch)
    save_all(v)
    return {"step": step, "examples": examples_seen, "train_loss": ema, "valid_loss": v}
