"""An exported AMSS-Net on ONNX Runtime: load, check the contract, run one chunk."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import stft as _stft
from .contract import (INPUT_DIRECT, INPUT_MASK, INPUT_SPEC, INPUT_TOKENS, META_KEY, OUTPUT_ENERGY,
                       OUTPUT_SPEC, Contract)
from .errors import ModelContractError
from .query import Query, encode

SUBNORMAL_GUARD = 1e-30
ASSETS = Path(__file__).parent / "assets"
DEFAULT_MODEL = ASSETS / "default.onnx"
PREVIEW_THREADS = 2  # onnxruntime threads of the preview's one-chunk-at-a-time session, at most


class OnnxModel:
    """An ONNX Runtime session plus the contract read from the file's metadata."""

    def __init__(self, path: str | Path | None = None, threads: int | None = None, preview: bool = False):
        import onnxruntime as ort

        self.path = Path(path) if path is not None else DEFAULT_MODEL
        if not self.path.exists():
            raise ModelContractError(f"model {self.path} not found")
        if self.path.stat().st_size == 0:
            raise ModelContractError(f"model {self.path} is empty (0 bytes)")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        # The preview renders one chunk at a time and waits for it after every change, so it uses
        # the cores for that chunk (a chunk of the bundled model on an AVX2 CPU: 150 ms on one
        # thread, 95 ms on two), without spinning: idle threads sleep and leave the cores to the
        # audio and GUI threads.
        opts.intra_op_num_threads = threads if threads is not None else (
            min(PREVIEW_THREADS, os.cpu_count() or 1) if preview else 0)
        if preview:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises several types for bad files
            raise ModelContractError(f"model {self.path} cannot be loaded (corrupt or not ONNX): "
                                     f"{str(e).splitlines()[0][:200]}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if META_KEY not in meta:
            raise ModelContractError(f"model {self.path} has no amssfx contract metadata; "
                                     f"export it with `amssfx export-onnx`")
        self.contract = Contract.from_json(meta[META_KEY], str(self.path))
        self._check_graph()

    def _check_graph(self) -> None:
        c = self.contract
        want = {INPUT_SPEC: list(c.spec_shape), INPUT_TOKENS: [1, c.max_tokens],
                INPUT_MASK: [1, c.num_heads, c.num_lach], INPUT_DIRECT: [1]}
        have = {i.name: i.shape for i in self.session.get_inputs()}
        for name, shape in want.items():
            if name not in have:
                raise ModelContractError(f"model {self.path}: graph input {name!r} missing")
            if list(have[name]) != shape:
                raise ModelContractError(f"model {self.path}: input {name!r} has shape {have[name]}, "
                                         f"its contract says {shape}")
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        if OUTPUT_SPEC not in outs:
            raise ModelContractError(f"model {self.path}: graph output {OUTPUT_SPEC!r} missing")
        want_out = {OUTPUT_SPEC: list(c.spec_shape), OUTPUT_ENERGY: [1, c.num_heads, c.num_lach]}
        for name, shape in want_out.items():
            got = outs.get(name)
            if got is not None and all(isinstance(d, int) for d in got) and list(got) != shape:
                raise ModelContractError(f"model {self.path}: output {name!r} has shape {got}, "
                                         f"its contract says {shape}")
        self._outputs = [OUTPUT_SPEC] + ([OUTPUT_ENERGY] if OUTPUT_ENERGY in outs else [])

    @property
    def mask_shape(self) -> tuple[int, int]:
        return self.contract.num_heads, self.contract.num_lach

    def check_mask(self, mask) -> np.ndarray:
        from .mask import check_mask

        return check_mask(mask, self.mask_shape)

    def run_spec(self, spec: np.ndarray, tokens: np.ndarray, mask: np.ndarray,
                 direct_gain: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(4, frames, freq) -> ((4, frames, freq), (heads, lach) latent-channel power or None)."""
        feeds = {INPUT_SPEC: spec[None].astype(np.float32), INPUT_TOKENS: tokens[None].astype(np.int64),
                 INPUT_MASK: mask[None].astype(np.float32), INPUT_DIRECT: np.array([direct_gain], np.float32)}
        res = self.session.run(self._outputs, feeds)
        if res[0].shape != (1, *spec.shape) or (len(res) > 1 and res[1].shape != (1, *self.mask_shape)):
            raise ModelContractError(f"model {self.path}: outputs of shape {[r.shape for r in res]}, its contract "
                                     f"says {(1, *spec.shape)} and {(1, *self.mask_shape)}")
        return res[0][0], (res[1][0] if len(res) > 1 else None)

    def run_chunk(self, audio: np.ndarray, query: Query, mask: np.ndarray,
                  direct_gain: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
        """(2, chunk_samples) stereo at 44.1 kHz -> (the same shape, latent-channel power or None)."""
        c = self.contract
        spec = _stft.stft(audio, c.n_fft, c.hop)
        out, energy = self.run_spec(spec, np.asarray(encode(query, c.max_tokens)), mask, direct_gain)
        y = _stft.istft(out, c.n_fft, c.hop, audio.shape[1])
        y[np.abs(y) < SUBNORMAL_GUARD] = 0.0  # no subnormal floats downstream (they are -600 dBFS)
        return y, energy

    def describe(self) -> str:
        c = self.contract
        return f"{self.path.name} ({c.config_name}, {c.num_heads}x{c.num_lach} latent channels)"

