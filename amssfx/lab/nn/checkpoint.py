"""Checkpoints: a plain state dict (.pt) beside a JSON config, loaded with weights_only=True."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from amssfx.errors import ModelContractError
from amssfx.hashing import file_sha256
from .config import ModelConfig
from .model import AMSSNet


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save(model: AMSSNet, path: str | Path, extra: dict | None = None) -> Path:
    """Write `path` (state dict) and `path` with .json (config + extra info)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(model.state_dict(), path)
    meta = {"config": json.loads(model.cfg.to_json()), **(extra or {})}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path.with_suffix(".json"))
    return path


def load(path: str | Path) -> AMSSNet:
    """Model from a checkpoint; the JSON config beside it decides the architecture."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists():
        raise ModelContractError(f"checkpoint {path} not found")
    if not meta_path.exists():
        raise ModelContractError(f"checkpoint config {meta_path} not found (it is written beside the .pt)")
    try:
        cfg = ModelConfig.from_dict(json.loads(meta_path.read_text())["config"])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelContractError(f"checkpoint config {meta_path} is invalid: {e}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a corrupt file
        raise ModelContractError(f"checkpoint {path} cannot be read: {e}") from None
    model = AMSSNet(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ModelContractError(f"checkpoint {path} does not match its config {cfg.name}: "
                                 f"{str(e).splitlines()[0]}") from None
    return model.eval()

sha256 = file_sha256
