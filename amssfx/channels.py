"""What each latent channel of a model carries, measured by `amssfx evaluate` and shipped beside the
model as `<model>.channels.json`: its best-matching stem and band, and its share of the output under
the measuring query and, where measured, under the query that keeps what that one removes (the gates
are conditioned on the query: a channel may be shut under `separate vocals, drums, bass` and heard
under `mute vocals, drums, bass`)."""
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
    share_rest: float | None = None  # the same under `rest_query` (None: not measured)
    rest_query: str = ""
    named_under: str = ""  # the query the stem and band were measured under ("": the measuring query)

    @property
    def silent(self) -> bool:
        return max(self.share, self.share_rest or 0.0) < 0.001

    @property
    def label(self) -> str:
        return f"{self.head}:{self.lach} silent" if self.silent else f"{self.head}:{self.lach} {self.stem} {self.band}"

    def _shares(self, query: str) -> str:
        text = f"{100 * self.share:.1f} % of the output under '{query}'"
        if self.share_rest is not None:
            text += f", {100 * self.share_rest:.1f} % under '{self.rest_query}'"
        return text

    def tooltip(self, query: str) -> str:
        if self.silent:
            return f"latent channel {self.head}:{self.lach}: carries almost nothing ({self._shares(query)})"
        return (f"latent channel {self.head}:{self.lach}: mostly {self.stem}, {self.band} band "
                f"({BAND_HZ.get(self.band, self.band)}), correlation with the {self.stem} stem "
                f"{self.correlation:+.2f} under '{self.named_under or query}'; {self._shares(query)} on held-out songs")


def sidecar(model_path: str | Path) -> Path:
    p = Path(model_path)
    return p.with_name(p.stem + ".channels.json")


KEYS = ("head", "lach", "stem", "band", "energy_share", "correlation")


def write(model_path, checkpoint_sha256: str, query: str, rows: list[dict], rest_query: str = "") -> Path:
    """Save the latent-channel table of `amssfx evaluate` beside the model (temp file + rename); with
    `rest_query`, each row's `energy_share_rest` is its share under that query."""
    import os

    out = sidecar(model_path)
    keys = KEYS + (("energy_share_rest", "named_under") if rest_query else ())
    doc = {"checkpoint_sha256": checkpoint_sha256, "query": query,
           "channels": [{k: r[k] for k in keys} for r in rows]}
    if rest_query:
        doc["rest_query"] = rest_query
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
        rest_query = str(doc.get("rest_query", ""))
        for r in doc["channels"]:
            rest = float(r["energy_share_rest"]) if rest_query and "energy_share_rest" in r else None
            c = ChannelName(int(r["head"]), int(r["lach"]), str(r["stem"]), str(r["band"]),
                            float(r["energy_share"]), float(r["correlation"]), rest,
                            rest_query if rest is not None else "", str(r.get("named_under", "")))
            names[(c.head, c.lach)] = c
        return str(doc.get("query", "")), names
    except (OSError, ValueError, KeyError, TypeError):
        return "", {}
