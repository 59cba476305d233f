"""The evaluation protocol: per-family SDRs, gain over identity, and the markdown table."""
import numpy as np
import pytest

from amssfx.engine import Engine
from amssfx.lab.evaluate import FAMILIES, evaluate_families, gain_interval, markdown
from amssfx.tasks import global_dsp

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    """Two 3 s songs whose four stems are independent noises of different colours."""
    root = tmp_path_factory.mktemp("bank")
    rng = np.random.default_rng(0)
    for i in range(2):
        stems = 0.1 * rng.standard_normal((4, 2, 3 * 44100))
        stems[2] = np.cumsum(stems[2], -1) * 0.02  # a low, bass-like stem
        np.save(root / f"song_{i:010d}.npy", stems.astype(np.float32))
    return root


def test_identity_model_gains_nothing(identity_onnx, bank):
    rows = evaluate_families(Engine(identity_onnx), bank, clips=2, seconds=1.0, seed=0)
    assert list(rows) == list(FAMILIES)
    for f, r in rows.items():
        assert abs(r["model"] - r["identity"]) < 0.01, f  # the STFT round trip is below -90 dB
        assert sum(c for _, c in r["gain_by_targets"].values()) == 2
    # Identity is a poor answer to a query that changes the mix: a finite, low SDR.
    assert rows["separate"]["identity"] < 10 and np.isfinite(rows["separate"]["identity"])


class GlobalDSP:
    """A stand-in engine that answers every query with the global DSP baseline."""

    def params(self, q):
        return q

    def process_array(self, x, sr, q):
        return global_dsp(x, q)


def test_model_column_is_the_system_s_output(bank):
    rows = evaluate_families(GlobalDSP(), bank, clips=3, seconds=1.0, seed=1)
    for f, r in rows.items():
        assert r["model"] == pytest.approx(r["global_dsp"], abs=1e-9), f
    # The baseline really edits: its SDR is not identity's.
    assert abs(rows["volume_up"]["global_dsp"] - rows["volume_up"]["identity"]) > 0.1


def test_markdown_tables(bank, identity_onnx):
    rows = evaluate_families(Engine(identity_onnx), bank, clips=3, seconds=1.0, seed=2)
    meta = {"model": "identity.onnx", "config": "identity", "sha256": "0" * 64, "clips": 3, "seconds": 1.0,
            "seed": 2, "soundfont": "FluidR3_GM", "date": "2026-01-01"}
    text = markdown(rows, [], meta)
    lines = text.splitlines()
    family_rows = [l for l in lines if l.startswith("| ") and l.split(" | ")[0][2:] in FAMILIES]
    assert len(family_rows) == 3 * len(FAMILIES)  # the main table, by number of sources, by source
    assert "gain over identity" in text and "1 source" in text and "| family | vocals | drums | bass |" in text
    assert all(l.endswith(" |") and "± " in l.split(" dB | ")[1] for l in family_rows[:len(FAMILIES)])


def test_whole_songs_identity_keeps_the_band_and_leaks_everything(identity_onnx, bank):
    from amssfx.lab.evaluate import evaluate_whole_songs

    w = evaluate_whole_songs(Engine(identity_onnx), bank, songs=2, seconds=2.0)
    assert w["songs"] == 2
    # identity leaves `other` in place (its projection is 1 up to the other stems' chance overlap with it)
    assert w["kept"] == pytest.approx(1.0, abs=0.05)
    assert abs(w["leak_db"]) < 0.01  # and passes the instrumental whole into the vocals' stem
    assert w["sdr"] < 0  # the output holds the other three stems as well: far from `other` alone
    meta = {"model": "identity.onnx", "config": "identity", "sha256": "0" * 64, "clips": 3, "seconds": 1.0,
            "seed": 2, "soundfont": "FluidR3_GM", "date": "2026-01-01", "whole_songs": w}
    text = markdown({}, [], meta)
    assert "share of the `other` stem kept (1 = all) | 1.0" in text or "kept (1 = all) | 0.9" in text


def test_gain_interval():
    # Two clips, gains 1 and 3: sample std sqrt(2), mean over sqrt(2) clips -> 1.96 dB half-width.
    assert gain_interval(np.array([1.0, 3.0])) == pytest.approx(1.96)
    assert gain_interval(np.full(10, 4.0)) == 0.0
    assert np.isnan(gain_interval(np.array([4.0])))  # one clip: no interval


