"""Effect chains: a JSON-serialisable spec <-> pedalboard plugins, streamed block by block."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import EffectChainError

# type -> (pedalboard class name, parameter names with units)
BUILTIN = {
    "lowpass": ("LowpassFilter", ("cutoff_frequency_hz",)),
    "highpass": ("HighpassFilter", ("cutoff_frequency_hz",)),
    "peak": ("PeakFilter", ("cutoff_frequency_hz", "gain_db", "q")),
    "lowshelf": ("LowShelfFilter", ("cutoff_frequency_hz", "gain_db", "q")),
    "highshelf": ("HighShelfFilter", ("cutoff_frequency_hz", "gain_db", "q")),
    "gain": ("Gain", ("gain_db",)),
    "compressor": ("Compressor", ("threshold_db", "ratio", "attack_ms", "release_ms")),
    "limiter": ("Limiter", ("threshold_db", "release_ms")),
    "reverb": ("Reverb", ("room_size", "damping", "wet_level", "dry_level", "width")),
    "delay": ("Delay", ("delay_seconds", "feedback", "mix")),
    "chorus": ("Chorus", ("rate_hz", "depth", "centre_delay_ms", "feedback", "mix")),
    "phaser": ("Phaser", ("rate_hz", "depth", "centre_frequency_hz", "feedback", "mix")),
    "distortion": ("Distortion", ("drive_db",)),
}


# The range of every built-in parameter (inclusive), checked before anything is processed: a value
# outside it either fails inside the plugin or gives silence or NaN (a negative cut-off, feedback
# of 1 or more). Effects run at 44.1 kHz, so frequencies stay below its Nyquist frequency.
RANGES = {
    "cutoff_frequency_hz": (10.0, 21000.0), "centre_frequency_hz": (10.0, 21000.0),
    "q": (0.05, 40.0), "ratio": (1.0, 100.0), "threshold_db": (-96.0, 0.0),
    "attack_ms": (0.01, 1000.0), "release_ms": (1.0, 10000.0),
    "room_size": (0.0, 1.0), "damping": (0.0, 1.0), "wet_level": (0.0, 1.0), "dry_level": (0.0, 1.0),
    "width": (0.0, 1.0), "delay_seconds": (0.0, 10.0), "mix": (0.0, 1.0), "depth": (0.0, 1.0),
    "rate_hz": (0.01, 99.0), "centre_delay_ms": (0.1, 100.0), "drive_db": (0.0, 80.0),
}
TYPE_RANGES = {("gain", "gain_db"): (-96.0, 36.0), ("delay", "feedback"): (0.0, 0.99),
               ("chorus", "feedback"): (-0.99, 0.99), ("phaser", "feedback"): (-0.99, 0.99)}
SHELF_PEAK_GAIN_DB = (-36.0, 36.0)


def param_range(effect_type: str, name: str) -> tuple[float, float]:
    """The allowed (low, high) of a built-in effect's parameter."""
    if (effect_type, name) in TYPE_RANGES:
        return TYPE_RANGES[(effect_type, name)]
    if name == "gain_db":
        return SHELF_PEAK_GAIN_DB
    return RANGES[name]


# Starting values where pedalboard's default would surprise: its low-pass starts at 50 Hz, which
# leaves a mix nearly silent.
START_VALUES = {("lowpass", "cutoff_frequency_hz"): 2000.0}
UNITS = (("_hz", "Hz"), ("_db", "dB"), ("_ms", "ms"), ("_seconds", "s"))
LABELS = {"cutoff_frequency_hz": "cut-off", "centre_frequency_hz": "centre frequency", "q": "Q",
          "centre_delay_ms": "centre delay", "delay_seconds": "delay time", "drive_db": "drive"}


def param_label(name: str) -> tuple[str, str]:
    """(label, unit) of a parameter for people: `cutoff_frequency_hz` -> ('cut-off', 'Hz')."""
    unit = next((u for suffix, u in UNITS if name.endswith(suffix)), "")
    if name in LABELS:
        return LABELS[name], unit
    base = next((name[: -len(suffix)] for suffix, _ in UNITS if name.endswith(suffix)), name)
    return base.replace("_", " "), unit


def defaults(effect_type: str) -> dict[str, float]:
    """Starting parameter values of a built-in effect: pedalboard's, except START_VALUES."""
    import pedalboard

    cls_name, names = BUILTIN[effect_type]
    plugin = getattr(pedalboard, cls_name)()
    return {n: START_VALUES.get((effect_type, n), float(getattr(plugin, n))) for n in names}


