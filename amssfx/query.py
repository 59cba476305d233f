"""The AMSS query language: parse text into a structured query, canonical text and model tokens."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import QueryError

SOURCES = ("vocals", "drums", "bass")  # canonical order of targets
ALL_STEMS = ("vocals", "drums", "bass", "other")
STRENGTHS = ("light", "medium", "heavy")
SIDES = ("left", "right")
FAMILIES = ("mute", "separate", "volume_up", "volume_down", "pan", "hard_pan",
            "lowpass", "highpass", "dereverb")

_X, _SIDE, _STRENGTH = "<X>", "<SIDE>", "<STRENGTH>"
_OPT_STRENGTH = "<STRENGTH?>"

# (family, template tokens); the first template of a family is its canonical form.
TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mute", ("mute", _X)),
    ("mute", ("remove", _X)),
    ("mute", ("get", "rid", "of", _X)),
    ("mute", ("eliminate", _X)),
    ("separate", ("separate", _X)),
    ("separate", ("isolate", _X)),
    ("separate", ("extract", _X)),
    ("volume_up", ("increase", "the", "volume", "of", _X)),
    ("volume_down", ("decrease", "the", "volume", "of", _X)),
    ("pan", ("pan", _X, "to", "the", _SIDE, "side")),
    ("hard_pan", ("pan", _X, "completely", "to", "the", _SIDE, "side")),
    ("lowpass", ("apply", _OPT_STRENGTH, "lowpass", "to", _X)),
    ("highpass", ("apply", _OPT_STRENGTH, "highpass", "to", _X)),
    ("dereverb", ("remove", "reverb", "from", _X)),
)

# Families the bundled model has not learned: the parser, the DSP and the evaluation know them, but
# the model's result stays close to its input. Front ends say so instead of a plain "ok".
UNTRAINED_FAMILIES = ("dereverb",)

# Everyday words people type for an edit the language has, and the template they mean.
PHRASES = (
    (("louder", "boost", "raise", "up", "turn up", "more"), "increase the volume of {x}"),
    (("quieter", "softer", "lower", "down", "turn down", "less", "reduce"), "decrease the volume of {x}"),
    (("without", "no", "kill", "delete", "drop", "cut"), "mute {x}"),
    (("only", "solo", "just", "keep", "isolated", "acapella", "a cappella"), "separate {x}"),
    (("muffle", "muffled", "darker", "dull", "warmer", "bass-heavy"), "apply lowpass to {x}"),
    (("thin", "thinner", "brighter", "tinny"), "apply highpass to {x}"),
    (("left",), "pan {x} to the left side"),
    (("right",), "pan {x} to the right side"),
)


def suggestion(text: str) -> str | None:
    """A valid query close in meaning to `text` (`make the vocals louder` -> `increase the volume of
    vocals`), from everyday words and the sources it names; None if nothing fits."""
    low = " " + re.sub(r"[^a-z, -]", " ", text.lower()) + " "
    named = [s for s in SOURCES if re.search(rf"\b{s[:-1]}", low)] or ["vocals"]
    x = ", ".join(named)
    for words, template in PHRASES:
        if any(f" {w} " in low for w in words):
            return template.format(x=x)
    return None


def caveat(query: "Query") -> str | None:
    """A word of warning for a query the bundled model was not trained on, else None."""
    if query.family in UNTRAINED_FAMILIES:
        return (f"'{query.text}' is understood, but the bundled model has not learned it yet: "
                f"the result stays close to the input")
    return None


PAD, UNK = "<pad>", "<unk>"
MAX_TOKENS = 12  # longest canonical query: "pan vocals , drums , bass completely to the left side" (11)


def _template_words() -> list[str]:
    words: list[str] = []
    for _, tokens in TEMPLATES:
        for t in tokens:
            if not t.startswith("<") and t not in words:
                words.append(t)
    return words


# Model vocabulary: fixed order, index 0 is padding. Stored in the model contract.
VOCABULARY: tuple[str, ...] = (PAD, UNK, ",", "and", *SOURCES, *STRENGTHS, *SIDES,
                               *[w for w in _template_words()])
_KNOWN = set(VOCABULARY) | {"other"}


@dataclass(frozen=True)
class Query:
    """A parsed query: what to do (family) to which stems (targets), with its parameter."""

    family: str
    targets: tuple[str, ...]
    strength: str | None = None  # lowpass / highpass
    side: str | None = None  # pan / hard_pan

    @property
    def text(self) -> str:
        """Canonical text: the family's first template, targets in canonical order."""
        x = ", ".join(self.targets)
        f = self.family
        if f == "mute":
            return f"mute {x}"
        if f == "separate":
            return f"separate {x}"
        if f == "volume_up":
            return f"increase the volume of {x}"
        if f == "volume_down":
            return f"decrease the volume of {x}"
        if f == "pan":
            return f"pan {x} to the {self.side} side"
        if f == "hard_pan":
            return f"pan {x} completely to the {self.side} side"
        if f in ("lowpass", "highpass"):
            return f"apply {self.strength} {f} to {x}"
        if f == "dereverb":
            return f"remove reverb from {x}"
        raise QueryError(f"unknown family {f!r}")

    def __str__(self) -> str:
        return self.text


