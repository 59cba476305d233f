"""View models of the app: plain state with no widgets, so they are testable and undoable."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from amssfx.effects import BUILTIN, defaults, validate_chain, validate_effect
from amssfx.errors import QueryError
from amssfx.query import SIDES, SOURCES, STRENGTHS, Query, caveat, parse

# Families as shown to users, in menu order -> internal family names.
FAMILY_LABELS = {
    "mute": "mute", "separate": "separate", "volume up": "volume_up", "volume down": "volume_down",
    "pan": "pan", "hard pan": "hard_pan", "lowpass": "lowpass", "highpass": "highpass",
    "remove reverb": "dereverb",
}


@dataclass
class QueryBuilderState:
    """Family, sources and parameter -> canonical query text (and back)."""

    family: str = "lowpass"
    sources: set[str] = field(default_factory=lambda: {"drums"})
    strength: str = "heavy"
    side: str = "left"

    def query(self) -> Query:
        if not self.sources:
            raise QueryError("choose at least one source")
        fam = FAMILY_LABELS.get(self.family, self.family)
        targets = tuple(s for s in SOURCES if s in self.sources)
        if fam in ("lowpass", "highpass"):
            return Query(fam, targets, strength=self.strength)
        if fam in ("pan", "hard_pan"):
            return Query(fam, targets, side=self.side)
        return Query(fam, targets)

    def text(self) -> str:
        return self.query().text

    def set_from_text(self, text: str) -> Query:
        """Parse free text; on success the builder shows it (raises QueryError otherwise)."""
        q = parse(text)
        self.family = {v: k for k, v in FAMILY_LABELS.items()}[q.family]
        self.sources = set(q.targets)
        if q.strength:
            self.strength = q.strength
        if q.side:
            self.side = q.side
        return q

    @staticmethod
    def uses_strength(family: str) -> bool:
        return FAMILY_LABELS.get(family, family) in ("lowpass", "highpass")

    @staticmethod
    def uses_side(family: str) -> bool:
        return FAMILY_LABELS.get(family, family) in ("pan", "hard_pan")


def validate_text(text: str) -> tuple[bool, str]:
    """(ok, message) for the free-text field, as the user types."""
    try:
        q = parse(text)
    except QueryError as e:
        return False, str(e)
    return True, caveat(q) or f"ok: {q.text}"


def help_html() -> str:
    """The query language as the app's help shows it: every template, with the words it takes."""
    from amssfx.query import TEMPLATES, UNTRAINED_FAMILIES

    labels = {family: label for label, family in FAMILY_LABELS.items()}
    rows = []
    for family, tokens in TEMPLATES:
        words = " ".join({"<X>": "<i>sources</i>", "<SIDE>": "left|right", "<STRENGTH>": "light|medium|heavy",
                          "<STRENGTH?>": "[light|medium|heavy]"}.get(t, t) for t in tokens)
        note = " (not learned yet by the bundled model)" if family in UNTRAINED_FAMILIES else ""
        rows.append(f"<tr><td>{labels.get(family, family)}</td><td>{words}{note}</td></tr>")
    return ("<p><i>sources</i>: any of vocals, drums, bass, joined by , or and "
            "(<i>other</i> is reached with <b>mute vocals, drums, bass</b>).</p>"
            "<table cellpadding='3'>" + "".join(rows) + "</table>"
            "<p>Space play/pause · 1/2/3 original/processed/difference · Ctrl+Z undo · Ctrl+E export</p>")


@dataclass
class LachGridState:
    """Per latent channel: 'solo', 'mute' flags and a gain; -> the engine's mask."""

    heads: int
    lach: int
    solo: np.ndarray = None
    mute: np.ndarray = None
    gain: np.ndarray = None

    def __post_init__(self):
        shape = (self.heads, self.lach)
        self.solo = np.zeros(shape, bool) if self.solo is None else self.solo
        self.mute = np.zeros(shape, bool) if self.mute is None else self.mute
        self.gain = np.ones(shape, np.float32) if self.gain is None else self.gain

    def mask(self) -> np.ndarray:
        from amssfx.mask import compose

        shape = (self.heads, self.lach)
        return compose(shape, [tuple(map(int, x)) for x in np.argwhere(self.solo)],
                       [tuple(map(int, x)) for x in np.argwhere(self.mute)], base=self.gain)

    def toggle_solo(self, h: int, l: int) -> None:
        self.solo[h, l] = not self.solo[h, l]

    def toggle_mute(self, h: int, l: int) -> None:
        self.mute[h, l] = not self.mute[h, l]

    def set_gain(self, h: int, l: int, g: float) -> None:
        from amssfx.mask import check_gain

        self.gain[h, l] = check_gain(g, f"gain of latent channel {h}:{l}")

    def reset(self) -> None:
        self.solo[:] = False
        self.mute[:] = False
        self.gain[:] = 1.0

    def snapshot(self) -> tuple:
        return (self.solo.tobytes(), self.mute.tobytes(), self.gain.tobytes())

    def restore(self, snap: tuple) -> None:
        shape = (self.heads, self.lach)
        self.solo = np.frombuffer(snap[0], bool).reshape(shape).copy()
        self.mute = np.frombuffer(snap[1], bool).reshape(shape).copy()
        self.gain = np.frombuffer(snap[2], np.float32).reshape(shape).copy()

    def to_grid(self) -> dict:
        """The controls as a session's `grid` field."""
        return {"solo": [[int(h), int(l)] for h, l in np.argwhere(self.solo)],
                "mute": [[int(h), int(l)] for h, l in np.argwhere(self.mute)],
                "gain": self.gain.astype(float).tolist()}

    @classmethod
    def from_grid(cls, grid: dict) -> "LachGridState":
        gain = np.asarray(grid["gain"], np.float32)
        st = cls(*gain.shape)
        st.gain = gain.copy()
        for h, l in grid["solo"]:
            st.solo[h, l] = True
        for h, l in grid["mute"]:
            st.mute[h, l] = True
        return st

    @classmethod
    def from_mask(cls, mask) -> "LachGridState":
        m = np.asarray(mask, np.float32)
        st = cls(*m.shape)
        st.gain = np.where(m > 0, m, 1.0).astype(np.float32)
        st.mute = m == 0
        return st


