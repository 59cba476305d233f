"""Re-initialise the quiet latent channels of the last decoder block from live ones.

A latent channel that carries (almost) nothing cannot be soloed to hear anything, and a penalty on
its share did not wake the quiet channels of the bundled run: their gradients are too small for it
to matter. Reviving one gives it the weights of a live channel of the same head (the one carrying
the most), so it starts by extracting and gating like its donor, with small opposite noise on both
so that they can part. The channel's keys, values and gate row are copied; the gates of the other
channels keep ignoring it (its column of the gate matrix is zero), so only the attention is shared
between donor and copy at first. Adam's moments of the copied rows are copied with them (a fresh
row with near-zero second moments would take steps several times the rate).
"""
from __future__ import annotations

import numpy as np
import torch

from ..evaluate import LACH_QUERY  # the query the evaluation names channels under
from .model import AMSSNet
from .spec import stft



@torch.no_grad()
def channel_shares(model: AMSSNet, mixes: torch.Tensor) -> np.ndarray:
    """(heads, lach) share of the latent path's output energy carried by each channel of the last
    block when soloed, summed over the mixes (b, 2, n) under LACH_QUERY (as the evaluation)."""
    from amssfx.query import encode

    cfg = model.cfg
    was_training = model.training
    model.eval()
    h, l = cfg.num_heads, cfg.num_lach
    spec = stft(mixes, cfg.n_fft, cfg.hop)
    b = spec.shape[0]
    tokens = torch.tensor([encode(LACH_QUERY, cfg.max_tokens)] * b)
    energy = np.zeros((h, l))
    for i in range(h):
        for j in range(l):
            mask = torch.zeros(b, h, l)
            mask[:, i, j] = 1.0
            y = model(spec, tokens, mask, torch.zeros(b))
            energy[i, j] = float(y.pow(2).sum())
    model.train(was_training)
    return energy / max(energy.sum(), 1e-30)


def quiet_channels(shares: np.ndarray, floor: float) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(shares < floor))]


def _rows(cfg, head: int, lach: int) -> dict[str, int]:
    h, l = cfg.num_heads, cfg.num_lach
    return {"kv": head * l + lach, "bias": h * l * l + head * l + lach}


@torch.no_grad()
def revive(model: AMSSNet, shares: np.ndarray, floor: float, noise: float = 0.05, seed: int = 0,
           optimizer: torch.optim.Optimizer | None = None, others: tuple[AMSSNet, ...] = (),
           split: bool = True) -> list[dict]:
    """Give every channel of the last block whose share is below `floor` the weights of the live
    channel of its head with the largest share, each donor giving once (plus and minus `noise` times the row's RMS on copy
    and donor). The same new weights go into `others` (the weight average). Returns what was done:
    [{"head", "lach", "donor", "share"}]. A channel whose head has no donor left stays as it is.

    split: donor and copy each take half of the donor's values, with the gate weights on them
    doubled so that every gate sees the same input as before: the pair then carries about what the
    donor carried alone while attention to it is small, instead of twice as much."""
    cfg = model.cfg
    h, l = cfg.num_heads, cfg.num_lach
    dec = model.dec[-1]
    gen = torch.Generator().manual_seed(seed)
    done, used = [], set()
    for head, lach in quiet_channels(shares, floor):
        live = [j for j in range(l) if shares[head, j] >= floor and (head, j) not in used]
        if not live:
            continue
        donor = max(live, key=lambda j: shares[head, j])
        used.add((head, donor))
        d, c = _rows(cfg, head, donor)["kv"], _rows(cfg, head, lach)["kv"]
        for conv in (dec.conv_k, dec.conv_v):
            for p in (conv.weight, conv.bias):
                eps = noise * p[d].pow(2).mean().sqrt() * torch.randn(p[d].shape, generator=gen)
                _copy_row(p, d, c, optimizer)
                p[c] += eps
                p[d] -= eps
        _copy_gate(dec.cond.proj, cfg, head, donor, lach, optimizer)
        if split:
            _split_values(dec, cfg, head, donor, lach)
        for other in others:
            o = other.dec[-1]
            for name in ("conv_k", "conv_v"):
                for pname in ("weight", "bias"):
                    getattr(getattr(o, name), pname).copy_(getattr(getattr(dec, name), pname))
            o.cond.proj.weight.copy_(dec.cond.proj.weight)
            o.cond.proj.bias.copy_(dec.cond.proj.bias)
        done.append({"head": head, "lach": lach, "donor": donor, "share": float(shares[head, lach])})
    return done


def _copy_row(p: torch.Tensor, src: int, dst: int, optimizer, zero: bool = False) -> None:
    """p[dst] = p[src] (or 0), with Adam's moments of the row."""
    p[dst] = 0.0 if zero else p[src]
    if optimizer is not None:
        for v in optimizer.state.get(p, {}).values():
            if torch.is_tensor(v) and v.shape == p.shape:
                v[dst] = 0.0 if zero else v[src]


def _copy_gate(proj: torch.nn.Linear, cfg, head: int, donor: int, lach: int, optimizer) -> None:
    """The gate of channel `lach` = that of `donor` (theta = proj(words): the first h*l*l entries
    are the per-head L x L gate matrices, the next h*l their biases)."""
    l = cfg.num_lach
    base = head * l * l

    def idx(row: int, col: int) -> int:
        return base + row * l + col

    for p in (proj.weight, proj.bias):
        for col in range(l):  # row `lach` := row `donor`, with the donor's self-term on the diagonal
            src_col = donor if col == lach else col
            _copy_row(p, idx(donor, src_col), idx(lach, col), optimizer, zero=col == donor)
        for row in range(l):  # the other channels' gates ignore the new one
            if row != lach:
                _copy_row(p, idx(row, lach), idx(row, lach), optimizer, zero=True)
        _copy_row(p, _rows(cfg, head, donor)["bias"], _rows(cfg, head, lach)["bias"], optimizer)


def _split_values(dec, cfg, head: int, donor: int, lach: int) -> None:
    """Halve the values of donor and copy; double the gate weights that read them."""
    l = cfg.num_lach
    kv = [head * l + donor, head * l + lach]
    dec.conv_v.weight[kv] *= 0.5
    dec.conv_v.bias[kv] *= 0.5
    base = head * l * l
    for p in (dec.cond.proj.weight, dec.cond.proj.bias):
        for row in range(l):
            p[base + row * l + donor] *= 2.0
        p[base + lach * l + lach] *= 2.0
