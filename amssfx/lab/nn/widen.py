"""Widen a trained model's coarse levels without changing what it computes.

`widen(model, target)` returns a model of configuration `target`: the trained model's, with more
feature channels at levels 1..n (the full-resolution level 0 keeps its width), whose output equals
the trained model's: every old channel keeps its weights at its new position, every new channel
gets fresh random weights into it and zero weights out of it. Training then starts from the trained
model's quality and grows into the new channels (their outgoing weights receive gradient from the
first step).

Channel positions: a level's ordinary feature maps keep old channel j at j. The decoder's
attention output is laid out per head (head, index within the head), so there old channel j
moves to head * (new width / heads) + index.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .config import ModelConfig
from .model import TFCTDF, AMSSNet, DecoderBlock


def _plain(old: int) -> list[int]:
    return list(range(old))


def _per_head(old: int, new: int, heads: int) -> list[int]:
    a, b = old // heads, new // heads
    return [(j // a) * b + j % a for j in range(old)]


def _concat(parts: list[tuple[list[int], int]]) -> list[int]:
    """Positions of a concatenation's old channels; parts: (old positions, new size)."""
    out, offset = [], 0
    for positions, size in parts:
        out += [offset + p for p in positions]
        offset += size
    return out


@torch.no_grad()
def _copy_conv(new: nn.Module, old: nn.Module, in_map: list[int], out_map: list[int], transposed: bool = False):
    w_new, w_old = new.weight, old.weight
    if transposed:  # ConvTranspose2d weights are (in, out, kh, kw)
        w_new, w_old = w_new.transpose(0, 1), w_old.transpose(0, 1)
    rows = torch.tensor(out_map)
    w_new[rows] = 0.0  # an old output reads no new input
    w_new[rows[:, None], torch.tensor(in_map)[None, :]] = w_old
    if getattr(old, "bias", None) is not None:
        new.bias[rows] = old.bias


@torch.no_grad()
def _copy_bn(new: nn.BatchNorm2d, old: nn.BatchNorm2d, out_map: list[int]):
    rows = torch.tensor(out_map)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(new, name)[rows] = getattr(old, name)
    new.num_batches_tracked.copy_(old.num_batches_tracked)


def _copy_conv_bn(new: nn.Sequential, old: nn.Sequential, in_map, out_map, transposed=False):
    _copy_conv(new[0], old[0], in_map, out_map, transposed)
    _copy_bn(new[1], old[1], out_map)


def _copy_tfctdf(new: TFCTDF, old: TFCTDF, parts: list[tuple[list[int], int]], old_c: int, new_c: int):
    out_map = _plain(old_c)
    feats = list(parts)
    for n_seq, o_seq in zip(new.tfc.convs, old.tfc.convs):
        _copy_conv_bn(n_seq, o_seq, _concat(feats), out_map)
        feats.append((out_map, new_c))
    new.tdf.net[0].weight.data.copy_(old.tdf.net[0].weight)
    new.tdf.net[3].weight.data.copy_(old.tdf.net[3].weight)
    _copy_bn(new.tdf.net[1], old.tdf.net[1], out_map)
    _copy_bn(new.tdf.net[4], old.tdf.net[4], out_map)


def _copy_decoder(new: DecoderBlock, old: DecoderBlock, up_map: list[int], old_c: int, new_c: int, heads: int):
    plain = _plain(old_c)
    _copy_tfctdf(new.extract, old.extract, [(up_map, new_c), (plain, new_c)], old_c, new_c)
    hl = list(range(old.conv_k.out_channels))
    _copy_conv(new.conv_k, old.conv_k, plain, hl)
    _copy_conv(new.conv_v, old.conv_v, plain, hl)
    _copy_conv(new.conv_q, old.conv_q, plain, _per_head(old_c, new_c, heads))
    new.cond.load_state_dict(old.cond.state_dict())


def widen(model: AMSSNet, target: ModelConfig) -> AMSSNet:
    """A copy of `model` with the level channels of `target` (otherwise the same configuration),
    computing the same output."""
    cfg = model.cfg
    old_w, new_w = cfg.widths, target.widths
    if dataclasses.replace(target, name=cfg.name, level_channels=cfg.level_channels, channels=cfg.channels) != cfg:
        raise ValueError(f"{target.name} differs from {cfg.name} in more than its channels")
    if len(new_w) != len(old_w) or new_w[0] != old_w[0] or any(n < o for n, o in zip(new_w, old_w)):
        raise ValueError(f"cannot widen levels {old_w} to {new_w}: same count, same level 0, none narrower")
    h, n = cfg.num_heads, cfg.n_down
    with torch.random.fork_rng():  # fresh weights from a fixed seed, without touching the caller's RNG
        torch.manual_seed(0)
        new = AMSSNet(target).train(model.training)
    # Modules that do not touch the widened levels are copied whole.
    for name in ("text", "first", "agg", "last", "direct") + (("mask",) if cfg.mask_output else ()):
        getattr(new, name).load_state_dict(getattr(model, name).state_dict())
    for i in range(n):
        _copy_tfctdf(new.enc[i], model.enc[i], [(_plain(old_w[i]), new_w[i])], old_w[i], new_w[i])
        _copy_conv_bn(new.down[i], model.down[i], _plain(old_w[i]), _plain(old_w[i + 1]))
    _copy_tfctdf(new.mid, model.mid, [(_plain(old_w[n]), new_w[n])], old_w[n], new_w[n])
    for i in range(n):
        lvl = n - 1 - i  # up[i] and dec[i] work at this level
        src = n - i
        in_map = _plain(old_w[src]) if i == 0 else _per_head(old_w[src], new_w[src], h)
        _copy_conv_bn(new.up[i], model.up[i], in_map, _plain(old_w[lvl]), transposed=True)
        _copy_decoder(new.dec[i], model.dec[i], _plain(old_w[lvl]), old_w[lvl], new_w[lvl], h)
    return new
