"""Random remixes of a rendered stem bank with a random task per example (AMSS_TASKS.md)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from amssfx.query import SIDES, SOURCES, STRENGTHS, Query, encode
from amssfx.tasks import SAMPLE_RATE, make_pair
from .augment import random_shelves
from .synth import STEMS

TRAIN_FAMILIES = ("mute", "separate", "volume_up", "volume_down", "pan", "hard_pan", "lowpass", "highpass")


def random_query(rng: np.random.Generator, families=TRAIN_FAMILIES, weights=None, count_weights=None) -> Query:
    """A family drawn uniformly (or in proportion to `weights`), then a non-empty target set
    and the family's parameter.

    Every non-empty target set is equally likely (so 1, 2 and 3 named sources come 3:3:1);
    `count_weights` (the draw weight of 1, 2 and 3 named sources, from `count_weight_list`) scales
    that by the number of sources, keeping the sets of one size equally likely."""
    if weights is None:
        family = str(rng.choice(families))
    else:
        p = np.asarray(weights, np.float64)
        family = str(rng.choice(families, p=p / p.sum()))
    top = None if count_weights is None else max(count_weights)
    while True:
        targets = tuple(s for s in SOURCES if rng.random() < 0.5)
        if targets and (top is None or rng.random() * top < count_weights[len(targets) - 1]):
            break
    if family in ("pan", "hard_pan"):
        return Query(family, targets, side=str(rng.choice(SIDES)))
    if family in ("lowpass", "highpass"):
        return Query(family, targets, strength=str(rng.choice(STRENGTHS)))
    return Query(family, targets)


def family_weight_list(family_weights: dict[str, float], families=TRAIN_FAMILIES) -> list[float]:
    """The draw weight of each of `families` (1 where unnamed); ValueError for an unknown
    family, a weight that is negative or not finite, or weights that are all zero."""
    unknown = set(family_weights) - set(families)
    if unknown:
        raise ValueError(f"family weights name unknown families: {sorted(unknown)}; "
                         f"known: {', '.join(families)}")
    return _draw_weights([float(family_weights.get(f, 1.0)) for f in families], "family weights")


def count_weight_list(count_weights: dict[int, float]) -> list[float]:
    """The draw weight of 1, 2 and 3 named sources (1 where unnamed), as a factor on their share among
    all non-empty target sets; ValueError for another count, a weight that is negative or not finite,
    or weights that are all zero."""
    unknown = set(count_weights) - set(range(1, len(SOURCES) + 1))
    if unknown:
        raise ValueError(f"target weights name counts {sorted(unknown)}; a query names 1 to {len(SOURCES)} sources")
    return _draw_weights([float(count_weights.get(k, 1.0)) for k in range(1, len(SOURCES) + 1)], "target weights")


def _draw_weights(weights: list[float], what: str) -> list[float]:
    """`weights` if they are finite, 0 or more and not all zero; ValueError naming `what` otherwise."""
    if not all(np.isfinite(w) and w >= 0 for w in weights):
        raise ValueError(f"{what} must be finite numbers, 0 or more")
    if sum(weights) <= 0:
        raise ValueError(f"{what} must not all be zero")
    return weights


def level_stem(x: np.ndarray, rng: np.random.Generator, level_db=(-28.0, -14.0)) -> np.ndarray:
    """Scale a stem (in place) to a random RMS level in dBFS; near-silent stems become silent."""
    rms = float(np.sqrt(np.mean(x * x)))
    level = 10 ** (rng.uniform(*level_db) / 20)
    x *= min(level / rms, 30.0) if rms > 1e-5 else 0.0
    return x


class StemBank:
    """Songs of one or more rendered banks, memory-mapped: each (4 stems, 2 channels, time) float32.

    `roots`: a folder, or a list of folders or (folder, weight) pairs, or the text
    `folder[:weight],folder[:weight]`. A song is drawn by first drawing a bank in proportion to
    its weight (1 where not given), then a song of it uniformly; with one bank this is the
    same draw as before banks could be combined.
    """

    def __init__(self, roots):
        self.banks: list[list] = []
        self.weights: list[float] = []
        self.paths: list[Path] = []
        for root, weight in parse_banks(roots):
            paths = sorted(Path(root).glob("song_*.npy"))
            if not paths:
                raise FileNotFoundError(f"no rendered songs in {root}; run `amssfx data render --out {root}`")
            self.paths += paths
            self.banks.append([np.load(p, mmap_mode="r") for p in paths])
            self.weights.append(weight)
        self.songs = [s for b in self.banks for s in b]

    def __len__(self) -> int:
        return len(self.songs)

    def draw(self, rng: np.random.Generator):
        if len(self.banks) == 1:
            bank = self.banks[0]
        else:
            w = np.asarray(self.weights, np.float64)
            bank = self.banks[int(rng.choice(len(self.banks), p=w / w.sum()))]
        return bank[int(rng.integers(len(bank)))]


def parse_banks(roots) -> list[tuple[str, float]]:
    """[(folder, weight)] from a folder, a list, or `folder[:weight],...`; ValueError for a weight
    that is not a positive finite number."""
    if isinstance(roots, (str, Path)):
        items = [r for r in str(roots).split(",") if r.strip()] if isinstance(roots, str) else [roots]
    else:
        items = list(roots)
    out = []
    for item in items:
        if isinstance(item, tuple):
            root, weight = item
        else:
            root, sep, w = str(item).rpartition(":")
            if not sep or not w.replace(".", "", 1).isdigit():
                root, weight = str(item), 1.0
            else:
                weight = float(w)
        if not (np.isfinite(weight) and weight > 0):
            raise ValueError(f"bank weight of {root} must be a positive number, got {weight}")
        out.append((str(root).strip(), float(weight)))
    if not out:
        raise ValueError("no stem bank given")
    return out


class RemixDataset:
    """Each example: every stem from a random song and offset, levelled at random, then a task.

    Deterministic per (seed, index), so a validation set is fixed by its seed.
    """

    def __init__(self, bank: StemBank, segment_samples: int, seed: int = 0,
                 families=TRAIN_FAMILIES, level_db=(-28.0, -14.0), drop_prob: float = 0.1,
                 family_weights: dict[str, float] | None = None, eq_db: float = 0.0, coherent: float = 0.0,
                 target_weights: dict[int, float] | None = None):
        self.bank, self.segment = bank, segment_samples
        # coherent: the share of examples whose four stems come from one song at one offset, as in a
        # real mix (parts that play together in time and harmony); the rest take each stem from a
        # song of its own. 0 draws nothing extra, so the examples are those of earlier runs.
        self.coherent = float(coherent)
        self.eq_db = float(eq_db)  # timbre augmentation (augment.py): shelf gains up to +-eq_db per stem
        self.seed, self.families = seed, families
        self.weights = None if family_weights is None else family_weight_list(family_weights, families)
        self.count_weights = None if target_weights is None else count_weight_list(target_weights)
        self.level_db, self.drop_prob = level_db, drop_prob

    def stems(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = {}
        one_song = self.coherent > 0 and rng.random() < self.coherent
        for i, name in enumerate(STEMS):
            if i == 0 or not one_song:
                song = self.bank.draw(rng)
                start = int(rng.integers(0, song.shape[-1] - self.segment + 1))
            x = np.array(song[i, :, start:start + self.segment], np.float32)
            x = level_stem(random_shelves(x, rng, self.eq_db, SAMPLE_RATE), rng, self.level_db)
            if rng.random() < 0.5:
                x = x[::-1].copy()  # swap left and right
            if rng.random() < self.drop_prob:
                x[:] = 0.0
            out[name] = x
        return out

    def example(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, Query]:
        """(input (2, n), target (2, n), tokens (words,), query)."""
        rng = np.random.default_rng([self.seed, index])
        stems = self.stems(rng)
        q = random_query(rng, self.families, self.weights, self.count_weights)
        inp, tgt = make_pair(stems, q)
        return inp, tgt, np.asarray(encode(q), np.int64), q

    # Map-style dataset protocol (torch.utils.data.DataLoader accepts it): a nominal epoch.
    def __len__(self) -> int:
        return 100_000

    def __getitem__(self, index: int):
        inp, tgt, tokens, _ = self.example(index)
        return inp, tgt, tokens

    def batch(self, start: int, size: int):
        ex = [self.example(start + i) for i in range(size)]
        return (np.stack([e[0] for e in ex]), np.stack([e[1] for e in ex]),
                np.stack([e[2] for e in ex]), [e[3] for e in ex])
