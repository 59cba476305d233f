"""The evaluation protocol of AMSS_TASKS.md on held-out rendered songs, through the shipped engine."""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from amssfx.sections import update_section  # noqa: F401 - `amssfx-lab evaluate --doc`

# The engine and the task DSP are imported where they are used: the CLI reads this module's defaults
# when it builds its parser, and `amssfx --help` should not load onnxruntime and scipy.

FAMILIES = ("mute", "separate", "volume_up", "volume_down", "pan", "hard_pan", "lowpass", "highpass")
STEM_NAMES = ("vocals", "drums", "bass", "other")
LEVEL_DB = (-28.0, -14.0)  # per-stem RMS levels, the range the model was trained on
LACH_QUERY = "separate vocals, drums, bass"
# The query that keeps what LACH_QUERY removes: the gates are conditioned on the query, so a channel
# may be shut under LACH_QUERY and heard under this one; the channels are measured under both.
KEEP_BAND_QUERY = "mute vocals, drums, bass"


PRESENT_RMS = 10 ** (-40 / 20)  # a named source counts as present above -40 dBFS RMS in the clip
MAX_REDRAWS = 50


def _clip(bank, rng, seg: int) -> dict[str, np.ndarray]:
    """All four stems of one held-out song at one offset, each stem levelled at random."""
    song = bank.songs[int(rng.integers(len(bank)))]
    start = int(rng.integers(0, song.shape[-1] - seg + 1))
    from .data.dataset import level_stem

    return {name: level_stem(np.array(song[k, :, start:start + seg], np.float32), rng, LEVEL_DB)
            for k, name in enumerate(STEM_NAMES)}


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x)))


def held_out_clips(bank_dir: str | Path, n: int, seconds: float, seed: int, family: str | None = None):
    """n (query, stems) pairs. With a family, every named source is present in its clip (clips where
    a target is silent are redrawn: there the edit is a no-op and its SDR says nothing)."""
    from .data.dataset import StemBank, random_query

    bank = StemBank(bank_dir)
    seg = int(seconds * 44100)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        q = random_query(rng, (family,)) if family else None
        for _ in range(MAX_REDRAWS):
            stems = _clip(bank, rng, seg)
            if q is None or all(_rms(stems[t]) >= PRESENT_RMS for t in q.targets):
                break
        yield q, stems


def evaluate_families(engine, bank_dir, clips: int, seconds: float, seed: int, progress=None) -> dict:
    from amssfx.tasks import global_dsp, make_pair, sdr

    rows = {}
    for fi, family in enumerate(FAMILIES):
        model_s, ident_s, dsp_s, sizes, targets = [], [], [], [], []
        for q, stems in held_out_clips(bank_dir, clips, seconds, seed + 1000 * fi, family):
            inp, tgt = make_pair(stems, q)
            est = engine.process_array(inp, 44100, engine.params(q))
            model_s.append(sdr(tgt, est))
            ident_s.append(sdr(tgt, inp))
            dsp_s.append(sdr(tgt, global_dsp(inp, q)))
            sizes.append(len(q.targets))
            targets.append(q.targets)
        gain = np.array(model_s) - np.array(ident_s)
        rows[family] = {"model": float(np.mean(model_s)), "identity": float(np.mean(ident_s)),
                        "global_dsp": float(np.mean(dsp_s)), "clips": clips,
                        "gain_ci95": gain_interval(gain),
                        "gain_by_targets": {n: (float(np.mean(gain[np.array(sizes) == n])), sizes.count(n))
                                            for n in sorted(set(sizes))},
                        "gain_by_source": by_source(gain, targets)}
        if progress:
            progress(family, rows[family])
    return rows


def by_source(gain: np.ndarray, targets: list[tuple[str, ...]]) -> dict[str, tuple[float, int]]:
    """Mean gain of the clips whose query names each source (a clip naming two counts for both)."""
    out = {}
    for s in ("vocals", "drums", "bass"):
        sel = np.array([s in t for t in targets], bool)
        if sel.any():
            out[s] = (float(np.mean(gain[sel])), int(sel.sum()))
    return out


