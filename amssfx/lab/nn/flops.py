"""FLOPs per second of audio of a configuration, counted by torch's FLOP counter on one chunk."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import CONFIGS, ModelConfig
from .model import AMSSNet


def gflop_per_second(cfg: ModelConfig) -> float:
    """Forward GFLOP per second of audio for one pass (no chunk overlap)."""
    model = AMSSNet(cfg).eval()
    spec = torch.zeros(1, 4, cfg.frames, cfg.freq_bins)
    tokens = torch.zeros(1, cfg.max_tokens, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(spec, tokens)
    seconds = cfg.frames * cfg.hop / cfg.sample_rate  # audio advanced per chunk of frames
    return counter.get_total_flops() / seconds / 1e9


def report(name: str = "all") -> str:
    names = list(CONFIGS) if name == "all" else [name]
    lines = []
    for n in names:
        cfg = CONFIGS[n]
        params = sum(p.numel() for p in AMSSNet(cfg).parameters())
        lines.append(f"{n}: {gflop_per_second(cfg):.2f} GFLOP per second of audio, {params / 1e6:.2f} M parameters, "
                     f"{cfg.num_heads} x {cfg.num_lach} latent channels")
    return "\n".join(lines)