def test_bank_of_another_seed_or_soundfont_is_refused(tmp_path):
    import json

    from amssfx.lab.evaluate import HELD_OUT, prepare_bank

    index = {"seed": 5, "soundfont": "FluidR3_GM.sf2", "songs": []}
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="seed 5"):
        prepare_bank(tmp_path, HELD_OUT["fluidr3"], 0.5)
    index["seed"] = 3
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="TimGM6mb"):
        prepare_bank(tmp_path, HELD_OUT["timgm6mb"], 0.5)
    index["seed"] = 13
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="recorded-heldout"):
        prepare_bank(tmp_path, HELD_OUT["recorded"], 0.5)
    assert list(tmp_path.iterdir()) == [tmp_path / "index.json"]  # nothing rendered into it


def test_held_out_sets_come_real_timbre_first_and_never_name_reserved_soundfonts():
    from amssfx.lab.evaluate import HELD_OUT

    assert list(HELD_OUT)[0] == "recorded" and HELD_OUT["recorded"].material == "recorded-heldout"
    assert {h.soundfont for h in HELD_OUT.values()} <= {None, "timgm6mb"}
    assert len({h.table for h in HELD_OUT.values()}) == len(HELD_OUT)


def test_a_small_bank_grows_to_the_asked_size_keeping_its_songs(tmp_path):
    from amssfx.lab.evaluate import HELD_OUT, prepare_bank

    first = prepare_bank(tmp_path, HELD_OUT["fluidr3"], 0.5)  # one song of 30 s
    assert len(first["songs"]) == 1
    kept = tmp_path / first["songs"][0]
    before = (kept.stat().st_mtime_ns, kept.read_bytes())
    grown = prepare_bank(tmp_path, HELD_OUT["fluidr3"], 1.0)
    assert len(grown["songs"]) == 2 and first["songs"][0] in grown["songs"]
    assert (kept.stat().st_mtime_ns, kept.read_bytes()) == before


class QueryChannels:
    """A stand-in engine of two latent channels: 0:0 plays the mix only under KEEP_BAND_QUERY (as a
    channel carrying `other` should), 0:1 half the mix only under LACH_QUERY."""

    mask_shape = (1, 2)

    def params(self, query, mask, direct):
        from amssfx.lab.evaluate import LACH_QUERY

        assert direct == 0.0  # channels are measured with the direct path off
        return (query == LACH_QUERY, int(np.argmax(mask[0])))

    def process_array(self, x, sr, p):
        lach_query, j = p
        return x * (0.0 if lach_query else 1.0) if j == 0 else x * (0.5 if lach_query else 0.0)


def test_latent_channels_are_measured_under_both_complementary_queries(bank):
    from amssfx.lab.evaluate import KEEP_BAND_QUERY, LACH_QUERY, evaluate_latent_channels

    rows = evaluate_latent_channels(QueryChannels(), bank, clips=2, seconds=1.0, seed=0)
    a, b = rows
    assert (a["energy_share"], a["energy_share_rest"], a["named_under"]) == (0.0, 1.0, KEEP_BAND_QUERY)
    assert (b["energy_share"], b["energy_share_rest"], b["named_under"]) == (1.0, 0.0, LACH_QUERY)
    assert a["correlation"] > 0.2 and a["stem"] in ("vocals", "drums", "bass", "other")  # the mix correlates
    meta = {"model": "m.onnx", "config": "c", "sha256": "0" * 64, "clips": 2, "seconds": 1.0, "seed": 0,
            "soundfont": "FluidR3_GM", "date": "2026-01-01"}
    text = markdown({}, rows, meta)
    assert f"share under `{LACH_QUERY}` | share under `{KEEP_BAND_QUERY}` |" in text
    assert "| 0:0 | 0.0 % | 100.0 % |" in text and "| 0:1 | 100.0 % | 0.0 % |" in text


class TurnedOver(QueryChannels):
    """One channel that plays the vocals of the clip turned over (as a channel that takes them out
    of the direct path's copy of the mix)."""

    mask_shape = (1, 1)
    vocals = None

    def process_array(self, x, sr, p):
        return -self.vocals


def test_a_channel_carrying_a_source_turned_over_is_named_by_it_with_its_sign(monkeypatch, bank):
    from amssfx.lab import evaluate

    rng = np.random.default_rng(5)
    stems = {name: rng.standard_normal((2, 44100)).astype(np.float32) for name in evaluate.STEM_NAMES}
    monkeypatch.setattr(evaluate, "held_out_clips", lambda *a: iter([("song", stems)]))
    engine = TurnedOver()
    engine.vocals = stems["vocals"]
    (row,) = evaluate.evaluate_latent_channels(engine, bank, clips=1, seconds=1.0, seed=0)
    # the stem it correlates with most, with its sign; not the least negative of the four (about 0)
    assert row["stem"] == "vocals" and row["correlation"] < -0.99