def gain_interval(gain: np.ndarray) -> float:
    """Half-width of the 95 % confidence interval of the mean gain (normal approximation over clips):
    how far the mean of this many clips may be from the mean of many more clips drawn the same way
    from the same held-out songs."""
    n = len(gain)
    return float(1.96 * np.std(gain, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


BANDS = (("low", 0.0, 250.0), ("mid", 250.0, 4000.0), ("high", 4000.0, 22050.0))  # Hz


def band_energies(y: np.ndarray, sample_rate: int = 44100) -> np.ndarray:
    """Energy of (channels, time) audio in each of BANDS."""
    spec = np.abs(np.fft.rfft(y, axis=-1)) ** 2
    f = np.fft.rfftfreq(y.shape[-1], 1 / sample_rate)
    return np.array([spec[..., (f >= lo) & (f < hi)].sum() for _, lo, hi in BANDS])


def _correlation(y: np.ndarray, s: np.ndarray) -> float:
    den = np.sqrt(np.sum(y * y) * np.sum(s * s))
    return float(np.sum(y * s) / den) if den > 0 else 0.0


def evaluate_latent_channels(engine, bank_dir, clips: int, seconds: float, seed: int) -> list[dict]:
    """Per latent channel, soloed with the direct path off, under LACH_QUERY and under KEEP_BAND_QUERY:
    its share of the latent path's energy under each, and the stem and band of its solo under the
    query it is louder in. The stem is the one its solo correlates with most in either sign: with the
    direct path passing the mix, a latent channel may carry a source turned over (taking it out)."""
    from amssfx.engine import solo

    h, l = engine.mask_shape
    queries = (LACH_QUERY, KEEP_BAND_QUERY)
    energy = np.zeros((len(queries), h, l))
    corr = np.zeros((len(queries), h, l, len(STEM_NAMES)))
    band = np.zeros((len(queries), h, l, len(BANDS)))
    for _, stems in held_out_clips(bank_dir, clips, seconds, seed + 777):
        mix = sum(stems.values())
        for (q, query), i, j in itertools.product(enumerate(queries), range(h), range(l)):
            y = engine.process_array(mix, 44100, engine.params(query, solo((h, l), i, j), 0.0))
            energy[q, i, j] += float(np.sum(y * y))
            band[q, i, j] += band_energies(y)
            corr[q, i, j] += [_correlation(y, stems[name]) for name in STEM_NAMES]
    share = energy / np.maximum(energy.sum(axis=(1, 2), keepdims=True), 1e-30)
    corr /= max(clips, 1)
    out = []
    for i in range(h):
        for j in range(l):
            q = int(np.argmax(share[:, i, j]))
            k = int(np.argmax(np.abs(corr[q, i, j])))
            out.append({"head": i, "lach": j, "energy_share": float(share[0, i, j]),
                        "energy_share_rest": float(share[1, i, j]), "named_under": queries[q],
                        "stem": STEM_NAMES[k], "correlation": float(corr[q, i, j, k]),
                        "band": BANDS[int(np.argmax(band[q, i, j]))][0]})
    return out


def evaluate_whole_songs(engine, bank_dir, songs: int, seconds: float) -> dict:
    """Whole songs as rendered (their own levels and production), `seconds` from each song's middle:

    - keep the band: `mute vocals, drums, bass` should leave the `other` stem untouched; `kept` is the
      share of that stem in the output (its projection: 1 keeps it all, 0 removes it) and `sdr` the
      output's SDR against it;
    - instrumental: the same song without its vocals under `separate vocals`, which should be silent;
      `leak_db` is that output's energy relative to the instrumental's (lower is better).

    Songs whose `other` stem is silent there are skipped. Medians over the songs, and their count."""
    from amssfx.tasks import sdr

    from .data.dataset import StemBank

    bank = StemBank(bank_dir)
    seg = int(seconds * 44100)
    kept, sdrs, leak = [], [], []
    for song in bank.songs[:songs]:
        a = max(0, song.shape[-1] // 2 - seg // 2)
        v, d, b, o = (np.array(song[k, :, a:a + seg], np.float32) for k in range(4))
        if _rms(o) < PRESENT_RMS:
            continue
        y = engine.process_array(v + d + b + o, 44100, engine.params(KEEP_BAND_QUERY))[:, :o.shape[1]]
        kept.append(float(np.sum(y * o) / np.sum(o * o)))
        sdrs.append(float(sdr(o, y)))
        inst = d + b + o
        z = engine.process_array(inst, 44100, engine.params("separate vocals"))[:, :inst.shape[1]]
        leak.append(10 * np.log10(max(float(np.sum(z * z)), 1e-20) / max(float(np.sum(inst * inst)), 1e-20)))
    if not kept:
        return {"songs": 0}
    return {"songs": len(kept), "seconds": seconds, "kept": float(np.median(kept)), "sdr": float(np.median(sdrs)),
            "leak_db": float(np.median(leak))}


def markdown(rows: dict, lach: list[dict], meta: dict) -> str:
    lines = ([f"### {meta['title']}", ""] if meta.get("title") else []) + [f"Model `{meta['model']}` ({meta['config']}, checkpoint sha256 `{meta['sha256'][:12]}`), "
             f"{meta['clips']} held-out clips of {meta['seconds']:.0f} s per family from "
             f"{meta.get('songs', '?')} songs (rendered with seed {meta['seed']}, {meta['soundfont']}; "
             f"every named source present), "
             f"evaluated {meta['date']}.", "",
             "| family | model SDR | identity SDR | global DSP SDR | gain over identity | 95 % interval |",
             "|---|---:|---:|---:|---:|---:|"]
    for f, r in rows.items():
        ci = r.get("gain_ci95", float("nan"))
        interval = f"± {ci:.2f}" if np.isfinite(ci) else "–"
        lines.append(f"| {f} | {r['model']:.2f} | {r['identity']:.2f} | {r['global_dsp']:.2f} | "
                     f"{r['model'] - r['identity']:+.2f} dB | {interval} |")
    sizes = sorted({n for r in rows.values() for n in r.get("gain_by_targets", {})})
    if sizes:
        lines += ["", "Gain over identity by the number of sources the query names (clips in brackets):", "",
                  "| family | " + " | ".join(f"{n} source{'s' * (n > 1)}" for n in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for f, r in rows.items():
            by = r.get("gain_by_targets", {})
            lines.append(f"| {f} | " + " | ".join(f"{by[n][0]:+.2f} ({by[n][1]})" if n in by else "–"
                                                  for n in sizes) + " |")
    if any(r.get("gain_by_source") for r in rows.values()):
        names = ("vocals", "drums", "bass")
        lines += ["", "Gain over identity by the source the query names (clips in brackets):", "",
                  "| family | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for f, r in rows.items():
            by = r.get("gain_by_source", {})
            lines.append(f"| {f} | " + " | ".join(f"{by[n][0]:+.2f} ({by[n][1]})" if n in by else "–"
                                                  for n in names) + " |")
    whole = meta.get("whole_songs") or {}
    if whole.get("songs"):
        lines += ["", f"Whole songs ({whole['seconds']:.0f} s from the middle of {whole['songs']} held-out songs, as "
                  "rendered; medians):", "",
                  "| check | result |", "|---|---:|",
                  f"| `{KEEP_BAND_QUERY}`: share of the `other` stem kept (1 = all) | {whole['kept']:.2f} |",
                  f"| `{KEEP_BAND_QUERY}`: SDR against the `other` stem | {whole['sdr']:.2f} dB |",
                  f"| the song without vocals, `separate vocals`: output level vs the input | "
                  f"{whole['leak_db']:.1f} dB |"]
    if lach:
        lines += ["", "Latent channels of the last block (each soloed, direct path off): their share of the "
                  "output energy under a query, and the stem and band of the solo under the query it is louder "
                  "in (r < 0: the source turned over):", "",
                  f"| head:lach | share under `{LACH_QUERY}` | share under `{KEEP_BAND_QUERY}` | "
                  "best-correlated stem (r) | band |", "|---|---:|---:|---|---|"]
        for c in lach:
            lines.append(f"| {c['head']}:{c['lach']} | {100 * c['energy_share']:.1f} % | "
                         f"{100 * c['energy_share_rest']:.1f} % | {c['stem']} ({c['correlation']:+.2f}) | {c['band']} |")
    return "\n".join(lines) + "\n"


BANK_MINUTES = 30.0  # 60 held-out songs of 30 s per soundfont
CLIPS = 128  # per family


@dataclass(frozen=True)
class HeldOut:
    """A held-out set: how its songs are rendered, and where its table goes."""

    name: str
    material: str  # render.MATERIALS
    soundfont: str | None  # an evaluation soundfont for FluidSynth songs
    seed: int
    minutes: float
    table: str  # file name of its table among the model's assets
    title: str


# The real-timbre set comes first: it is the one users' songs resemble.
HELD_OUT = {
    "recorded": HeldOut("recorded", "recorded-heldout", None, 13, 20.0, "evaluation_recorded.md",
                        "Recorded sources held out of training (real timbres)"),
    "fluidr3": HeldOut("fluidr3", "fluidsynth", None, 3, BANK_MINUTES, "evaluation.md",
                       "Synthetic songs, FluidR3_GM (the training soundfont), held-out songs"),
    "timgm6mb": HeldOut("timgm6mb", "fluidsynth", "timgm6mb", 3, BANK_MINUTES, "evaluation_timgm6mb.md",
                        "Synthetic songs, TimGM6mb (a soundfont never used in training)"),
}


def prepare_bank(bank_dir, held: HeldOut, minutes: float | None = None) -> dict:
    """Render the held-out songs that the bank lacks (all of them in a new folder) and return its
    index. A bank of another seed or material is refused, not mixed with new songs."""
    import json

    from .data.render import render_bank, soundfont_path

    bank = Path(bank_dir)
    index = bank / "index.json"
    want = Path(soundfont_path(held.soundfont)).name if held.material == "fluidsynth" else held.material
    if index.exists():
        have = json.loads(index.read_text())
        if have.get("seed") != held.seed or have.get("soundfont") != want:
            raise ValueError(f"{bank} holds songs of seed {have.get('seed')} rendered with {have.get('soundfont')}; "
                             f"the {held.name} set wants seed {held.seed} with {want}: give another --bank-root")
    render_bank(bank, held.minutes if minutes is None else minutes, held.seed, progress=False,
                evaluation_soundfont=held.soundfont, material=held.material, jobs=os.cpu_count() or 1)  # keeps the songs it has
    return json.loads(index.read_text())


def evaluate(model_path=None, held_out: str = "recorded", bank_dir=None, out=None, clips: int = CLIPS,
             seconds: float = 8.0, lach_clips: int = 4, bank_minutes: float | None = None, whole_songs: int = 12,
             threads: int | None = None, channels_beside_model: bool = False) -> str:
    """The table of one held-out set (HELD_OUT) for a model, written to `out` (default: the
    set's table beside the bundled model) and returned. channels_beside_model: also save the
    latent-channel table as the model's `.channels.json` (what the app shows in its grid)."""
    from amssfx.engine import Engine
    from amssfx.model_runtime import ASSETS

    held = HELD_OUT[held_out]
    bank = Path(bank_dir or f"data/test_{held.name}")
    info = prepare_bank(bank, held, bank_minutes)
    engine = Engine(model_path, threads=threads)
    rows = evaluate_families(engine, bank, clips, seconds, held.seed,
                             progress=lambda f, r: print(f"{held.name} {f}: model {r['model']:.2f} "
                                                         f"identity {r['identity']:.2f}", flush=True))
    lach = evaluate_latent_channels(engine, bank, lach_clips, seconds, held.seed) if lach_clips else []
    whole = evaluate_whole_songs(engine, bank, whole_songs, 30.0) if whole_songs else {}
    c = engine.model.contract
    meta = {"model": Path(engine.model.path).name, "config": c.config_name, "clips": clips, "seconds": seconds,
            "seed": held.seed, "date": time.strftime("%Y-%m-%d"), "sha256": c.checkpoint_sha256,
            "soundfont": Path(info["soundfont"]).stem, "songs": len(info["songs"]), "title": held.title,
            "whole_songs": whole}
    text = markdown(rows, lach, meta)
    Path(out or ASSETS / held.table).write_text(text)
    if lach and channels_beside_model:
        from amssfx import channels

        channels.write(engine.model.path, c.checkpoint_sha256, LACH_QUERY, lach, KEEP_BAND_QUERY)
    return text
