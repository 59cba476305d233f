import pytest

from amssfx.errors import QueryError
from amssfx.query import MAX_TOKENS, VOCABULARY, Query, all_canonical_queries, encode, parse, tokenize


@pytest.mark.parametrize("text,family,targets,extra", [
    ("mute vocals", "mute", ("vocals",), {}),
    ("remove drums", "mute", ("drums",), {}),
    ("get rid of bass", "mute", ("bass",), {}),
    ("eliminate vocals and drums", "mute", ("vocals", "drums"), {}),
    ("separate bass, vocals", "separate", ("vocals", "bass"), {}),
    ("isolate drums", "separate", ("drums",), {}),
    ("extract vocals, drums, and bass", "separate", ("vocals", "drums", "bass"), {}),
    ("increase the volume of drums", "volume_up", ("drums",), {}),
    ("decrease the volume of bass and vocals", "volume_down", ("vocals", "bass"), {}),
    ("pan drums to the left side", "pan", ("drums",), {"side": "left"}),
    ("pan vocals to the right side", "pan", ("vocals",), {"side": "right"}),
    ("pan bass completely to the left side", "hard_pan", ("bass",), {"side": "left"}),
    ("apply heavy lowpass to drums", "lowpass", ("drums",), {"strength": "heavy"}),
    ("apply lowpass to drums", "lowpass", ("drums",), {"strength": "medium"}),
    ("apply light highpass to vocals", "highpass", ("vocals",), {"strength": "light"}),
    ("Apply Highpass To Bass.", "highpass", ("bass",), {"strength": "medium"}),
    ("remove reverb from vocals", "dereverb", ("vocals",), {}),
])
def test_templates_parse(text, family, targets, extra):
    q = parse(text)
    assert q.family == family and q.targets == targets
    for k, v in extra.items():
        assert getattr(q, k) == v
    assert parse(q.text) == q  # the canonical form parses to the same query


def test_canonical_text():
    assert parse("get rid of bass and vocals").text == "mute vocals, bass"
    assert parse("apply lowpass to drums").text == "apply medium lowpass to drums"
    assert parse("isolate drums").text == "separate drums"


def test_tokens_and_vocabulary():
    assert tokenize("mute vocals, drums") == ["mute", "vocals", ",", "drums"]
    ids = encode("pan vocals, drums, bass completely to the left side")
    assert len(ids) == MAX_TOKENS and ids[-1] == 0 and 0 not in ids[:11]
    assert VOCABULARY[0] == "<pad>"
    for q in all_canonical_queries():
        assert parse(q.text) == q
        assert len([i for i in encode(q) if i]) <= MAX_TOKENS


@pytest.mark.parametrize("text,needle", [
    ("", "empty query"),
    ("   ", "empty query"),
    ("mute drumz", "'drumz'"),
    ("mute drumz", "did you mean 'drums'"),
    ("mute lowpass drums", "unexpected word 'lowpass'"),
    ("pan drums to the", "ends too early"),
    ("mute other", "'other' cannot be a target"),
    ("mute drums and drums", "named twice"),
    ("apply heavy lowpass", "ends too early"),
    ("apply extreme lowpass to drums", "'extreme'"),
])
def test_errors_name_the_problem(text, needle):
    with pytest.raises(QueryError) as e:
        parse(text)
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_query_is_immutable_and_hashable():
    q = Query("mute", ("vocals",))
    assert {q: 1}[parse("mute vocals")] == 1
