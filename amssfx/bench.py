"""`amssfx bench`: speed and memory figures as ratios (a benchmark, not a test)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .engine import OVERLAP_FRACTION, Engine
from .model_runtime import DEFAULT_MODEL


def _rtf_onnx(engine: Engine, seconds: float) -> float:
    c = engine.model.contract
    x = (0.1 * np.random.default_rng(0).standard_normal((2, c.chunk_samples))).astype(np.float32)
    q = engine.params("apply heavy lowpass to drums")
    engine.model.run_chunk(x, q.query, q.mask_array())  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        engine.model.run_chunk(x, q.query, q.mask_array())
        n += 1
    return (time.perf_counter() - t0) / (n * c.chunk_samples / 44100)


def _rtf_torch(ckpt: Path, seconds: float, threads: int | None) -> float | None:
    try:
        import torch

        from .lab.nn import checkpoint
        from .lab.nn.inference import for_inference
        from .lab.nn.spec import istft, stft
        from .query import encode
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    model = for_inference(checkpoint.load(ckpt))  # the graph that is exported, so both run the same function
    cfg = model.cfg
    x = torch.randn(1, 2, cfg.chunk_samples) * 0.1
    tok = torch.tensor([encode("apply heavy lowpass to drums")])

    def once():
        with torch.no_grad():
            return istft(model(stft(x, cfg.n_fft, cfg.hop), tok), cfg.n_fft, cfg.hop, cfg.chunk_samples)

    once()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        once()
        n += 1
    return (time.perf_counter() - t0) / (n * cfg.chunk_samples / 44100)


def _make_input(path: Path, minutes: float) -> Path:
    import soundfile as sf

    from .audio_io import read

    demo, sr = read(Path(__file__).parent / "assets" / "demo.flac")
    total = int(minutes * 60 * sr)
    with sf.SoundFile(str(path), "w", sr, demo.shape[0], "PCM_16") as f:
        done = 0
        while done < total:
            n = min(demo.shape[1], total - done)
            f.write(demo[:, :n].T)
            done += n
    return path


def _cli_run(inp: Path, out: Path, model: Path) -> tuple[float, int]:
    """Wall time of a fresh `amssfx process` (start-up included) and its peak RSS in MB."""
    # VmHWM (peak RSS of this process image); ru_maxrss can carry the parent's peak across fork.
    code = ("import sys; from amssfx.cli import main; "
            f"rc = main(['process', {str(inp)!r}, '-q', 'apply heavy lowpass to drums', '-o', {str(out)!r}, "
            f"'--model', {str(model)!r}, '--force', '--quiet']); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "print(hwm); sys.exit(rc)")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "CLI failed")
    return wall, int(r.stdout.strip().splitlines()[-1]) // 1024


def _preview(engine_path: Path, seconds: float) -> dict:
    from .playback import interpreter_tuned

    with interpreter_tuned():  # as the app runs it
        return _preview_run(engine_path, seconds)


def _preview_run(engine_path: Path, seconds: float) -> dict:
    from .engine import solo
    from .player import FakeOutput, Player

    eng = Engine(engine_path, preview=True)
    dev = FakeOutput(44100, 2, 512, realtime=True, record=False)
    demo = Path(__file__).parent / "assets" / "demo.flac"
    p = Player(eng, demo, eng.params("separate drums"), device=dev)
    p.start()
    t0 = time.perf_counter()
    k = 0
    while time.perf_counter() - t0 < seconds:
        time.sleep(2.0)
        k += 1
        h, l = divmod(k, eng.mask_shape[1])
        p.update(params=eng.params("separate drums", solo(eng.mask_shape, h % eng.mask_shape[0], l)))
    p.stop()
    lat = p.stats.change_latencies_s
    return {"underruns": p.stats.underruns, "changes": len(lat),
            "change_latency_ms_median": 1000 * float(np.median(lat)) if lat else None,
            "change_latency_ms_max": 1000 * float(np.max(lat)) if lat else None}


def _batch(model: Path, files: int, seconds: float) -> dict:
    """Throughput of `amssfx batch` on this machine (the embedded default: worker processes, pool start-up
    included) in audio minutes per wall minute, with 1 worker and with one per core."""
    from .batch import Job, find_inputs
    from .recipe import Recipe
    from .batch_workers import run_local
    from .hashing import file_sha256

    res = {}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        src = d / "in"
        src.mkdir()
        for k in range(files):
            _make_input(src / f"song{k}.wav", seconds / 60)
        items = find_inputs([str(src)], d / "out")
        job = Job("process", Recipe("", "apply heavy lowpass to drums", model_path=str(model.resolve()),
                                    model_sha256=file_sha256(model)), force=True)
        for workers in sorted({1, os.cpu_count() or 1}):
            out = d / f"out{workers}"
            t0 = time.perf_counter()
            results = run_local(job, items, out, workers)
            wall = time.perf_counter() - t0
            if any(r["status"] != "ok" for r in results):
                raise RuntimeError(f"batch bench: {[r['reason'] for r in results if r['status'] != 'ok'][:1]}")
            res[f"batch_audio_min_per_min_{workers}w"] = files * seconds / wall
    n = os.cpu_count() or 1
    if n > 1:
        res["batch_scaling"] = res[f"batch_audio_min_per_min_{n}w"] / res["batch_audio_min_per_min_1w"]
    return res


GOALS = {  # the goals this machine is held to (two vCPUs)
    "gflop_per_audio_second": ("<=", 3.0),
    "onnxruntime_speedup_vs_torch": (">=", 2.0),
    "rtf_cli_5min": ("<=", 0.05),
    "rss_growth_mb": ("<=", 50.0),
    "preview_underruns": ("<=", 0),
    "preview_change_latency_ms_median": ("<=", 250.0),
}


def _engine_rtf(model: Path, seconds: float, mix=None) -> float:
    from .audio_io import read

    demo, sr = read(Path(__file__).parent / "assets" / "demo.flac")
    eng = Engine(model)  # as files run: parallel chunks, one core each
    x = np.concatenate([demo] * max(1, int(np.ceil(seconds / (demo.shape[1] / sr)))), 1)
    p = eng.params("apply heavy lowpass to drums", mix=mix)
    t0 = time.perf_counter()
    eng.process_array(x, sr, p)
    return (time.perf_counter() - t0) / (x.shape[1] / sr)


def cpu_description() -> str:
    """The CPU the figures were measured on: model name, logical CPUs and widest vector unit."""
    name, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = f" {value.strip()} "
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    simd = next((label for flag, label in ((" avx512_bf16 ", "AVX-512 with BF16"), (" avx512f ", "AVX-512"),
                                            (" avx2 ", "AVX2")) if flag in flags), "")
    return f"{name}, {os.cpu_count()} logical CPUs" + (f", {simd}" if simd else "")


def markdown(res: dict) -> str:
    rows = [("GFLOP per second of audio (one pass)", "gflop_per_audio_second", "{:.2f}"),
            ("real-time factor, onnxruntime, one chunk on 1 thread", "rtf_onnxruntime_1thread", "{:.4f}"),
            ("real-time factor, torch eager, the same chunk on 1 thread", "rtf_torch_eager_1thread", "{:.4f}"),
            ("onnxruntime speed-up over torch eager", "onnxruntime_speedup_vs_torch", "{:.2f}x"),
            (f"real-time factor, engine on a file (overlap {OVERLAP_FRACTION * 100:g} %, parallel chunks)",
             "rtf_engine_file", "{:.4f}"),
            ("real-time factor, engine on a file, stem mixer moving all four stems", "rtf_engine_file_mixer_4_stems",
             "{:.4f}"),
            ("cost of the stem mixer with four stems moved (times the query alone)", "mixer_4_stems_cost_ratio",
             "{:.2f}x"),
            ("real-time factor, `amssfx process` on 5 min, start-up included", "rtf_cli_5min", "{:.4f}"),
            ("start-up: `amssfx process` on 1 s of audio, wall time (s)", "startup_seconds", "{:.2f}"),
            ("peak RSS, 5-minute input (MB)", "peak_rss_mb_5min", "{}"),
            ("peak RSS, 30-minute input (MB)", "peak_rss_mb_30min", "{}"),
            ("RSS growth from 5 to 30 minutes (MB)", "rss_growth_mb", "{}"),
            ("preview: underruns in 30 s, a mask change every 2 s", "preview_underruns", "{}"),
            ("preview: change heard after, median (ms)", "preview_change_latency_ms_median", "{:.0f}"),
            ("preview: change heard after, max (ms)", "preview_change_latency_ms_max", "{:.0f}"),
            ("batch: audio minutes per minute, 1 worker", "batch_audio_min_per_min_1w", "{:.1f}"),
            (f"batch: audio minutes per minute, {os.cpu_count()} workers (the default)",
             f"batch_audio_min_per_min_{os.cpu_count()}w", "{:.1f}"),
            (f"batch: speed-up from 1 to {os.cpu_count()} workers", "batch_scaling", "{:.2f}x")]
    out = [f"Model `{res['model']}` ({res['config']}), measured {time.strftime('%Y-%m-%d')} on "
           f"{res.get('cpu', 'an unnamed CPU')}.", "",
           "| figure | value | goal |", "|---|---:|---|"]
    for label, key, fmt in rows:
        v = res.get(key)
        goal = GOALS.get(key)
        g = f"{goal[0]} {goal[1]:g}" if goal else ""
        if goal and v is not None:
            ok = v <= goal[1] if goal[0] == "<=" else v >= goal[1]
            g += " ✓" if ok else " ✗ (missed)"
        out.append(f"| {label} | {fmt.format(v) if v is not None else 'n/a'} | {g} |")
    return "\n".join(out) + "\n"


def batch_markdown(res: dict, files: int, seconds: float) -> str:
    n = os.cpu_count() or 1
    one, many = res["batch_audio_min_per_min_1w"], res.get(f"batch_audio_min_per_min_{n}w", res["batch_audio_min_per_min_1w"])
    return (f"Measured by `amssfx bench --batch` on {res.get('cpu', 'this machine')}, nothing else running, "
            f"{time.strftime('%Y-%m-%d')}: {files} files of {seconds:g} s, *apply heavy lowpass to drums*, "
            f"worker start-up included: **{many:.1f} audio minutes per minute** with {n} workers (the default), "
            f"{one:.1f} with one" + (f" ({many / one:.2f}x)." if n > 1 else ".") + "\n")


def run_bench(args) -> dict:
    model = Path(args.model) if args.model else DEFAULT_MODEL
    ckpt = Path(args.checkpoint) if args.checkpoint else model.with_suffix(".pt")
    quick = getattr(args, "quick", False)
    res: dict = {"model": model.name, "cpu": cpu_description()}
    if getattr(args, "batch", False):  # the batch figures alone
        res.update(_batch(model, 4 if quick else 8, 10.0 if quick else 60.0))
        for k, v in res.items():
            print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
        print(json.dumps(res))
        if getattr(args, "readme", None):
            from .sections import update_section

            update_section(args.readme, "batch", batch_markdown(res, 4 if quick else 8, 10.0 if quick else 60.0))
        return res
    eng1 = Engine(model, threads=1)
    c = eng1.model.contract
    res["config"] = c.config_name
    try:
        from .lab.nn.config import ModelConfig
        from .lab.nn.flops import gflop_per_second

        res["gflop_per_audio_second"] = round(gflop_per_second(ModelConfig.from_dict(c.config)), 3)
    except ImportError:
        res["gflop_per_audio_second"] = None
    secs = 2.0 if quick else 10.0
    res["rtf_onnxruntime_1thread"] = _rtf_onnx(eng1, secs)
    rt = _rtf_torch(ckpt, secs, 1) if ckpt.exists() else None
    res["rtf_torch_eager_1thread"] = rt
    res["onnxruntime_speedup_vs_torch"] = rt / res["rtf_onnxruntime_1thread"] if rt else None
    res["rtf_engine_file"] = _engine_rtf(model, 10.0 if quick else 60.0)
    from .mix import StemMix

    # The stem mixer with all four stems moved: four more model passes per chunk.
    res["rtf_engine_file_mixer_4_stems"] = _engine_rtf(model, 10.0 if quick else 60.0,
                                                       StemMix.parse("vocals=-3,drums=+3,bass=pan:-0.5,other=-6"))
    res["mixer_4_stems_cost_ratio"] = res["rtf_engine_file_mixer_4_stems"] / res["rtf_engine_file"]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        short, long_ = (0.25, 1.0) if quick else (5.0, 30.0)
        a = _make_input(d / "a.wav", short)
        wall, rss_a = _cli_run(a, d / "a_out.wav", model)
        res[f"rtf_cli_{short:g}min"] = wall / (short * 60)
        b = _make_input(d / "b.wav", long_)
        a.unlink()
        _, rss_b = _cli_run(b, d / "b_out.wav", model)
        res[f"peak_rss_mb_{short:g}min"] = rss_a
        res[f"peak_rss_mb_{long_:g}min"] = rss_b
        res["rss_growth_mb"] = rss_b - rss_a
        # Start-up: a fresh `amssfx process` on one second of audio is almost all start-up
        # (interpreter, imports, model load and warm-up) plus one processed block.
        c = _make_input(d / "c.wav", 1 / 60)
        res["startup_seconds"], _ = _cli_run(c, d / "c_out.wav", model)
    res.update({f"preview_{k}": v for k, v in _preview(model, 6.0 if quick else 30.0).items()})
    res.update(_batch(model, 4 if quick else 8, 10.0 if quick else 60.0))
    for k, v in res.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    print(json.dumps(res))
    if getattr(args, "readme", None):
        from .sections import update_section

        update_section(args.readme, "bench", markdown(res))
    return res
