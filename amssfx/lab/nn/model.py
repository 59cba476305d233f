"""AMSS-Net: a text-conditioned TFC-TDF U-Net whose decoder extracts and manipulates latent source channels.

Tensor layout everywhere: (batch, channels, frames, freq), frequency on the last axis so
the TDF (a linear layer over frequency) needs no transpose.

Decisions of ours (see ../shared notes on the reconstruction):
- SMPoCM is *gated* (as LaSAFT's GPoCM): V' = sigmoid(PoCM(V)) * V per head group. The gate
  keeps each latent channel a scaled copy of itself, so soloing a channel plays a source,
  not an arbitrary mixture of sources.
- Output = direct path + latent path. The direct path is a text-conditioned 2x2 stereo
  matrix per frequency band applied to the input spectrogram (identity at start): it carries
  what a query does to the whole mix (most of a volume, pan or filter edit), so the latent
  path only has to model the source-selective remainder. `direct_gain` = 0 hears the latent
  path alone (the paper's manipulate_lach demo).
- Everything after the last block's mask is linear and bias-free (Agg PoCM, last layer):
  the latent path's output is exactly linear in the mask, so a zero mask silences it and
  the solos of all channels add up to the full latent path.
- Mask output (`mask_output`): besides the mapping (`last`), the same latent features give a
  complex mask per bin and channel, multiplied with the input spectrogram and added to the
  latent path. A mapping must synthesise every harmonic and its phase through C channels; a
  mask carries the input's fine structure and only has to say how much of it, and with which
  phase turn, belongs to the output (a source, or a filtered source: the Butterworth filters
  of the filter families turn the phase by up to a full circle near their cut-off). It is
  bias-free and linear in the features, so the latent path stays linear in the channel mask;
  it starts at zero, so a trained model gains it without changing its output.
- Level invariance: each chunk is divided by its RMS (floored at LEVEL_FLOOR, about -100 dBFS)
  before the network and multiplied back after it, y = s * f(x / s). The network always sees
  the same level, so a mix that is louder or quieter than the training material is treated
  the same way, and near-silence maps to near-silence. The direct path is linear, so the
  scaling does not change it.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .config import ModelConfig


LEVEL_FLOOR = 1e-4  # spectrogram RMS of about -100 dBFS audio (n_fft 2048)


class TFC(nn.Module):
    """Densely connected 3x3 convs (BN, ReLU); output = the last layer's C channels."""

    def __init__(self, in_ch: int, ch: int, layers: int):
        super().__init__()
        self.convs = nn.ModuleList()
        c = in_ch
        for _ in range(layers):
            self.convs.append(nn.Sequential(nn.Conv2d(c, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU()))
            c += ch

    def forward(self, *parts):
        """parts: the input as one tensor or as pieces along channels (as a decoder's up and skip)."""
        feats = list(parts)
        out = None
        for conv in self.convs:
            out = conv(torch.cat(feats, 1) if len(feats) > 1 else feats[0])
            feats.append(out)
        return out


class TDF(nn.Module):
    """Per-channel, per-frame two-layer MLP over frequency with a bottleneck."""

    def __init__(self, ch: int, freq: int, bottleneck: int):
        super().__init__()
        hidden = max(freq // bottleneck, 4)
        self.net = nn.Sequential(nn.Linear(freq, hidden, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
                                 nn.Linear(hidden, freq, bias=False), nn.BatchNorm2d(ch), nn.ReLU())

    def forward(self, x):  # (b, c, t, f)
        return self.net(x)


class TFCTDF(nn.Module):
    def __init__(self, in_ch: int, ch: int, freq: int, cfg: ModelConfig):
        super().__init__()
        self.tfc = TFC(in_ch, ch, cfg.tfc_layers)
        self.tdf = TDF(ch, freq, cfg.tdf_bottleneck)

    def forward(self, *parts):
        x = self.tfc(*parts)
        return x + self.tdf(x)


class TextEncoder(nn.Module):
    """Learned word embeddings + bidirectional GRU -> word features (b, words, 2*hidden)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=0)
        self.gru = nn.GRU(cfg.embed_dim, cfg.text_hidden, batch_first=True, bidirectional=True)

    def forward(self, tokens):  # (b, words) int64
        w, _ = self.gru(self.embed(tokens))
        return w


class Condition(nn.Module):
    """Attention of a learned query over the word features -> a parameter vector."""

    def __init__(self, word_dim: int, out_dim: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(word_dim) / math.sqrt(word_dim))
        self.proj = nn.Linear(word_dim, out_dim)

    def forward(self, words, pad):  # words (b, n, e), pad (b, n) bool
        scores = (words @ self.query) / math.sqrt(words.shape[-1])
        scores = scores.masked_fill(pad, -1e4)
        ctx = (torch.softmax(scores, -1).unsqueeze(-1) * words).sum(1)  # (b, e)
        return self.proj(ctx)


class DecoderBlock(nn.Module):
    """Latent Source Channel extractor + SMPoCM + Channel-wise Skip Attention."""

    def __init__(self, cfg: ModelConfig, c: int, freq: int, word_dim: int):
        super().__init__()
        h, l = cfg.num_heads, cfg.num_lach
        self.h, self.l = h, l
        self.extract = TFCTDF(2 * c, c, freq, cfg)
        self.conv_k = nn.Conv2d(c, h * l, 1)
        self.conv_v = nn.Conv2d(c, h * l, 1)
        self.conv_q = nn.Conv2d(c, c, 1)
        self.cond = Condition(word_dim, h * (l * l + l))
        nn.init.zeros_(self.cond.proj.weight)
        nn.init.zeros_(self.cond.proj.bias)

    def forward(self, up, skip, words, pad, lach_mask=None):
        b, c, t, f = skip.shape
        h, l = self.h, self.l
        x = self.extract(up, skip)
        k = self.conv_k(x).reshape(b, h, l, t, f)
        v = self.conv_v(x).reshape(b, h, l, t, f)
        q = self.conv_q(skip).reshape(b, h, c // h, t, f)
        theta = self.cond(words, pad)  # (b, h*(l*l+l))
        w = theta[:, : h * l * l].reshape(b, h, l, l)
        bias = theta[:, h * l * l:].reshape(b, h, l, 1, 1)
        # Contractions are written as MatMuls: onnxruntime runs those far faster than Einsum.
        pocm = (w @ v.reshape(b, h, l, t * f)).reshape(b, h, l, t, f)  # per head: L x L point-wise conv
        v = torch.sigmoid(pocm + bias) * v  # SMPoCM (gated)
        if lach_mask is not None:  # (b, h, l): gain per latent channel
            v = v * lach_mask.reshape(b, h, l, 1, 1)
        self.energy = (v * v).mean(dim=(3, 4))  # (b, h, l): activity of each latent channel (normalised level)
        # CSA per frame: A_t = softmax(Q_t K_t^T / sqrt(F)) over the head's latent channels; out_t = A_t V'_t.
        att = q.transpose(2, 3) @ k.permute(0, 1, 3, 4, 2) / math.sqrt(f)  # (b, h, t, c/h, l)
        att = torch.softmax(att, -1)
        if self.training:  # what each latent channel puts into this block's output, for training's
            # dead-channel floor (train.py): sum over t of |A_t[:, l]|^2 |V'_t[l]|^2, shape (b, h, l)
            self.contribution = ((att * att).sum(3).transpose(2, 3) * (v * v).sum(4)).sum(3)
            self.att, self.values = att, v  # for AMSSNet.solo_energy (the floor measured at the output)
        out = att @ v.transpose(2, 3)  # (b, h, t, c/h, f)
        return out.transpose(2, 3).reshape(b, c, t, f)


class AMSSNet(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.widths  # channels per level, 0 = full resolution
        n = cfg.n_down
        if len(w) != n + 1 or any(ci % cfg.num_heads for ci in w) or w[0] != cfg.channels:
            raise ValueError(f"level channels {w} must be {n + 1} multiples of num_heads ({cfg.num_heads}), "
                             f"the first equal to channels ({cfg.channels})")
        c = w[0]
        f0 = cfg.n_fft // 2  # bins after the first 1x2 conv
        freqs = [f0 // 2 ** i for i in range(n + 1)]
        word_dim = 2 * cfg.text_hidden
        self.text = TextEncoder(cfg)
        self.first = nn.Sequential(nn.Conv2d(4, c, (1, 2)), nn.BatchNorm2d(c), nn.ReLU())
        self.enc = nn.ModuleList([TFCTDF(w[i], w[i], freqs[i], cfg) for i in range(n)])
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(w[i], w[i + 1], 2, stride=2), nn.BatchNorm2d(w[i + 1]),
                                                 nn.ReLU()) for i in range(n)])
        self.mid = TFCTDF(w[n], w[n], freqs[n], cfg)
        # up[i] and dec[i] work at level n - 1 - i (the decoder runs from coarse to fine).
        self.up = nn.ModuleList([nn.Sequential(nn.ConvTranspose2d(w[n - i], w[n - 1 - i], 2, stride=2),
                                               nn.BatchNorm2d(w[n - 1 - i]), nn.ReLU()) for i in range(n)])
        self.dec = nn.ModuleList([DecoderBlock(cfg, w[n - 1 - i], freqs[n - 1 - i], word_dim) for i in range(n)])
        # Output stage: text-conditioned point-wise conv (Agg PoCM), then the last 1x2 layer.
        self.agg = Condition(word_dim, c * c)
        nn.init.zeros_(self.agg.proj.weight)
        with torch.no_grad():
            self.agg.proj.bias.copy_(torch.eye(c).flatten())
        self.last = nn.ConvTranspose2d(c, 4, (1, 2), bias=False)
        if cfg.mask_output:
            self.mask = nn.ConvTranspose2d(c, 4, (1, 2), bias=False)  # [Re_L, Re_R, Im_L, Im_R] of the mask
            nn.init.zeros_(self.mask.weight)
        # Direct path: a 2x2 stereo matrix per band, identity at start.
        self.direct = Condition(word_dim, 4 * cfg.direct_bands)
        nn.init.zeros_(self.direct.proj.weight)
        with torch.no_grad():
            self.direct.proj.bias.copy_(torch.eye(2).reshape(4, 1).repeat(1, cfg.direct_bands).flatten())
        self.register_buffer("band_interp", _interp_matrix(cfg.direct_bands, cfg.freq_bins), persistent=False)

    def condition(self, tokens):
        """Word features and padding mask of a batch of token ids."""
        return self.text(tokens), tokens == 0

    def forward(self, spec, tokens, lach_mask=None, direct_gain=None, return_energy: bool = False):
        """spec (b, 4, frames, freq) as [Re_L, Re_R, Im_L, Im_R]; tokens (b, words) int64;
        lach_mask (b, heads, lach) gains of the last block's latent channels (default ones);
        direct_gain (b,) weight of the direct path (default ones). Returns (b, 4, frames, freq),
        and with return_energy also (b, heads, lach): mean power of each masked latent channel."""
        words, pad = self.condition(tokens)
        scale = spec.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(LEVEL_FLOOR)  # (b, 1, 1, 1)
        x = self.first(spec / scale)
        skips = []
        for enc, down in zip(self.enc, self.down):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.mid(x)
        n = len(self.dec)
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            x = dec(up(x), skips[n - 1 - i], words, pad, lach_mask if i == n - 1 else None)
        b, c = x.shape[:2]
        agg = self.agg(words, pad).reshape(b, c, c)
        x = (agg @ x.reshape(b, c, -1)).reshape(x.shape)  # Agg PoCM: a C x C point-wise conv
        latent = self.last(x) * scale
        if self.cfg.mask_output:
            m = self.mask(x)
            mr, mi, sr, si = m[:, 0:2], m[:, 2:4], spec[:, 0:2], spec[:, 2:4]
            latent = latent + torch.cat([mr * sr - mi * si, mr * si + mi * sr], 1)
        out = latent + self._direct(spec, words, pad, direct_gain)
        if self.training and self.measure_solos:
            self.solo_energy = self._solo_energy(spec, scale, agg)
        return (out, self.dec[-1].energy) if return_energy else out

    measure_solos = False  # training sets it to get solo_energy with every forward pass

    def _solo_energy(self, spec, scale, agg):
        """(b, heads, lach): the energy of the model's output with each latent channel of the last
        block soloed and the direct path off, as `amssfx evaluate` measures a channel (the latent
        path after the block is linear: Agg PoCM, last layer, mask). Training mode only: it uses
        the block's attention and values of this pass."""
        dec = self.dec[-1]
        att, v = dec.att, dec.values  # (b, h, t, c/h, l), (b, h, l, t, f)
        b, h, t, ch, l = att.shape
        f = v.shape[-1]
        # channel (h, l) alone: head h's outputs are att[..., l] * v[l], the other heads' are zero
        solo = att.permute(0, 1, 4, 3, 2).unsqueeze(-1) * v.unsqueeze(3)  # (b, h, l, c/h, t, f)
        c = h * ch
        blocks = agg.reshape(b, c, h, ch).permute(0, 2, 1, 3)  # (b, h, c, c/h): the columns of head h
        x = (blocks.unsqueeze(2) @ solo.reshape(b, h, l, ch, t * f)).reshape(b * h * l, c, t, f)
        rep = scale.repeat_interleave(h * l, 0)
        y = self.last(x) * rep
        if self.cfg.mask_output:
            m = self.mask(x)
            sp = spec.repeat_interleave(h * l, 0)
            mr, mi, sr, si = m[:, 0:2], m[:, 2:4], sp[:, 0:2], sp[:, 2:4]
            y = y + torch.cat([mr * sr - mi * si, mr * si + mi * sr], 1)
        return y.pow(2).sum((1, 2, 3)).reshape(b, h, l)

    def _direct(self, spec, words, pad, direct_gain):
        b = spec.shape[0]
        m = self.direct(words, pad).reshape(b, 2, 2, -1) @ self.band_interp  # (b, 2, 2, freq)
        if direct_gain is not None:
            m = m * direct_gain.reshape(b, 1, 1, 1)
        m = m.unsqueeze(3)  # (b, out 2, in 2, 1, freq)
        re, im = spec[:, 0:2], spec[:, 2:4]  # (b, 2, t, f)
        out_re = m[:, :, 0] * re[:, 0:1] + m[:, :, 1] * re[:, 1:2]  # same real matrix for Re and Im
        out_im = m[:, :, 0] * im[:, 0:1] + m[:, :, 1] * im[:, 1:2]
        return torch.cat([out_re, out_im], 1)


def with_mask_output(model: AMSSNet) -> AMSSNet:
    """A copy of a trained model that also has the mask output, initialised to zero: the
    same output as `model` until the mask is trained."""
    import dataclasses

    new = AMSSNet(dataclasses.replace(model.cfg, mask_output=True))
    missing, unexpected = new.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not k.startswith("mask.") for k in missing):
        raise ValueError(f"cannot add a mask output: missing {missing}, unexpected {unexpected}")
    return new.train(model.training)


def _interp_matrix(bands: int, freq: int) -> torch.Tensor:
    """(bands, freq) linear interpolation from band centres to bins."""
    pos = torch.linspace(0, bands - 1, freq)
    lo = pos.floor().long().clamp(max=bands - 1)
    hi = (lo + 1).clamp(max=bands - 1)
    frac = pos - lo
    m = torch.zeros(bands, freq)
    m[lo, torch.arange(freq)] += 1 - frac
    m[hi, torch.arange(freq)] += frac
    return m


def solo_mask(cfg: ModelConfig, head: int, lach: int, batch: int = 1) -> torch.Tensor:
    if not (0 <= head < cfg.num_heads and 0 <= lach < cfg.num_lach):
        raise ValueError(f"(head={head}, lach={lach}) outside {cfg.num_heads} x {cfg.num_lach}")
    m = torch.zeros(batch, cfg.num_heads, cfg.num_lach)
    m[:, head, lach] = 1.0
    return m


def manipulate_lach(model: AMSSNet, head: int, lach: int, audio: torch.Tensor,
                    query: str = "separate vocals, drums, bass") -> torch.Tensor:
    """The paper's demo: solo latent channel (head, lach) of the last block and hear it alone.

    audio (2, time) at 44.1 kHz -> (2, time). The query conditions the latent channels; every
    other channel is masked and the direct path is off, so the output is that latent source.
    """
    from amssfx.query import encode
    from .spec import istft, stft

    cfg = model.cfg
    x = audio.reshape(1, 2, -1).float()
    tokens = torch.tensor([encode(query, cfg.max_tokens)])
    with torch.no_grad():
        y = model(stft(x, cfg.n_fft, cfg.hop), tokens, solo_mask(cfg, head, lach), torch.zeros(1))
    return istft(y, cfg.n_fft, cfg.hop, x.shape[-1])[0]
