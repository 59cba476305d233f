"""Sessions: a schema-versioned JSON recipe that reproduces a result (input, query, mask, chain, model, output)."""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .effects import validate_chain
from .errors import EffectChainError, QueryError, SessionError
from .query import parse

SCHEMA = "amssfx.session"
SCHEMA_VERSION = 1
MAX_SESSION_BYTES = 1 << 20


@dataclass
class Session:
    input: str
    query: str
    mask: list[list[float]] | None = None  # None = all ones
    direct_gain: float = 1.0
    chain: list[dict] = field(default_factory=list)
    model_path: str | None = None
    model_sha256: str | None = None
    output: str | None = None
    output_format: str | None = None
    # The app's latent-channel controls ({"solo": [[h, l], ...], "mute": [[h, l], ...], "gain": rows}),
    # so a reloaded session shows a solo as a solo; `mask` stays what is rendered.
    grid: dict | None = None
    # The stem mixer ({stem: {"gain_db": dB or null for -inf, "pan": -1..1}}, touched stems only): mix.py.
    mix: dict | None = None
    # Edit only these time ranges ([[start, end or null], ...] in seconds): regions.py.
    regions: list | None = None

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "version": SCHEMA_VERSION, **asdict(self)}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.part")
        try:
            tmp.write_text(json.dumps(self.to_dict(), indent=1))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path


_FIELDS = {"input": str, "query": str, "mask": (list, type(None)), "direct_gain": (int, float),
           "chain": list, "model_path": (str, type(None)), "model_sha256": (str, type(None)),
           "output": (str, type(None)), "output_format": (str, type(None)), "grid": (dict, type(None)),
           "mix": (dict, type(None)), "regions": (list, type(None))}


def _check_grid(grid: dict, mask) -> dict:
    """The app's solo/mute/gain controls: well formed, and rendering exactly the session's mask."""
    from .mask import compose

    if set(grid) != {"solo", "mute", "gain"}:
        raise SessionError("session grid must have exactly the fields solo, mute and gain")
    pairs = {}
    for k in ("solo", "mute"):
        v = grid[k]
        if not isinstance(v, list) or not all(isinstance(x, list) and len(x) == 2 and
                                              all(isinstance(i, int) and not isinstance(i, bool) for i in x)
                                              for x in v):
            raise SessionError(f"session grid {k} must be a list of [head, lach] pairs")
        pairs[k] = [tuple(x) for x in v]
    gain = grid["gain"]
    if not isinstance(gain, list) or not gain or not all(isinstance(r, list) for r in gain):
        raise SessionError("session grid gain must be a list of rows of numbers")
    shape = (len(gain), len(gain[0]))
    try:
        m = compose(shape, pairs["solo"], pairs["mute"], base=gain)
    except Exception as e:  # noqa: BLE001 - MaskError or a ragged list
        raise SessionError(f"session grid: {e}") from None
    if mask is not None and (len(mask) != shape[0] or any(len(r) != shape[1] for r in mask)
                             or any(abs(a - b) > 1e-6 for ra, rb in zip(m.tolist(), mask) for a, b in zip(ra, rb))):
        raise SessionError("session grid and mask disagree")
    return {"solo": [list(x) for x in pairs["solo"]], "mute": [list(x) for x in pairs["mute"]],
            "gain": [[float(x) for x in r] for r in gain]}


def from_dict(d) -> Session:
    """Validate a decoded session document; raise SessionError naming the first problem."""
    if not isinstance(d, dict):
        raise SessionError("a session must be a JSON object")
    if d.get("schema") != SCHEMA:
        raise SessionError(f"not an amssfx session (schema {d.get('schema')!r}, expected {SCHEMA!r})")
    if d.get("version") != SCHEMA_VERSION:
        raise SessionError(f"session version {d.get('version')!r}; this amssfx reads version {SCHEMA_VERSION}")
    body = {k: v for k, v in d.items() if k not in ("schema", "version")}
    unknown = set(body) - set(_FIELDS)
    if unknown:
        raise SessionError(f"unknown session fields: {', '.join(sorted(unknown))}")
    for k in ("input", "query"):
        if k not in body:
            raise SessionError(f"session field {k!r} is missing")
    for k, v in body.items():
        if isinstance(v, bool) or not isinstance(v, _FIELDS[k]):
            raise SessionError(f"session field {k!r} has the wrong type ({type(v).__name__})")
    try:
        parse(body["query"])
    except QueryError as e:
        raise SessionError(f"session query: {e}") from None
    if body.get("mask") is not None:
        m = body["mask"]
        if not m or not all(isinstance(r, list) and len(r) == len(m[0]) and
                            all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r) for r in m):
            raise SessionError("session mask must be a rectangular list of lists of numbers")
        from .mask import MAX_GAIN

        if not all(math.isfinite(x) and 0 <= x <= MAX_GAIN for r in m for x in r):
            raise SessionError(f"session mask gains must be finite numbers between 0 and {MAX_GAIN:g}")
    if "direct_gain" in body:
        from .mask import MAX_GAIN

        g = body["direct_gain"]
        if not (math.isfinite(g) and 0 <= g <= MAX_GAIN):
            raise SessionError(f"session direct_gain must be a finite number between 0 and {MAX_GAIN:g}, got {g!r}")
    try:
        body["chain"] = validate_chain(body.get("chain", []))
    except EffectChainError as e:
        raise SessionError(f"session chain: {e}") from None
    if body.get("grid") is not None:
        body["grid"] = _check_grid(body["grid"], body.get("mask"))
    if body.get("mix") is not None:
        from .errors import UsageValueError
        from .mix import StemMix

        try:
            body["mix"] = StemMix.from_dict(body["mix"]).to_dict()
        except UsageValueError as e:
            raise SessionError(f"session mix: {e}") from None
    if body.get("regions") is not None:
        from .errors import UsageValueError
        from .regions import Regions

        try:
            body["regions"] = Regions.from_list(body["regions"]).to_list()
        except UsageValueError as e:
            raise SessionError(f"session regions: {e}") from None
    sha = body.get("model_sha256")
    if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        raise SessionError("session model_sha256 must be 64 lower-case hex digits")
    return Session(**body)


def load(path: str | Path) -> Session:
    p = Path(path)
    if not p.exists():
        raise SessionError(f"{p}: session file not found")
    if p.stat().st_size > MAX_SESSION_BYTES:
        raise SessionError(f"{p}: larger than {MAX_SESSION_BYTES} bytes; not a session file")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SessionError(f"{p}: not valid JSON ({str(e)[:120]})") from None
    except RecursionError:
        raise SessionError(f"{p}: JSON nested too deeply; not a session file") from None
    return from_dict(d)


def sidecar_path(output: str | Path) -> Path:
    """Where the recipe of an export is written: `song.wav` -> `song.wav.amssfx.json`."""
    output = Path(output)
    return output.with_name(output.name + ".amssfx.json")
