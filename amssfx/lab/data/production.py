"""Production as on a record: the sound of each part (an amp's drive, chorus, echo), per-stem EQ,
compression and room reverb, and a mix-bus compressor or limiter whose gain is computed from the mix
and applied to every stem alike, so that the stems still sum to the mix and the task DSP (applied to
the produced stems) keeps its targets exact."""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 44100
# Probability of each stage per stem kind (a stem without reverb is as common on records as one with).
REVERB_P = {"vocals": 0.8, "drums": 0.5, "bass": 0.15, "other": 0.6}
COMPRESS_P = {"vocals": 0.8, "drums": 0.6, "bass": 0.7, "other": 0.4}
HIGHPASS_HZ = {"vocals": (70.0, 180.0), "drums": (20.0, 45.0), "bass": (20.0, 40.0), "other": (50.0, 250.0)}
BUS_P = 0.5


def _peak_db(x: np.ndarray) -> float:
    p = float(np.max(np.abs(x))) if x.size else 0.0
    return 20 * np.log10(p) if p > 0 else -120.0


def _through(chain: list, x: np.ndarray) -> np.ndarray:
    """(2, time) float32 `x` through the pedalboard plugins `chain`, cut to the input's length."""
    import pedalboard as pb

    y = pb.Pedalboard(chain)(np.ascontiguousarray(x, np.float32), SAMPLE_RATE)
    return np.ascontiguousarray(y[:, : x.shape[-1]], np.float32)


# Probability of each part sound per stem kind (character()): drive through an amp, modulation, echo.
DRIVE_P = {"vocals": 0.0, "drums": 0.15, "bass": 0.2, "other": 0.35}
MODULATE_P = {"vocals": 0.15, "drums": 0.0, "bass": 0.05, "other": 0.2}
ECHO_P = {"vocals": 0.3, "drums": 0.0, "bass": 0.0, "other": 0.15}


def character(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A (2, time) part through the sounds players and engineers give it before the channel strip:
    an amp's drive with its cabinet's band (a distorted guitar or organ, a driven bass, drums
    saturated in parallel), chorus or phaser, an echo; each drawn with the kind's probability.
    The output has the input's length."""
    import pedalboard as pb

    if not np.any(x):
        return x
    chain = []
    if rng.random() < DRIVE_P[kind]:
        if kind == "other":  # a guitar amp: tightened lows, drive, the cabinet's top cut, a mid push
            chain += [pb.HighpassFilter(cutoff_frequency_hz=float(rng.uniform(80, 160))),
                      pb.Distortion(drive_db=float(rng.uniform(12, 34))),
                      pb.LowpassFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(2800), np.log(6500))))),
                      pb.PeakFilter(cutoff_frequency_hz=float(rng.uniform(700, 2500)),
                                    gain_db=float(rng.uniform(0, 6)), q=float(rng.uniform(0.5, 1.5)))]
        else:  # driven in parallel: the clean part stays under the saturated one
            wet = pb.Pedalboard([pb.Distortion(drive_db=float(rng.uniform(6, 20))),
                                 pb.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(2500, 8000))),
                                 pb.Gain(gain_db=float(rng.uniform(-18, -8)))])
            chain.append(pb.Mix([pb.Pedalboard([]), wet]))
    if rng.random() < MODULATE_P[kind]:
        if rng.random() < 0.6:
            chain.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2.0)), depth=float(rng.uniform(0.1, 0.4)),
                                   centre_delay_ms=float(rng.uniform(5, 15)), mix=float(rng.uniform(0.2, 0.5))))
        else:
            chain.append(pb.Phaser(rate_hz=float(rng.uniform(0.2, 1.5)), depth=float(rng.uniform(0.3, 0.8)),
                                   mix=float(rng.uniform(0.2, 0.5))))
    if rng.random() < ECHO_P[kind]:
        chain.append(pb.Delay(delay_seconds=float(rng.uniform(0.08, 0.45)), feedback=float(rng.uniform(0.0, 0.4)),
                              mix=float(rng.uniform(0.08, 0.25))))
    return _through(chain, x) if chain else x


def produce_stem(x: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A (2, time) stem through a random channel strip: high-pass, a bell EQ, a compressor and a
    reverb, each drawn with the stem kind's probability; the output has the input's length."""
    import pedalboard as pb

    if not np.any(x):
        return x
    chain = [pb.HighpassFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(*np.log(HIGHPASS_HZ[kind])))))]
    if rng.random() < 0.7:
        chain.append(pb.PeakFilter(cutoff_frequency_hz=float(np.exp(rng.uniform(np.log(150), np.log(8000)))),
                                   gain_db=float(rng.uniform(-5, 5)), q=float(rng.uniform(0.5, 2.0))))
    if rng.random() < COMPRESS_P[kind]:
        chain.append(pb.Compressor(threshold_db=_peak_db(x) - float(rng.uniform(4, 18)),
                                   ratio=float(rng.uniform(2, 6)), attack_ms=float(rng.uniform(1, 25)),
                                   release_ms=float(rng.uniform(40, 250))))
    if rng.random() < REVERB_P[kind]:
        wet = float(rng.uniform(0.04, 0.3))
        chain.append(pb.Reverb(room_size=float(rng.uniform(0.1, 0.75)), damping=float(rng.uniform(0.2, 0.8)),
                               wet_level=wet, dry_level=float(1 - 0.5 * wet), width=float(rng.uniform(0.5, 1.0))))
    return _through(chain, x)


def bus_gain(mix: np.ndarray, rng: np.random.Generator, block: int = 64) -> np.ndarray:
    """The gain curve (time,) of a feed-forward compressor or limiter on the mix: peak detector
    per `block` samples, attack/release smoothing, interpolated back to samples."""
    n = mix.shape[-1]
    nb = -(-n // block)
    pad = np.zeros(nb * block - n, np.float32)
    env = np.max(np.abs(np.concatenate([np.max(np.abs(mix), 0), pad])).reshape(nb, block), 1)
    peak = float(env.max()) if nb else 0.0
    if peak <= 0:
        return np.ones(n, np.float32)
    limiter = rng.random() < 0.4
    thr = peak * 10 ** (-rng.uniform(2, 8) / 20 if limiter else -rng.uniform(4, 12) / 20)
    ratio = 30.0 if limiter else float(rng.uniform(1.5, 4.0))
    dt = block / SAMPLE_RATE
    att = np.exp(-dt / (0.0005 if limiter else rng.uniform(0.005, 0.03)))
    rel = np.exp(-dt / rng.uniform(0.05, 0.3))
    want = np.minimum(1.0, (np.maximum(env, 1e-9) / thr) ** (1.0 / ratio - 1.0))  # the static curve
    g = np.empty(nb)
    cur = 1.0
    for i, w in enumerate(want):  # gain falls with the attack time and recovers with the release
        cur = att * cur + (1 - att) * w if w < cur else rel * cur + (1 - rel) * w
        g[i] = cur
    centres = (np.arange(nb) + 0.5) * block
    return np.interp(np.arange(n), centres, g).astype(np.float32)


def master(stems: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The bus stage on some songs (a shared gain curve), then every stem scaled by one factor so
    that the mix peaks at -1 dBFS; the stems always sum to the mix."""
    mix = sum(stems.values())
    if rng.random() < BUS_P:
        g = bus_gain(mix, rng)
        stems = {k: (v * g).astype(np.float32) for k, v in stems.items()}
        mix = sum(stems.values())
    peak = float(np.max(np.abs(mix)))
    scale = 10 ** (-1 / 20) / peak if peak > 0 else 1.0
    return {k: (v * scale).astype(np.float32) for k, v in stems.items()}
