"""Values checked where they enter: mask gains, solos, effect parameters, queries (one-line errors)."""
import numpy as np
import pytest

from amssfx.effects import BUILTIN, defaults, param_range, validate_effect
from amssfx.errors import EffectChainError, MaskError, QueryError
from amssfx.mask import MAX_GAIN, compose
from amssfx.query import parse


@pytest.mark.parametrize("gain", [float("nan"), float("inf"), -0.5, MAX_GAIN * 2])
def test_bad_mask_gains_are_refused_everywhere(gain, tiny_model):
    from amssfx.engine import Engine

    with pytest.raises(MaskError, match="gain"):
        compose((2, 2), gains=[(0, 1, gain)])
    e = Engine(tiny_model[1])
    m = np.ones(e.mask_shape, np.float32)
    m[0, 0] = gain
    with pytest.raises(MaskError):
        e.params("mute vocals", m)
    with pytest.raises(MaskError, match="direct_gain"):
        e.params("mute vocals", None, gain)


def test_solo_keeps_its_gain_and_twice_is_refused():
    m = compose((2, 2), solos=[(0, 1)], gains=[(0, 1, 0.5), (1, 1, 2.0)])
    assert m.tolist() == [[0.0, 0.5], [0.0, 0.0]]  # the app's meaning: a soloed channel keeps its gain
    with pytest.raises(MaskError, match="given twice"):
        compose((2, 2), solos=[(0, 1), (0, 1)])
    with pytest.raises(MaskError, match="out of range"):
        compose((2, 2), mutes=[(2, 0)])


def test_cli_mask_flags_name_the_problem(tmp_path):
    from conftest import run_cli, sine
    import soundfile as sf

    wav = tmp_path / "in.wav"
    sf.write(str(wav), sine(300, 1.0).T, 44100)
    for flags, text in ((["--gain", "0:1=nan"], "between 0 and 16"), (["--gain", "0:1=-1"], "between 0 and 16"),
                        (["--solo", "0:1", "--solo", "0:1"], "given twice")):
        r = run_cli("process", wav, "-q", "mute vocals", "-o", tmp_path / "o.wav", *flags)
        assert r.returncode == 2 and text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "o.wav").exists()


def test_every_builtin_default_is_in_range_and_out_of_range_is_refused():
    for t, (_, names) in BUILTIN.items():
        d = defaults(t)
        for n in names:
            lo, hi = param_range(t, n)
            assert lo <= d[n] <= hi, (t, n)
            validate_effect({"type": t, n: d[n]})
            for bad in (lo - max(1.0, abs(lo)), hi + max(1.0, abs(hi))):
                with pytest.raises(EffectChainError, match=f"{n} must be between"):
                    validate_effect({"type": t, n: bad})


@pytest.mark.parametrize("spec", [{"type": "lowpass", "cutoff_frequency_hz": -5},
                                  {"type": "lowpass", "cutoff_frequency_hz": 0},
                                  {"type": "delay", "feedback": 1.0},
                                  {"type": "reverb", "bypass": "false"},
                                  {"type": "reverb", "bypass": 1}])
def test_specs_that_give_silence_nan_or_a_coerced_bypass_are_refused(spec):
    with pytest.raises(EffectChainError):
        validate_effect(spec)


def test_long_and_non_text_queries_are_refused_with_short_messages():
    with pytest.raises(QueryError) as e:
        parse("mute " * 2000)
    assert len(str(e.value)) < 200 and "at most" in str(e.value)
    with pytest.raises(QueryError) as e:
        parse("mute " + "x" * 150)
    assert len(str(e.value)) < 300
    for bad in (None, 3, b"mute vocals", ["mute", "vocals"]):
        with pytest.raises(QueryError, match="must be text"):
            parse(bad)


def test_an_output_never_stands_without_its_sidecar(tmp_path, tiny_model):
    from conftest import run_cli, sine
    import soundfile as sf

    wav, out = tmp_path / "in.wav", tmp_path / "o.wav"
    sf.write(str(wav), sine(300, 1.0).T, 44100)
    (tmp_path / "o.wav.amssfx.json").mkdir()  # the sidecar cannot be written there
    r = run_cli("process", wav, "-q", "mute vocals", "-o", out, "--model", tiny_model[1], "--quiet")
    assert r.returncode == 1 and "sidecar" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav", "o.wav.amssfx.json"]  # no output, no .part


@pytest.mark.parametrize("text,hint", [("make the vocals louder", "increase the volume of vocals"),
                                       ("turn down the drums", "decrease the volume of drums"),
                                       ("drums only", "separate drums"),
                                       ("muffle the bass", "apply lowpass to bass")])
def test_everyday_words_get_a_query_that_works(text, hint):
    with pytest.raises(QueryError, match=f"'{hint}'"):
        parse(text)
    assert parse(hint)  # the suggestion itself parses