@dataclass
class ChainState:
    """An ordered list of effect specs (pedalboard built-ins or VST3), each with bypass."""

    effects: list[dict] = field(default_factory=list)

    def add(self, effect_type: str) -> int:
        spec = {"type": effect_type, "bypass": False, **defaults(effect_type)}
        self.effects.append(validate_effect(spec))
        return len(self.effects) - 1

    def add_vst3(self, path: str) -> int:
        from amssfx.effects import build_plugin

        spec = validate_effect({"type": "vst3", "path": path})
        build_plugin(spec)  # fails early, with a clear message, if it does not load
        self.effects.append(spec)
        return len(self.effects) - 1

    def remove(self, i: int) -> None:
        del self.effects[i]

    def move(self, i: int, j: int) -> None:
        e = self.effects.pop(i)
        self.effects.insert(max(0, min(j, len(self.effects))), e)

    def set_bypass(self, i: int, on: bool) -> None:
        self.effects[i]["bypass"] = bool(on)

    def set_param(self, i: int, name: str, value: float) -> None:
        spec = dict(self.effects[i], **{name: float(value)})
        self.effects[i] = validate_effect(spec)

    def spec(self) -> list[dict]:
        return validate_chain([dict(e) for e in self.effects])

    def snapshot(self) -> str:
        return json.dumps(self.effects)

    def restore(self, snap: str) -> None:
        self.effects = json.loads(snap)

    @staticmethod
    def types() -> list[str]:
        return sorted(BUILTIN)

    @staticmethod
    def params_of(effect: dict) -> list[str]:
        return list(BUILTIN[effect["type"]][1]) if effect["type"] in BUILTIN else []


@dataclass(frozen=True)
class EditState:
    """One undoable state of the edit: query text, latent-channel grid, effect chain, stem mixer."""

    query: str
    grid: tuple
    chain: str
    mix: object = None  # amssfx.mix.StemMix (frozen, comparable)


class UndoStack:
    """Edit states with a name each ("add reverb", "room size of reverb"); consecutive changes of
    the same control (a spin box stepped or typed into) merge into one step."""

    def __init__(self, initial: EditState, limit: int = 200):
        self._states = [initial]
        self._labels = [""]
        self._keys: list = [None]
        self._index = 0
        self.limit = limit

    @property
    def current(self) -> EditState:
        return self._states[self._index]

    def push(self, state: EditState, label: str = "edit", key=None) -> None:
        if state == self.current:
            return
        at_end = self._index == len(self._states) - 1
        if key is not None and at_end and self._index > 0 and self._keys[self._index] == key:
            self._states[self._index] = state  # the same control again: one step
            return
        del self._states[self._index + 1:], self._labels[self._index + 1:], self._keys[self._index + 1:]
        self._states.append(state)
        self._labels.append(label)
        self._keys.append(key)
        if len(self._states) > self.limit:
            for lst in (self._states, self._labels, self._keys):
                lst.pop(0)
        self._index = len(self._states) - 1

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._states) - 1

    def undo_label(self) -> str:
        return self._labels[self._index] if self.can_undo() else ""

    def redo_label(self) -> str:
        return self._labels[self._index + 1] if self.can_redo() else ""

    def undo(self) -> EditState:
        if self.can_undo():
            self._index -= 1
            self._keys[self._index + 1] = None  # a later change of the same control is a new step
        return self.current

    def redo(self) -> EditState:
        if self.can_redo():
            self._index += 1
        return self.current


__all__ = ["QueryBuilderState", "LachGridState", "ChainState", "UndoStack", "EditState", "validate_text",
           "FAMILY_LABELS", "SOURCES", "STRENGTHS", "SIDES"]
