"""Fuzzing the audio-reading and session-loading paths (hypothesis).

CI runs a short pass; `make fuzz` runs about ten minutes (AMSSFX_FUZZ_EXAMPLES=...).
Any exception other than the typed errors, a hang, or a crash fails.
"""
import io
import json
import os
import struct

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amssfx import audio_io, session
from amssfx.errors import AmssfxError

EXAMPLES = int(os.environ.get("AMSSFX_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=2000, suppress_health_check=list(HealthCheck))


def _valid_wav(frames: int, channels: int, subtype: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((frames, channels), np.float32), 44100, format="WAV", subtype=subtype)
    return buf.getvalue()


@SETTINGS
@given(frames=st.integers(0, 300), channels=st.integers(1, 4), subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT"]),
       cut=st.integers(0, 2000), flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=8),
       ext=st.sampled_from(["wav", "flac", "ogg", "mp3", "bin"]))
def test_fuzz_audio_reading(tmp_path_factory, frames, channels, subtype, cut, flips, ext):
    data = bytearray(_valid_wav(frames, channels, subtype))
    del data[max(0, len(data) - cut):]
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    p = tmp_path_factory.mktemp("fz") / f"x.{ext}"
    p.write_bytes(bytes(data))
    try:
        r = audio_io.AudioReader(p, nonfinite="repair")
        total = 0
        for block in r.blocks(97):
            assert block.dtype == np.float32 and np.isfinite(block).all()
            assert block.shape[0] == r.info.channels
            total += block.shape[1]
            assert total <= max(r.info.frames, 0) + 97
    except AmssfxError:
        pass


@SETTINGS
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_as_audio(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("fz") / "x.wav"
    p.write_bytes(b"RIFF" + struct.pack("<I", len(blob)) + b"WAVE" + blob)
    try:
        for _ in audio_io.AudioReader(p).blocks(64):
            pass
    except AmssfxError:
        pass


json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                                                      max_size=4), max_leaves=20)


@SETTINGS
@given(overrides=st.dictionaries(st.sampled_from(["schema", "version", "input", "query", "mask", "direct_gain",
                                                  "chain", "model_path", "model_sha256", "output", "output_format",
                                                  "extra"]), json_values, max_size=5))
def test_fuzz_session_loading(tmp_path_factory, overrides):
    doc = {"schema": "amssfx.session", "version": 1, "input": "a.wav", "query": "mute vocals"}
    doc.update(overrides)
    p = tmp_path_factory.mktemp("fz") / "s.json"
    p.write_text(json.dumps(doc))
    try:
        s = session.load(p)
        assert isinstance(s.query, str) and isinstance(s.chain, list)
    except AmssfxError:
        pass


@SETTINGS
@given(st.binary(max_size=400))
def test_fuzz_session_bytes(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("fz") / "s.json"
    p.write_bytes(blob)
    try:
        session.load(p)
    except AmssfxError:
        pass


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) |
                     st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
                     lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                                        max_size=5),
                     max_leaves=20)


@SETTINGS
@given(t=st.sampled_from(["lowpass", "reverb", "delay", "chorus", "gain", "compressor", "vst3", "bogus", 3, None]),
       params=st.dictionaries(st.sampled_from(["cutoff_frequency_hz", "room_size", "feedback", "gain_db", "bypass",
                                               "ratio", "path", "parameters", "q", "x"]), _JSON, max_size=4))
def test_fuzz_effect_specs(t, params):
    """Any effect spec is either refused with an EffectChainError or valid and within its ranges."""
    from amssfx.effects import BUILTIN, param_range, validate_effect
    from amssfx.errors import EffectChainError

    try:
        spec = validate_effect({"type": t, **params})
    except EffectChainError:
        return
    assert isinstance(spec["bypass"], bool)
    if spec["type"] in BUILTIN:
        for k, v in spec.items():
            if k not in ("type", "bypass"):
                lo, hi = param_range(spec["type"], k)
                assert lo <= v <= hi


@SETTINGS
@given(doc=st.dictionaries(st.sampled_from(["schema", "version", "input", "query", "mask", "direct_gain", "chain",
                                            "grid", "model_sha256", "output", "junk"]), _JSON, max_size=8),
       valid_base=st.booleans())
def test_fuzz_session_documents(doc, valid_base):
    """Any decoded session document is either a valid session or a SessionError."""
    from amssfx.errors import SessionError

    base = {"schema": session.SCHEMA, "version": session.SCHEMA_VERSION, "input": "a.wav", "query": "mute vocals"}
    d = {**base, **doc} if valid_base else doc
    try:
        s = session.from_dict(d)
    except SessionError:
        return
    assert isinstance(s.query, str) and 0 <= s.direct_gain <= 16


@SETTINGS
@given(argv=st.lists(st.sampled_from(["process", "stems", "lach", "-q", "--query", "--solo", "--mute", "--gain",
                                      "--fx", "--threads", "--format", "-o", "x.wav", "1:1", "0:0=2", "nan",
                                      "mute vocals", "reverb:room_size=2", "--on-corrupt", "skip", "--head",
                                      "-1", "", "--bogus"]), max_size=8))
def test_fuzz_cli_arguments(argv):
    """The parser either parses or raises its one-line usage error; never anything else."""
    from amssfx.cli import UsageError, build_parser

    try:
        build_parser().parse_args(argv)
    except UsageError:
        pass
    except SystemExit as e:  # --help / --version only
        assert e.code == 0
