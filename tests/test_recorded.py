"""The recorded-material renderer: reserved material refused, splits apart, samplers, singing,
production that keeps stems summing to the mix. Runs on a small tree of generated sample files
laid out like the Debian packages, so it needs none of them."""
import numpy as np
import pytest
import soundfile as sf

from amssfx.lab.data import recorded, sampler, singing, sources
from amssfx.lab.data.arrange import Note, arrange
from amssfx.lab.data.production import bus_gain, character, master, produce_stem

SR = 44100
pytestmark = pytest.mark.lab


def _tone(hz, seconds, rng, noise=0.0, decay=6.0):
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 6)) * np.exp(-decay * t / seconds)
    return (0.5 * x / np.abs(x).max() + noise * rng.standard_normal(len(t)) * np.exp(-8 * t)).astype(np.float32)


def _voice(hz, seconds):
    """A voiced 'word': a glottal pulse train through two resonances, with a noisy onset."""
    from scipy import signal

    n = int(seconds * SR)
    x = np.zeros(n)
    x[:: int(SR / hz)] = 1.0
    for f, bw in ((700, 110), (1200, 120)):
        b, a = signal.iirpeak(f, f / bw, SR)
        x = signal.lfilter(b, a, x)
    x[: n // 8] = np.random.default_rng(1).standard_normal(n // 8) * 0.05
    return (0.4 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture()
def tree(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    hyd, spi, lmms, ktub = tmp_path / "hydrogen", tmp_path / "sonic-pi", tmp_path / "lmms", tmp_path / "ktuberling"
    for kit, base in (("BJA_Pacific", 1.0), ("The Black Pearl 1.0", 1.1), ("ColomboAcousticDrumkit", 0.9),
                      ("ForzeeStereo", 1.2)):
        d = hyd / kit
        d.mkdir(parents=True)
        pieces = []
        for name, hz in (("Kick", 60), ("Snare", 200), ("Hi Hat Closed", 5000), ("Hi Hat Open", 6000)):
            layers = []
            for i, (lo, hi) in enumerate(((0.0, 0.5), (0.5, 1.0))):
                f = f"{name.replace(' ', '_')}_{i}.wav"
                seconds = {"Hi Hat Open": 0.8, "Hi Hat Closed": 0.1}.get(name, 0.3)
                x = _tone(hz * base * (1 + i), seconds, rng, 0.2, decay=1.0 if "Open" in name else 6.0)
                sf.write(d / f, x * (0.3 + 0.7 * i), SR)
                layers.append(f"<layer><filename>{f}</filename><min>{lo}</min><max>{hi}</max>"
                              f"<gain>1</gain><pitch>0</pitch></layer>")
            pieces.append(f"<instrument><id>{len(pieces)}</id><name>{name}</name>{''.join(layers)}</instrument>")
        (d / "drumkit.xml").write_text(f"<drumkit_info><name>{kit}</name><instrumentList>{''.join(pieces)}"
                                       "</instrumentList></drumkit_info>")
    spi.mkdir()
    for f, hz in (("drum_heavy_kick", 55), ("drum_snare_hard", 190), ("drum_cymbal_closed", 7000),
                  ("bd_fat", 50), ("sn_dub", 210)):
        sf.write(spi / f"{f}.flac", _tone(hz, 0.3, rng, 0.2), SR)
    sf.write(spi / "loop_amen.flac", np.tile(_tone(80, 0.25, rng, 0.3), 8), SR)
    for f, hz in (("bass_hit_c", 65.41), ("bass_woodsy_c", 65.41), ("guit_e_fifths", 82.4), ("guit_em9", 164.8)):
        sf.write(spi / f"{f}.flac", _tone(hz, 1.5, rng), SR)
    for sub, f, hz in (("instruments", "piano01", 261.6), ("instruments", "piano02", 261.6),
                       ("instruments", "steel_guitar01", 196.0), ("basses", "bass01", 55.0),
                       ("basses", "bass_acid01", 55.0), ("latin", "latin_guitar01", 196.0), ("drums", "kick01", 50),
                       ("drums", "hihat_closed01", 8000), ("drums", "snare01", 180)):
        (lmms / sub).mkdir(parents=True, exist_ok=True)
        sf.write(lmms / sub / f"{f}.ogg", _tone(hz, 1.5, rng), SR)
    for lang, hz in (("ca", 180), ("da", 120), ("en", 150)):
        (ktub / lang).mkdir(parents=True)
        for w in range(2):
            sf.write(ktub / lang / f"word{w}.ogg", _voice(hz + 20 * w, 0.6), SR)
    klet = tmp_path / "klettres"
    for lang, hz in (("fr", 180), ("en", 150), ("hu", 160)):  # en: left out of training; hu: faulty
        for sub in ("alpha", "syllab"):
            (klet / lang / sub).mkdir(parents=True)
            pad = np.zeros(SR, np.float32)  # the package pads each short take with silence
            sf.write(klet / lang / sub / "a.ogg", np.concatenate([pad, _voice(hz, 0.6), pad]), SR)
    for name, value in (("HYDROGEN", hyd), ("SONIC_PI", spi), ("LMMS", lmms), ("KTUBERLING", ktub),
                        ("KLETTRES", klet), ("CSOUND_SF2", tmp_path / "none.sf2")):
        monkeypatch.setattr(sources, name, value)
    recorded._sources.cache_clear()
    singing.take.cache_clear()
    yield tmp_path
    recorded._sources.cache_clear()
    singing.take.cache_clear()


@pytest.mark.parametrize("path", [
    "/usr/share/hydrogen/data/drumkits/ForzeeStereo/kick.wav", "/x/Millo-Drums_v.1/drumkit.xml",
    "/x/Millo_MultiLayered2/a.flac", "/x/Millo_MultiLayered3/a.flac", "/usr/share/games/hedgewars/Data/Sounds/voices/a.ogg",
    "/usr/share/midi/freepats/Tone_000/000_Acoustic_Grand_Piano.pat", "/usr/lib/lv2/avldrums.lv2/Red Zeppelin.sf2",
    "/usr/share/games/fretsonfire/data/songs/fretsonfire-songs-muldjord/a.ogg", "/x/fretsonfire-songs-sectoid/b.ogg",
    "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/MuseScore_General.sf3",
    "/usr/share/games/planetblupi/music/music000.ogg"])
def test_reserved_material_is_refused_by_name(path):
    with pytest.raises(sources.ReservedMaterialError, match="reserved for evaluation"):
        sources.allowed(path)


def test_splits_are_apart_and_reserved_kits_never_listed(tree):
    train, held = sources.sources("train"), sources.sources("heldout")
    train_files = {f for s in train for f in s.files}
    held_files = {f for s in held for f in s.files}
    assert train_files and held_files and not train_files & held_files
    assert not any("ForzeeStereo" in str(f) for f in train_files | held_files)
    assert {s.name for s in held if s.role == "kit"} == {"ColomboAcousticDrumkit"}
    assert {s.name for s in held if s.role == "voice"} == {"ktuberling en"}
    # klettres trains only, and not in the languages whose speakers may speak a held-out voice, nor faulty ones
    assert {s.name for s in train if s.name.startswith("klettres")} == {"klettres fr"}
    assert {s.role for s in train} >= {"kit", "oneshot_kit", "drum_loop", "bass", "other", "voice"}
    with pytest.raises(ValueError, match="split"):
        sources.sources("test")


def test_drum_kit_layers_and_hihat_choke(tree):
    kit = sampler.hydrogen_kit(tree / "hydrogen" / "BJA_Pacific" / "drumkit.xml")
    assert set(kit.pieces) == {"kick", "snare", "hat_closed", "hat_open"}
    rng = np.random.default_rng(0)
    soft = sampler.play_drums([Note(0.1, 0.1, 9, 36, 30)], kit, SR, rng)
    hard = sampler.play_drums([Note(0.1, 0.1, 9, 36, 127)], kit, SR, rng)
    assert np.abs(hard).max() > 3 * np.abs(soft).max()  # the hard layer, louder and at full velocity gain
    open_only = sampler.play_drums([Note(0.0, 0.1, 9, 46, 100)], kit, SR, np.random.default_rng(1))
    choked = sampler.play_drums([Note(0.0, 0.1, 9, 46, 100), Note(0.2, 0.1, 9, 42, 1)], kit, SR,
                                np.random.default_rng(1))
    tail = slice(int(0.35 * SR), int(0.7 * SR))  # after the closed hat's own sound
    assert np.abs(open_only[:, tail]).max() > 0.01
    assert np.abs(choked[:, tail]).max() < 0.2 * np.abs(open_only[:, tail]).max()


def test_pitched_sampler_plays_the_notes(tree):
    path = str(tree / "lmms" / "instruments" / "piano01.ogg")
    assert abs(sampler.root_key(path) - 60) < 0.5  # from the autocorrelation of a 261.6 Hz tone
    assert sampler.root_key(str(tree / "sonic-pi" / "bass_hit_c.flac")) == 36  # from the name
    y = sampler.play_notes([Note(0.0, 1.0, 1, 64, 100)], path, SR, np.random.default_rng(0))
    spec = np.abs(np.fft.rfft(y[0, : SR // 2]))
    assert abs(np.argmax(spec) * 2 - 329.6) < 6  # E4: four semitones up


def test_singing_follows_the_melody(tree):
    import pyworld

    word = str(tree / "ktuberling" / "ca" / "word0.ogg")
    y = singing.sing_word(word, 57.0, 1.2, np.random.default_rng(0))  # A3, 220 Hz, held for 1.2 s
    assert abs(len(y) / SR - 1.2) < 0.15  # the vowel is held for the note
    f0, _ = pyworld.dio(y.astype(np.float64), SR, frame_period=5.0)
    cents = 1200 * np.log2(f0[f0 > 0] / 220.0)
    assert len(cents) > 100 and abs(np.median(cents)) < 60


def test_padded_takes_are_trimmed_and_others_kept_whole(tree):
    padded = str(tree / "klettres" / "fr" / "syllab" / "a.ogg")
    y = singing.take(padded)
    assert y.shape[0] == 2 and 0.6 <= y.shape[1] / SR < 0.7  # the 0.6 s syllable and short margins
    assert np.abs(y).max() == np.abs(sampler.load(padded)).max()
    word = str(tree / "ktuberling" / "ca" / "word0.ogg")
    np.testing.assert_array_equal(singing.take(word), sampler.load(word))  # as before: banks stay what they were
    sung = singing.sing_word(padded, 57.0, 0.8, np.random.default_rng(0))
    assert abs(len(sung) / SR - 0.8) < 0.15  # the note's length, not the padding's


def test_production_keeps_the_length_and_master_keeps_the_sum():
    rng = np.random.default_rng(3)
    stems = {k: (0.2 * rng.standard_normal((2, SR))).astype(np.float32) for k in ("vocals", "drums", "bass", "other")}
    for k in stems:
        assert produce_stem(stems[k], k, np.random.default_rng(4)).shape == (2, SR)
    g = bus_gain(sum(stems.values()), np.random.default_rng(0))
    assert g.shape == (SR,) and 0 < g.min() <= g.max() <= 1.0
    out = master(stems, np.random.default_rng(1))
    mix = sum(out.values())
    assert abs(np.abs(mix).max() - 10 ** (-1 / 20)) < 1e-4
    # One gain curve for every stem: out[k] / stems[k] is the same function of time for all k.
    both = (np.abs(stems["vocals"][0]) > 0.05) & (np.abs(stems["drums"][0]) > 0.05)
    np.testing.assert_allclose(out["vocals"][0, both] / stems["vocals"][0, both],
                               out["drums"][0, both] / stems["drums"][0, both], rtol=1e-4)


def test_an_amp_drives_a_part_into_harmonics_and_keeps_its_length(monkeypatch):
    from amssfx.lab.data import production

    t = np.arange(SR) / SR
    tone = np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    monkeypatch.setattr(production, "DRIVE_P", {**production.DRIVE_P, "other": 1.0})
    monkeypatch.setattr(production, "MODULATE_P", {**production.MODULATE_P, "other": 0.0})
    monkeypatch.setattr(production, "ECHO_P", {**production.ECHO_P, "other": 0.0})
    y = character(tone, "other", np.random.default_rng(0))
    assert y.shape == tone.shape and np.all(np.isfinite(y))
    spec = np.abs(np.fft.rfft(y[0, SR // 4:]))  # 1 Hz bins from 0.25 s on
    f = np.fft.rfftfreq(3 * SR // 4, 1 / SR)
    fundamental = spec[np.abs(f - 220) < 3].max()
    third = spec[np.abs(f - 660) < 3].max()  # odd harmonics: a clean sine has none
    assert third > 0.05 * fundamental
    for kind in ("vocals", "drums", "bass", "other"):  # every kind, every draw: same length, finite
        for seed in range(6):
            z = character(tone, kind, np.random.default_rng(seed))
            assert z.shape == tone.shape and np.all(np.isfinite(z))


def test_held_out_songs_get_no_part_sounds(tree, monkeypatch):
    # The part sounds are training-only, so the held-out banks stay the songs they always were.
    def refuse(*a):
        raise AssertionError("character() called")

    monkeypatch.setattr(recorded, "character", refuse)
    singing._analysis.cache_clear()
    recorded.render_recorded(arrange(1, 4.0), "heldout")
    with pytest.raises(AssertionError, match="called"):
        recorded.render_recorded(arrange(1, 4.0), "train")


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_recorded_song_uses_only_its_split(tree, split, monkeypatch):
    read = []
    real_load = sampler.load.__wrapped__

    def spy(path):
        read.append(str(path))
        return real_load(path)

    monkeypatch.setattr(sampler, "load", spy)
    monkeypatch.setattr(singing, "load", spy)
    monkeypatch.setattr(recorded, "FLUID_P", {"drums": 0.0, "bass": 0.0, "other": 0.0})
    singing._analysis.cache_clear()
    other_split = "heldout" if split == "train" else "train"
    forbidden = {str(f) for s in sources.sources(other_split) for f in s.files}
    for seed in range(3):
        stems = recorded.render_recorded(arrange(seed, 4.0), split)
        assert sorted(stems) == sorted(recorded.STEMS)
        for x in stems.values():
            assert x.shape == (2, 4 * SR) and np.all(np.isfinite(x))
        assert np.abs(sum(stems.values())).max() <= 1.0
    assert read and not set(read) & forbidden
    again = recorded.render_recorded(arrange(2, 4.0), split)
    for k in stems:
        np.testing.assert_array_equal(stems[k], again[k])  # a song depends on its seed only


def test_missing_material_is_named(tmp_path, monkeypatch):
    for name in ("HYDROGEN", "SONIC_PI", "LMMS", "KTUBERLING", "KLETTRES"):
        monkeypatch.setattr(sources, name, tmp_path / "nothing")
    recorded._sources.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="make lab"):
            recorded.check_material("train")
    finally:
        recorded._sources.cache_clear()