def tokenize(text: str) -> list[str]:
    """Lower-case words; commas are tokens of their own; a final full stop is dropped."""
    if not isinstance(text, str):
        raise QueryError(f"a query must be text, not {type(text).__name__}")
    text = text.strip().lower().rstrip(".!")
    return re.findall(r"[a-z0-9']+|,|[^\sa-z0-9',]+", text)


def encode(query: Query | str, length: int = MAX_TOKENS) -> list[int]:
    """Token ids of the canonical text, padded with 0 to `length` (the model's input)."""
    q = parse(query) if isinstance(query, str) else query
    words = tokenize(q.text)
    if len(words) > length:
        raise QueryError(f"query has {len(words)} tokens; the model takes at most {length}")
    ids = [VOCABULARY.index(w) for w in words]
    return ids + [0] * (length - len(ids))


class _Fail(Exception):
    def __init__(self, pos: int, expected: set[str]):
        self.pos, self.expected = pos, expected


def _match_sources(words: list[str], i: int) -> tuple[list[str], int]:
    """Match `src ((, | and | , and) src)*` from position i."""
    found: list[str] = []
    while True:
        if i >= len(words) or words[i] not in SOURCES:
            exp = set(SOURCES) - set(found)
            if i < len(words) and words[i] == "other":
                raise QueryError("'other' cannot be a target; to keep only the other instruments "
                                 "use 'mute vocals, drums, bass'")
            raise _Fail(i, exp)
        if words[i] in found:
            raise QueryError(f"source {words[i]!r} is named twice")
        found.append(words[i])
        i += 1
        if i < len(words) and words[i] == ",":
            i += 1
            if i < len(words) and words[i] == "and":
                i += 1
            continue
        if i < len(words) and words[i] == "and":
            i += 1
            continue
        return found, i


def _match(tokens: tuple[str, ...], words: list[str]) -> dict:
    out: dict = {}
    i = 0
    for t in tokens:
        if t == _X:
            out["targets"], i = _match_sources(words, i)
            continue
        if t == _OPT_STRENGTH:
            if i < len(words) and words[i] in STRENGTHS:
                out["strength"] = words[i]
                i += 1
            continue
        options = {_SIDE: set(SIDES), _STRENGTH: set(STRENGTHS)}.get(t, {t})
        if i >= len(words) or words[i] not in options:
            raise _Fail(i, options)
        if t == _SIDE:
            out["side"] = words[i]
        i += 1
    if i != len(words):
        raise _Fail(i, {"<end of query>"})
    return out


MAX_QUERY_CHARS = 200  # the longest valid query is about 70 characters


def parse(text: str) -> Query:
    """Parse a query; raise QueryError naming the first word that does not fit."""
    if not isinstance(text, str):
        raise QueryError(f"a query must be text, got {type(text).__name__}")
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query of {len(text)} characters ({text[:40]!r}…); a query has at most "
                         f"{MAX_QUERY_CHARS} characters")
    words = tokenize(text)
    if not words:
        raise QueryError("empty query; try for example 'mute vocals' or "
                         "'apply heavy lowpass to drums'")
    for w in words:
        if w not in _KNOWN:
            close = difflib.get_close_matches(w, [v for v in VOCABULARY if not v.startswith("<")], n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            phrase = suggestion(text)
            if phrase:
                hint = f"{hint[:-1]}, or '{phrase}'?" if close else f"; try '{phrase}'"
            raise QueryError(f"unknown word {w[:40]!r} in query {text.strip()[:80]!r}{hint}")
    best: _Fail | None = None
    for family, tokens in TEMPLATES:
        try:
            m = _match(tokens, words)
        except _Fail as f:
            if best is None or f.pos > best.pos:
                best = f
            elif f.pos == best.pos:
                best.expected |= f.expected
            continue
        targets = tuple(s for s in SOURCES if s in m["targets"])
        strength = m.get("strength", "medium") if family in ("lowpass", "highpass") else None
        return Query(family, targets, strength, m.get("side"))
    assert best is not None
    expected = ", ".join(sorted(best.expected))
    if best.pos < len(words):
        raise QueryError(f"unexpected word {words[best.pos]!r} (word {best.pos + 1}) in query "
                         f"{text.strip()!r}; expected one of: {expected}")
    raise QueryError(f"query {text.strip()!r} ends too early; expected one of: {expected}")


def all_canonical_queries() -> list[Query]:
    """Every distinct query the language can express (used to draw training tasks)."""
    import itertools

    target_sets = [tuple(c) for r in (1, 2, 3) for c in itertools.combinations(SOURCES, r)]
    out: list[Query] = []
    for t in target_sets:
        out += [Query("mute", t), Query("separate", t), Query("volume_up", t),
                Query("volume_down", t), Query("dereverb", t)]
        out += [Query(f, t, side=s) for f in ("pan", "hard_pan") for s in SIDES]
        out += [Query(f, t, strength=k) for f in ("lowpass", "highpass") for k in STRENGTHS]
    return out
