"""The exported model's contract: graph names, shapes and metadata, written by the exporter, checked by the engine."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from . import stft
from .errors import ModelContractError
from .query import MAX_TOKENS, VOCABULARY

CONTRACT_VERSION = 1
INPUT_SPEC, INPUT_TOKENS, INPUT_MASK, INPUT_DIRECT = "spec", "tokens", "lach_mask", "direct_gain"
OUTPUT_SPEC = "spec_out"
OUTPUT_ENERGY = "lach_energy"  # optional: (1, heads, lach) mean power per latent channel
META_KEY = "amssfx_contract"


@dataclass(frozen=True)
class Contract:
    """Everything the engine must know about an exported model."""

    version: int
    config_name: str
    sample_rate: int
    n_fft: int
    hop: int
    frames: int
    num_heads: int
    num_lach: int
    max_tokens: int
    vocabulary: tuple[str, ...]
    checkpoint_sha256: str
    config: dict

    @property
    def freq_bins(self) -> int:
        return stft.freq_bins(self.n_fft)

    @property
    def chunk_samples(self) -> int:
        return stft.chunk_samples(self.hop, self.frames)

    @property
    def spec_shape(self) -> tuple[int, int, int, int]:
        return (1, 4, self.frames, self.freq_bins)

    def to_json(self) -> str:
        d = asdict(self)
        d["vocabulary"] = list(self.vocabulary)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> "Contract":
        try:
            d = json.loads(text)
            d["vocabulary"] = tuple(d["vocabulary"])
            c = cls(**d)
        except (ValueError, TypeError, KeyError) as e:
            raise ModelContractError(f"{source}: contract metadata is malformed ({e})") from None
        c.validate(source)
        return c

    def validate(self, source: str = "model") -> None:
        if self.version != CONTRACT_VERSION:
            raise ModelContractError(f"{source}: contract version {self.version}, this amssfx reads "
                                     f"version {CONTRACT_VERSION}; re-export the model with this version")
        if self.sample_rate != 44100:
            raise ModelContractError(f"{source}: model sample rate {self.sample_rate}, expected 44100")
        if tuple(self.vocabulary) != VOCABULARY or self.max_tokens != MAX_TOKENS:
            raise ModelContractError(f"{source}: the model's vocabulary differs from this amssfx's query "
                                     f"language; re-export it with this version")
        if self.frames <= 1 or self.hop <= 0 or self.n_fft < self.hop or self.num_heads < 1 or self.num_lach < 1:
            raise ModelContractError(f"{source}: contract has invalid sizes")