def validate_effect(spec) -> dict:
    """A normalised copy of one effect spec; raise EffectChainError naming the problem."""
    if not isinstance(spec, dict):
        raise EffectChainError(f"an effect must be an object, got {type(spec).__name__}")
    t = spec.get("type")
    if "type" not in spec:
        keys = ", ".join(repr(str(k)[:20]) for k in list(spec)[:5])
        raise EffectChainError(f"an effect needs a 'type' (one of {', '.join(sorted(BUILTIN))} or vst3); "
                               f"this one has {keys or 'no keys'}")
    bypass = spec.get("bypass", False)
    if not isinstance(bypass, bool):
        raise EffectChainError(f"effect {str(t)[:40]!r}: bypass must be true or false, got {str(bypass)[:40]!r}")
    out = {"type": t, "bypass": bypass}
    if t == "vst3":
        path = spec.get("path")
        if not isinstance(path, str) or not path:
            raise EffectChainError("a vst3 effect needs a 'path'")
        params = spec.get("parameters", {})
        if not isinstance(params, dict):
            raise EffectChainError("vst3 'parameters' must be an object")
        out.update(path=path, parameters=dict(params))
        return out
    if t not in BUILTIN:
        raise EffectChainError(f"unknown effect type {str(t)[:40]!r}; choose from {', '.join(sorted(BUILTIN))} or vst3")
    names = BUILTIN[t][1]
    params = {k: v for k, v in spec.items() if k not in ("type", "bypass")}
    for k, v in params.items():
        if k not in names:
            raise EffectChainError(f"effect {t!r} has no parameter {k!r}; it takes {', '.join(names)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise EffectChainError(f"effect {t!r}: {k} must be a finite number, got {str(v)[:40]!r}")
        lo, hi = param_range(t, k)
        if not lo <= v <= hi:
            raise EffectChainError(f"effect {t!r}: {k} must be between {lo:g} and {hi:g}, got {v:g}")
    out.update({k: float(v) for k, v in params.items()})
    return out


def validate_chain(chain) -> list[dict]:
    if not isinstance(chain, list):
        raise EffectChainError("an effect chain must be a list of effects")
    return [validate_effect(e) for e in chain]


def parse_fx(text: str) -> list[dict]:
    """CLI form: JSON (object or list), a .json file, or `type[:name=value,...]`."""
    text = text.strip()
    if len(text) > MAX_FX_CHARS:
        raise EffectChainError(f"--fx of {len(text)} characters ({text[:40]!r}…); at most {MAX_FX_CHARS}")
    try:
        return _parse_fx(text)
    except RecursionError:
        raise EffectChainError("--fx JSON is nested too deeply") from None


MAX_FX_CHARS = 65536  # a chain of dozens of effects, spelled out, fits easily
MAX_FX_FILE_BYTES = 1 << 20


def _parse_fx(text: str) -> list[dict]:
    if text.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise EffectChainError(f"--fx JSON is malformed: {e.msg} at column {e.colno}") from None
        return validate_chain(data if isinstance(data, list) else [data])
    if text.endswith(".json") and Path(text).exists():
        if Path(text).stat().st_size > MAX_FX_FILE_BYTES:
            raise EffectChainError(f"{text}: larger than {MAX_FX_FILE_BYTES} bytes; not an effect chain")
        try:
            data = json.loads(Path(text).read_text())
        except json.JSONDecodeError as e:
            raise EffectChainError(f"{text}: malformed JSON: {e.msg} at line {e.lineno}") from None
        return validate_chain(data if isinstance(data, list) else [data])
    t, _, rest = text.partition(":")
    spec: dict = {"type": t.strip()}
    if t.strip() == "vst3":
        spec["path"] = rest
        return [validate_effect(spec)]
    for item in filter(None, (s.strip() for s in rest.split(","))):
        k, eq, v = item.partition("=")
        if not eq:
            raise EffectChainError(f"--fx {text!r}: expected name=value, got {item!r}")
        try:
            spec[k.strip()] = float(v)
        except ValueError:
            raise EffectChainError(f"--fx {text!r}: {k.strip()} must be a number, got {v!r}") from None
    return [validate_effect(spec)]


def build_plugin(spec: dict):
    import pedalboard

    if spec["type"] == "vst3":
        path = Path(spec["path"])
        if not path.exists():
            raise EffectChainError(f"VST3 plugin {path} not found")
        try:
            plugin = pedalboard.load_plugin(str(path))
        except Exception as e:  # noqa: BLE001 - plugin loaders fail in many ways
            raise EffectChainError(f"VST3 plugin {path} cannot be loaded: {str(e).splitlines()[0][:160]}") from None
        for k, v in spec.get("parameters", {}).items():
            try:
                setattr(plugin, k, v)
            except Exception as e:  # noqa: BLE001
                raise EffectChainError(f"VST3 plugin {path}: cannot set {k}={v!r}: {e}") from None
        return plugin
    cls_name, names = BUILTIN[spec["type"]]
    values = {**defaults(spec["type"]), **{k: spec[k] for k in names if k in spec}}
    return getattr(pedalboard, cls_name)(**values)


class EffectChain:
    """Stream stage over a chain spec: process / flush / reset; non-finite output is caught.

    A block whose output holds NaN/Inf is replaced by silence, the plugins are reset (a NaN
    would otherwise stay inside a reverb), and a warning names the time.
    """

    def __init__(self, spec: list[dict] | None, sample_rate: int):
        self.spec = validate_chain(spec or [])
        self.sample_rate = sample_rate
        import pedalboard

        self.board = pedalboard.Pedalboard([build_plugin(e) for e in self.spec if not e["bypass"]])
        self.warnings: list[str] = []
        self._position = 0

    @property
    def latency_samples(self) -> int:
        return 0

    @property
    def empty(self) -> bool:
        return len(self.board) == 0

    def reset(self) -> None:
        self.board.reset()
        self._position = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[1]
        if self.empty or n == 0:
            self._position += n
            return block
        y = self.board(np.ascontiguousarray(block, np.float32), self.sample_rate, reset=False)
        if not np.isfinite(y).all():
            self.warnings.append(f"the effect chain produced NaN/Inf at {self._position / self.sample_rate:.3f} s; "
                                 f"that block was silenced and the effects reset")
            self.board.reset()
            y = np.zeros_like(block)
        self._position += n
        return y

    def flush(self) -> np.ndarray:
        """Nothing: the chain adds no latency and output ends with the input (a reverb tail past
        the end is not appended, so the output keeps the input's length)."""
        return np.zeros((2, 0), np.float32)
