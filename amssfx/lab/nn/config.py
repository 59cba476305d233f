"""Model configurations: the paper's, and `small`, sized for a two-core CPU."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace

from amssfx import stft
from amssfx.query import MAX_TOKENS, VOCABULARY


@dataclass(frozen=True)
class ModelConfig:
    name: str
    n_fft: int
    hop: int
    frames: int  # STFT frames per chunk; a multiple of 2**n_down
    channels: int  # C: feature channels at every level (unless level_channels says otherwise)
    n_down: int  # down-sampling levels; blocks = 2 * n_down + 1
    tfc_layers: int  # densely connected 3x3 conv layers per TFC
    tdf_bottleneck: int  # TDF hidden size = freq bins // tdf_bottleneck
    num_heads: int
    num_lach: int
    embed_dim: int = 32
    text_hidden: int = 32  # per GRU direction; word features are 2 * text_hidden
    direct_bands: int = 64  # frequency resolution of the direct path's stereo matrix
    mask_output: bool = False  # the latent features also give a complex mask of the input (model.py)
    level_channels: tuple[int, ...] = ()  # channels per level, finest to the middle block; () = `channels` at all
    sample_rate: int = 44100
    vocab_size: int = len(VOCABULARY)
    max_tokens: int = MAX_TOKENS

    @property
    def freq_bins(self) -> int:
        return stft.freq_bins(self.n_fft)

    @property
    def widths(self) -> tuple[int, ...]:
        """Feature channels of each level, from full resolution (level 0) to the middle block."""
        return self.level_channels or (self.channels,) * (self.n_down + 1)

    @property
    def chunk_samples(self) -> int:
        return stft.chunk_samples(self.hop, self.frames)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        d = dict(d)
        d["level_channels"] = tuple(d.get("level_channels", ()))  # JSON has lists
        return cls(**d)


# The paper's configuration (AMSS_NET.md): n_fft 4096, hop 1024, 128 frames (~2.95 s),
# 9 blocks (4 down, 1 middle, 4 up), C = 24, 6 heads x 8 latent channels.
PAPER = ModelConfig(name="paper", n_fft=4096, hop=1024, frames=128, channels=24, n_down=4,
                    tfc_layers=3, tdf_bottleneck=16, num_heads=6, num_lach=8,
                    embed_dim=100, text_hidden=50)

# `small`: the CPU-sized network. Reductions against `paper`, and why:
# - n_fft 2048 / hop 512: the same frames per second x bins (86 x 1024 vs 43 x 2048) as the
#   paper, with finer time steps for drum transients; the cost lives at full resolution.
# - C = 8 (paper 24): conv cost grows with C^2; 8 is the smallest width at which every
#   level still has room for two latent channels per head after attention (C / heads = 2).
# - 2 dense layers per TFC (paper 3): a third layer costs 60 % more at full resolution.
# - 3 down-sampling levels (paper 4): the fourth level adds latency-free context that a
#   1.5 s chunk with overlap-add already supplies; it saves parameters, not FLOPs.
# - 4 heads x 4 latent channels (paper 6 x 8): the minimum the product promises, and
#   a 16-channel grid a user can audition one by one.
# - frames 128 at hop 512 = 1.48 s chunks: short first sound in the preview.
SMALL = ModelConfig(name="small", n_fft=2048, hop=512, frames=128, channels=8, n_down=3,
                    tfc_layers=2, tdf_bottleneck=16, num_heads=4, num_lach=4)

# `small_mask`: `small` with the complex mask output (model.py) beside the mapping output, at
# the same cost (+0.01 GFLOP/s). Trained from scratch side by side with `small` (same data, rate
# and seed), it was 0.8 dB ahead in validation SDR after 6.7k examples, most on the filter
# families and mute. Trained on to 70k examples (training/small_mask) it gained more over identity
# than the `small` model on the held-out songs in six of eight families.
SMALL_MASK = replace(SMALL, name="small_mask", mask_output=True)

# `wide_mask`, the bundled configuration before `wider_mask`: `small_mask` with twice the channels
# below full resolution (8, 16, 16, 16). The conv FLOPs of the coarse levels grow 4x (2.56 GFLOP/s in
# all, within the budget of 3), yet a chunk takes only ~13 % longer in onnxruntime: its blocked conv
# layout works in groups of 16 channels on this CPU, so an 8-channel conv already costs nearly what
# a 16-channel one does, and only the TDF, attention and elementwise work doubles at those levels.
# Full resolution, where most of the time goes, keeps C = 8. Made from the trained `small_mask` by
# `amssfx train --widen` (widen.py) and trained on (training/wide_mask): it gains more over identity
# than `small_mask` in all eight families on the held-out FluidR3 songs.
WIDE_MASK = replace(SMALL_MASK, name="wide_mask", level_channels=(8, 16, 16, 16))

# `wider_mask`, the bundled configuration before `wider44_mask`: `wide_mask` with 24 and 32 channels at the
# two coarsest levels (8, 16, 24, 32), 2.91 GFLOP/s, within the budget of 3. Made from a trained
# `wide_mask` checkpoint by `amssfx train --widen` and trained on (training/wider_mask): it gains
# more over identity than `wide_mask` in every family on both held-out soundfonts. A chunk takes
# ~12-18 % longer in onnxruntime (78-84 against 70-72 ms, one thread, idle machine): 24 channels
# are computed as two blocks of 16, like 32. The engine's chunk overlap went from 25 % to 12.5 %
# (engine.py) to pay for it: `amssfx process` runs at 0.045 x real time, as `wide_mask` did at 25 %.
WIDER_MASK = replace(SMALL_MASK, name="wider_mask", level_channels=(8, 16, 24, 32))

# `wider44_mask`: `wider_mask` with 44 channels in the middle block (8, 16, 24, 44), 2.98 GFLOP/s,
# just within the budget of 3: the middle block runs at an eighth of the frequency resolution, so
# its width is the cheapest capacity left (8/16/32/32 would cost 3.30). onnxruntime computes convs
# in blocks of channels (16 on AVX-512, 8 on AVX2), so 44 costs what 48 would; on an AVX2 CPU a
# chunk took 148-153 ms against 146-149 ms for `wider_mask` (one thread, median of 20).
# The default and bundled configuration: made from the trained `wider_mask` checkpoint by
# `amssfx train --widen` and trained on (training/wider44_mask); at 32.7k examples it already gained
# more over identity than `wider_mask` in every family on the held-out FluidR3 songs. How it was
# trained on since, and what each bundled step measured, is in training/HISTORY.md.
WIDER44_MASK = replace(SMALL_MASK, name="wider44_mask", level_channels=(8, 16, 24, 44))

# The bundled configuration: what a new run trains, and `training/<name>` is the run `amssfx train`
# resumes by default.
DEFAULT = WIDER44_MASK

# A tiny configuration for tests and for exercising the runtime with random weights.
TINY = ModelConfig(name="tiny", n_fft=512, hop=128, frames=32, channels=4, n_down=2,
                   tfc_layers=1, tdf_bottleneck=8, num_heads=2, num_lach=2,
                   embed_dim=8, text_hidden=8, direct_bands=16)

CONFIGS = {c.name: c for c in (PAPER, SMALL, SMALL_MASK, WIDE_MASK, WIDER_MASK, WIDER44_MASK, TINY)}