def test_a_query_the_model_has_not_learned_is_not_a_plain_ok(qtbot):
    from amssfx.gui.viewmodels import validate_text
    from amssfx.gui.widgets import QueryBuilder

    ok, msg = validate_text("remove reverb from vocals")
    assert ok and "not learned" in msg
    assert validate_text("mute vocals") == (True, "ok: mute vocals")
    qb = QueryBuilder()
    qbot = qtbot
    qbot.addWidget(qb)
    qb._from_text("remove reverb from vocals")
    assert "not learned" in qb.message.text() and "b06000" in qb.message.styleSheet()
    qb._from_text("mute vocals")
    assert qb.message.text() == "ok: mute vocals" and "2a7a2a" in qb.message.styleSheet()


@pytest.mark.parametrize("rate", [1000, 7919, 96000, 768000])
def test_any_rate_from_the_minimum_up_is_written_back_at_that_rate(tmp_path, rate, tiny_model):
    from conftest import run_cli
    import soundfile as sf

    src, out = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(str(src), (0.1 * np.random.default_rng(0).standard_normal((rate, 2))).astype(np.float32), rate)
    r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", tiny_model[1], "--quiet")
    assert r.returncode == 0, r.stderr
    assert (sf.info(str(out)).samplerate, sf.info(str(out)).frames) == (rate, rate)


def test_a_rate_below_the_minimum_is_refused_in_one_line(tmp_path):
    from conftest import run_cli
    import soundfile as sf

    src = tmp_path / "in.wav"
    sf.write(str(src), np.zeros((64, 2), np.float32), 8)
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav")
    assert r.returncode == 1 and "8 Hz" in r.stderr and "1000 Hz" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_deeply_nested_or_huge_json_gets_a_clear_error(tmp_path):
    from amssfx import session as sess
    from amssfx.effects import parse_fx
    from amssfx.errors import SessionError

    deep = "[" * 100000 + "]" * 100000
    with pytest.raises(EffectChainError, match="at most|nested"):
        parse_fx(deep)
    with pytest.raises(EffectChainError, match="nested too deeply"):
        parse_fx("[" * 5000 + "]" * 5000)
    p = tmp_path / "s.json"
    p.write_text("[" * 50000 + "]" * 50000)
    with pytest.raises(SessionError, match="nested too deeply"):
        sess.load(p)


def test_a_model_whose_output_breaks_its_contract_gets_a_contract_error(tmp_path):
    """A graph that returns 7 frames where its contract says 32: a contract error, on load when the
    graph declares the shape, else on the first chunk; never a reshape error deep in the engine."""
    import onnx
    from onnx import helper

    from amssfx.engine import Engine
    from amssfx.errors import ModelContractError
    from conftest import make_identity_onnx

    path = make_identity_onnx(tmp_path / "m.onnx")
    m = onnx.load(str(path))
    spec_in, spec_out = m.graph.input[0].name, m.graph.output[0].name
    del m.graph.node[:]
    consts = [helper.make_tensor(n, onnx.TensorProto.INT64, [1], [v]) for n, v in (("s", 0), ("e", 7), ("a", 2))]
    m.graph.initializer.extend(consts)
    m.graph.node.append(helper.make_node("Slice", [spec_in, "s", "e", "a"], [spec_out]))
    m.graph.output[0].type.tensor_type.shape.dim[2].dim_param = "frames"
    onnx.save(m, str(path))
    with pytest.raises(ModelContractError, match="contract"):
        e = Engine(path)
        e.process_array((0.1 * np.random.default_rng(0).standard_normal((2, 44100))).astype(np.float32), 44100,
                        e.params("mute vocals"))


def test_a_corrupt_block_is_reported_where_it_is_and_can_be_skipped(tmp_path, tiny_model):
    from conftest import run_cli
    import soundfile as sf

    src = tmp_path / "c.flac"
    x = (0.2 * np.random.default_rng(0).standard_normal((44100 * 10, 2))).astype(np.float32)
    sf.write(str(src), x, 44100, subtype="PCM_16")
    b = bytearray(src.read_bytes())
    b[len(b) // 2:len(b) // 2 + 4000] = bytes(4000)  # a run of frames in the middle destroyed
    src.write_bytes(bytes(b))
    out = tmp_path / "o.wav"
    r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", tiny_model[1], "--quiet")
    assert r.returncode == 1 and "cannot decode frames from" in r.stderr and not out.exists()
    at = float(r.stderr.split("(")[1].split(" s)")[0])
    assert 3.0 < at < 7.0  # where the damage is, not frame 0
    r = run_cli("process", src, "-q", "mute vocals", "-o", out, "--model", tiny_model[1], "--quiet",
                "--on-corrupt", "skip")
    assert r.returncode == 0 and "cannot be decoded; they are silent" in r.stderr, r.stderr
    assert sf.info(str(out)).frames == 441000  # the length is kept


@pytest.mark.parametrize("threads", ["0", "-2", "100000"])
def test_thread_counts_are_checked_at_the_edge(tmp_path, threads):
    from conftest import run_cli, sine
    import soundfile as sf

    src = tmp_path / "in.wav"
    sf.write(str(src), sine(300, 1.0).T, 44100)
    r = run_cli("process", src, "-q", "mute vocals", "-o", tmp_path / "o.wav", "--threads", threads)
    assert r.returncode == 2 and "threads must be a whole number from 1 to 256" in r.stderr
    assert not (tmp_path / "o.wav").exists()
