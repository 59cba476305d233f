"""Export a checkpoint to ONNX: fixed-shape chunk, tokens, latent-channel mask and direct-path gain inputs."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from amssfx.contract import (CONTRACT_VERSION, INPUT_DIRECT, INPUT_MASK, INPUT_SPEC, INPUT_TOKENS, META_KEY,
                             OUTPUT_ENERGY, OUTPUT_SPEC, Contract)
from amssfx.errors import AmssfxError
from amssfx.lab.nn import checkpoint
from amssfx.lab.nn.inference import for_inference
from amssfx.lab.nn.model import AMSSNet
from amssfx.query import VOCABULARY

OPSET = 17


class _Graph(torch.nn.Module):
    def __init__(self, model: AMSSNet):
        super().__init__()
        self.model = model

    def forward(self, spec, tokens, lach_mask, direct_gain):
        return self.model(spec, tokens, lach_mask, direct_gain, return_energy=True)


def contract_for(model: AMSSNet, sha256: str) -> Contract:
    cfg = model.cfg
    import json
    return Contract(CONTRACT_VERSION, cfg.name, cfg.sample_rate, cfg.n_fft, cfg.hop, cfg.frames,
                    cfg.num_heads, cfg.num_lach, cfg.max_tokens, VOCABULARY, sha256, json.loads(cfg.to_json()))


def export(model: AMSSNet, out_path: str | Path, sha256: str = "") -> Path:
    """Write `out_path` atomically; the graph's metadata carries the whole contract. The graph is
    the model's inference form (amssfx.lab.nn.inference): the same function, faster in onnxruntime."""
    import onnx

    cfg = model.cfg
    out_path = Path(out_path)
    if not out_path.parent.is_dir():
        raise AmssfxError(f"{out_path}: folder {out_path.parent} does not exist")
    args = (torch.zeros(1, 4, cfg.frames, cfg.freq_bins), torch.zeros(1, cfg.max_tokens, dtype=torch.long),
            torch.ones(1, cfg.num_heads, cfg.num_lach), torch.ones(1))
    tmp = out_path.with_name(out_path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        # Shapes are fixed by the contract, so the tracer's constant-shape warnings do not apply.
        warnings.simplefilter("ignore")
        torch.onnx.export(_Graph(for_inference(model)), args, str(tmp), input_names=[INPUT_SPEC, INPUT_TOKENS, INPUT_MASK, INPUT_DIRECT],
                          output_names=[OUTPUT_SPEC, OUTPUT_ENERGY], opset_version=OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(tmp))
    meta = proto.metadata_props.add()
    meta.key, meta.value = META_KEY, contract_for(model, sha256).to_json()
    onnx.save(proto, str(tmp))
    os.replace(tmp, out_path)
    return out_path


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path) -> Path:
    model = checkpoint.load(ckpt_path)
    return export(model, out_path, checkpoint.sha256(ckpt_path))
