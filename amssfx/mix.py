"""The stem mixer: a gain (-inf to +12 dB) and a pan for vocals, drums, bass and other, over the result.

Each stem a setting touches is the model's own estimate of it (the query the stem export uses:
`separate vocals`, ..., `mute vocals, drums, bass` for other), one more model pass per touched
stem. The mixer adds the difference between the stem as set and the stem as it is to the result
of the query, so a mixer at 0 dB and centre is exactly the query's result and costs nothing, and
-inf dB takes the stem's estimate out of the result.

Pan is a stereo balance that moves content instead of dropping it: at pan p < 0 the right channel
is scaled by 1 - |p| and what it loses is added to the left (p > 0 the mirror image), so a stem
panned fully left keeps all of its sound, summed into the left channel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import UsageValueError

STEMS = ("vocals", "drums", "bass", "other")
MAX_GAIN_DB = 12.0
MIN_GAIN_DB = -60.0  # below this a finite gain is refused: use -inf (or "mute") for silence
STEM_QUERIES = {"vocals": "separate vocals", "drums": "separate drums", "bass": "separate bass",
                "other": "mute vocals, drums, bass"}


@dataclass(frozen=True)
class StemSetting:
    gain_db: float = 0.0  # -inf mutes the stem
    pan: float = 0.0      # -1 left .. +1 right

    def __post_init__(self):
        g, p = self.gain_db, self.pan
        if isinstance(g, bool) or not isinstance(g, (int, float)) or math.isnan(g) or \
                not (g == -math.inf or MIN_GAIN_DB <= g <= MAX_GAIN_DB):
            raise UsageValueError(f"stem gain must be from {MIN_GAIN_DB:g} to +{MAX_GAIN_DB:g} dB, or -inf "
                                  f"(mute), got {g!r}")
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not -1.0 <= p <= 1.0:
            raise UsageValueError(f"stem pan must be from -1 (left) to 1 (right), got {p!r}")

    @property
    def unity(self) -> bool:
        return self.gain_db == 0 and self.pan == 0

    @property
    def linear(self) -> float:
        return 0.0 if self.gain_db == -math.inf else 10.0 ** (self.gain_db / 20.0)

    def apply(self, stem: np.ndarray) -> np.ndarray:
        """(channels, n) -> the stem at this gain and pan (pan acts on stereo only)."""
        y = stem * np.float32(self.linear)
        if self.pan == 0 or y.shape[0] != 2:
            return y
        p = np.float32(abs(self.pan))
        keep, move = (0, 1) if self.pan < 0 else (1, 0)  # the channel that receives, the one that gives
        out = y.copy()
        out[move] = y[move] * (1 - p)
        out[keep] = y[keep] + y[move] * p
        return out


@dataclass(frozen=True)
class StemMix:
    """Settings of the four stems (all at unity by default)."""

    vocals: StemSetting = StemSetting()
    drums: StemSetting = StemSetting()
    bass: StemSetting = StemSetting()
    other: StemSetting = StemSetting()

    def items(self):
        return [(n, getattr(self, n)) for n in STEMS]

    @property
    def unity(self) -> bool:
        return all(s.unity for _, s in self.items())

    def touched(self) -> list[str]:
        return [n for n, s in self.items() if not s.unity]

    def but(self, name: str, gain_db: float | None = None, pan: float | None = None) -> "StemMix":
        from dataclasses import replace

        if name not in STEMS:
            raise UsageValueError(f"unknown stem {name!r}; the mixer has {', '.join(STEMS)}")
        s = getattr(self, name)
        return replace(self, **{name: StemSetting(s.gain_db if gain_db is None else gain_db,
                                                  s.pan if pan is None else pan)})

    def to_dict(self) -> dict:
        """For sessions: {stem: {"gain_db": dB or null for -inf, "pan": p}} of the touched stems."""
        return {n: {"gain_db": None if s.gain_db == -math.inf else float(s.gain_db), "pan": float(s.pan)}
                for n, s in self.items() if not s.unity}

    @classmethod
    def from_dict(cls, d) -> "StemMix":
        if not isinstance(d, dict):
            raise UsageValueError("a stem mix must be an object {stem: {gain_db, pan}}")
        mix = cls()
        for name, v in d.items():
            if name not in STEMS:
                raise UsageValueError(f"unknown stem {name!r} in the stem mix; the mixer has {', '.join(STEMS)}")
            if not isinstance(v, dict) or set(v) - {"gain_db", "pan"}:
                raise UsageValueError(f"stem mix {name}: must be {{\"gain_db\": dB or null, \"pan\": -1..1}}")
            g = v.get("gain_db", 0.0)
            mix = mix.but(name, -math.inf if g is None else g, v.get("pan", 0.0))
        return mix

    @classmethod
    def parse(cls, specs: list[str] | str) -> "StemMix":
        """The CLI's --mix: `vocals=-6,drums=+3,bass=pan:-0.5,other=mute` (a stem may appear twice, once
        for its gain and once for its pan; `-inf` or `mute` silences it)."""
        if isinstance(specs, str):
            specs = [specs]
        gains: dict[str, float] = {}
        pans: dict[str, float] = {}
        for spec in specs:
            for item in filter(None, (i.strip() for i in spec.split(","))):
                name, eq, value = item.partition("=")
                name, value = name.strip().lower(), value.strip().lower()
                if not eq or not value:
                    raise UsageValueError(f"--mix {item!r} must be STEM=GAIN_DB or STEM=pan:P, e.g. vocals=-6")
                if name not in STEMS:
                    raise UsageValueError(f"--mix {item!r}: unknown stem {name!r}; choose from {', '.join(STEMS)}")
                target = pans if value.startswith("pan:") else gains
                if name in target:
                    raise UsageValueError(f"--mix: the {'pan' if target is pans else 'gain'} of {name} is given twice")
                text = value[4:] if target is pans else value.removesuffix("db")
                if target is gains and text in ("mute", "-inf"):
                    target[name] = -math.inf
                    continue
                try:
                    target[name] = float(text)
                except ValueError:
                    raise UsageValueError(f"--mix {item!r}: {text!r} is not a number") from None
                if not math.isfinite(target[name]):
                    raise UsageValueError(f"--mix {item!r}: use -inf or mute for silence; other values must be finite")
        mix = cls()
        for name in STEMS:
            if name in gains or name in pans:
                mix = mix.but(name, gains.get(name, 0.0), pans.get(name, 0.0))
        return mix

    def describe(self) -> str:
        parts = []
        for n, s in self.items():
            if s.unity:
                continue
            g = "-inf" if s.gain_db == -math.inf else f"{s.gain_db:+g} dB"
            parts.append(f"{n} {g}" + (f" pan {s.pan:+.2f}" if s.pan else ""))
        return ", ".join(parts) or "unity"


__all__ = ["STEMS", "STEM_QUERIES", "StemSetting", "StemMix", "MAX_GAIN_DB", "MIN_GAIN_DB"]
