"""Shared fixtures: a tiny random model (torch + ONNX), an identity ONNX graph, test audio."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app's settings (recent files, export folder) go to a folder of this test run, never the user's,
# removed when the run ends.
os.environ["XDG_CONFIG_HOME"] = __import__("tempfile").mkdtemp(prefix="amssfx-test-config-")
__import__("atexit").register(__import__("shutil").rmtree, os.environ["XDG_CONFIG_HOME"], True)


def make_identity_onnx(path: Path, frames: int = 32, n_fft: int = 512, hop: int = 128, heads: int = 2,
                       lach: int = 2, version: int | None = None, name_override: dict | None = None) -> Path:
    """An ONNX graph with the amssfx contract whose output spectrogram equals its input."""
    import onnx
    from onnx import TensorProto, helper

    from amssfx.contract import (CONTRACT_VERSION, INPUT_DIRECT, INPUT_MASK, INPUT_SPEC, INPUT_TOKENS,
                                 META_KEY, OUTPUT_SPEC, Contract)
    from amssfx.query import MAX_TOKENS, VOCABULARY

    names = {"spec": INPUT_SPEC, "out": OUTPUT_SPEC, **(name_override or {})}
    freq = n_fft // 2 + 1
    inputs = [helper.make_tensor_value_info(names["spec"], TensorProto.FLOAT, [1, 4, frames, freq]),
              helper.make_tensor_value_info(INPUT_TOKENS, TensorProto.INT64, [1, MAX_TOKENS]),
              helper.make_tensor_value_info(INPUT_MASK, TensorProto.FLOAT, [1, heads, lach]),
              helper.make_tensor_value_info(INPUT_DIRECT, TensorProto.FLOAT, [1])]
    out = helper.make_tensor_value_info(names["out"], TensorProto.FLOAT, [1, 4, frames, freq])
    graph = helper.make_graph([helper.make_node("Identity", [names["spec"]], [names["out"]])], "identity", inputs, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    c = Contract(CONTRACT_VERSION if version is None else version, "identity", 44100, n_fft, hop, frames, heads,
                 lach, MAX_TOKENS, VOCABULARY, "0" * 64, {})
    meta = model.metadata_props.add()
    meta.key, meta.value = META_KEY, c.to_json()
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def identity_onnx(tmp_path_factory) -> Path:
    return make_identity_onnx(tmp_path_factory.mktemp("models") / "identity.onnx")


def _tiny_model(tmp_path_factory, mask_output: bool):
    import dataclasses

    import torch

    from amssfx.export.onnx_export import export
    from amssfx.lab.nn import checkpoint
    from amssfx.lab.nn.config import TINY
    from amssfx.lab.nn.model import AMSSNet

    d = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(1)
    model = AMSSNet(dataclasses.replace(TINY, mask_output=mask_output))
    if mask_output:
        with torch.no_grad():
            model.mask.weight.normal_()
    # Random BN statistics so the eval-mode network is not near-trivial.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    model.eval()
    ckpt = checkpoint.save(model, d / "tiny.pt")
    onnx_path = export(model, d / "tiny.onnx", checkpoint.sha256(ckpt))
    return ckpt, onnx_path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """(checkpoint path, onnx path) of a tiny random AMSS-Net."""
    return _tiny_model(tmp_path_factory, False)


@pytest.fixture(scope="session")
def tiny_mask_model(tmp_path_factory):
    """The same with the complex mask output (random, not zero)."""
    return _tiny_model(tmp_path_factory, True)


@pytest.fixture(scope="session")
def demo_path() -> Path:
    return ROOT / "amssfx" / "assets" / "demo.flac"


def sine(freq: float, seconds: float, sr: int = 44100, channels: int = 2, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x * (0.8 + 0.2 * c / max(channels, 1)) for c in range(channels)]).astype(np.float32)


def run_cli(*args, cwd=None, env=None, timeout=600):
    import subprocess

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "amssfx.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=e, timeout=timeout)


def run_lab(*args, cwd=None, env=None, timeout=600):
    """`amssfx-lab ARGS` in a subprocess."""
    import subprocess

    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "amssfx.lab.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=e, timeout=timeout)


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
