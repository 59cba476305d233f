"""What each latent channel of a model carries, measured by `amssfx evaluate` and shipped beside the
model as `<model>.channels.json`: its best-matching stem and band, and its share of the output."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

BAND_HZ = {"low": "below 250 Hz", "mid": "250 Hz to 4 kHz", "high": "above 4 kHz"}


@dataclass(frozen=True)
class ChannelName:
    head: int
    lach: int
    stem: str
    band: str
    share: float  # of the latent path's output energy under the measuring query
    correlation: float

    @property
    def label(self) -> str:
        return f"{self.head}:{self.lach} {self.stem} {self.band}" if self.share >= 0.001 else f"{self.head}:{self.lach} silent"

    def tooltip(self, query: str) -> str:
        if self.share < 0.001:
            return (f"latent channel {self.head}:{self.lach}: carries almost nothing "
                    f"({100 * self.share:.2f} % of the output under '{query}')")
        return (f"latent channel {self.head}:{self.lach}: mostly {self.stem}, {self.band} band "
                f"({BAND_HZ.get(self.band, self.band)}); {100 * self.share:.1f} % of the output under "
                f"'{query}' on held-out songs (correlation with the {self.stem} stem {self.correlation:+.2f})")


def sidecar(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".channels.json")


def write(model_path, checkpoint_sha256: str, query: str, rows: list[dict]) -> Path:
    """Save the latent-channel table of `amssfx evaluate` beside the model (temp file + rename)."""
    import os

    out = sidecar(model_path)
    doc = {"checkpoint_sha256": checkpoint_sha256, "query": query,
           "channels": [{k: r[k] for k in ("head", "lach", "stem", "band", "energy_share", "correlation")}
                        for r in rows]}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out)
    return out


def load(model_path, checkpoint_sha256: str) -> tuple[str, dict[tuple[int, int], ChannelName]]:
    """(query, names by (head, lach)) of the model's sidecar; empty when there is none, or when it
    was measured on other weights (another checkpoint sha256) or cannot be read."""
    try:
        doc = json.loads(sidecar(model_path).read_text())
        if doc.get("checkpoint_sha256") != checkpoint_sha256:
            return "", {}
        names = {}
        for r in doc["channels"]:
            c = ChannelName(int(r["head"]), int(r["lach"]), str(r["stem"]), str(r["band"]),
                            float(r["energy_share"]), float(r["correlation"]))
            names[(c.head, c.lach)] = c
        return str(doc.get("query", "")), names
    except (OSError, ValueError, KeyError, TypeError):
        return "", {}
