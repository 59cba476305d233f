import dataclasses

import numpy as np
import pytest
import torch

from amssfx.lab.nn import checkpoint
from amssfx.lab.nn.config import PAPER, SMALL, SMALL_MASK, TINY, WIDE_MASK, WIDER44_MASK, WIDER_MASK, ModelConfig
from amssfx.lab.nn.flops import gflop_per_second
from amssfx.lab.nn.model import AMSSNet, solo_mask
from amssfx.lab.nn.spec import stft
from amssfx.query import encode

pytestmark = pytest.mark.lab


def tokens(text="mute vocals", batch=1):
    return torch.tensor([encode(text)] * batch)


def small_input(cfg, frames=None, batch=1):
    torch.manual_seed(0)
    return torch.randn(batch, 4, frames or cfg.frames, cfg.freq_bins)


@pytest.mark.parametrize("cfg,frames", [(TINY, 32), (SMALL, 16), (PAPER, 16), (WIDE_MASK, 16), (WIDER_MASK, 16), (WIDER44_MASK, 16),
                                        (dataclasses.replace(SMALL, mask_output=True), 16)])
def test_shapes(cfg, frames):
    m = AMSSNet(cfg).eval()
    x = small_input(cfg, frames, batch=2)
    with torch.no_grad():
        y = m(x, tokens(batch=2))
    assert y.shape == x.shape


def test_small_budget_and_channels():
    for cfg in (SMALL, SMALL_MASK, WIDE_MASK, WIDER_MASK, WIDER44_MASK):  # candidates for the bundled configuration
        assert gflop_per_second(cfg) <= 3.0
        assert cfg.num_heads * cfg.num_lach >= 16 and cfg.num_heads >= 4 and cfg.num_lach >= 4
    assert (PAPER.n_fft, PAPER.hop, PAPER.channels, PAPER.num_heads, PAPER.num_lach) == (4096, 1024, 24, 6, 8)
    assert 2 * PAPER.n_down + 1 == 9


@pytest.fixture(scope="module", params=[False, True], ids=["mapping", "mask-output"])
def trained_tiny(request):
    """A tiny model with a few steps of training so no path is near-trivial; with and
    without the complex mask output."""
    torch.manual_seed(0)
    m = AMSSNet(dataclasses.replace(TINY, mask_output=request.param))
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    x = small_input(TINY, batch=2)
    for _ in range(3):
        loss = (m(x, tokens(batch=2)) - 0.5 * x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval()


def test_all_ones_mask_equals_no_mask(trained_tiny):
    x = small_input(TINY)
    with torch.no_grad():
        a = trained_tiny(x, tokens())
        b = trained_tiny(x, tokens(), torch.ones(1, TINY.num_heads, TINY.num_lach))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_solo_changes_output_and_zero_mask_silences_latent_path(trained_tiny):
    x = small_input(TINY)
    zero = torch.zeros(1, TINY.num_heads, TINY.num_lach)
    with torch.no_grad():
        full = trained_tiny(x, tokens())
        solo = trained_tiny(x, tokens(), solo_mask(TINY, 1, 0))
        silent = trained_tiny(x, tokens(), zero, torch.zeros(1))
        direct_only = trained_tiny(x, tokens(), zero)
        latent_solo = trained_tiny(x, tokens(), solo_mask(TINY, 1, 0), torch.zeros(1))
    assert (full - solo).abs().max() > 1e-3
    assert silent.abs().max() == 0  # zero mask + no direct path: nothing at all
    assert (direct_only - x).abs().max() > 0  # the direct path alone is text-conditioned, not identity
    # The latent path is linear in the mask: solos add up to the whole latent path.
    with torch.no_grad():
        total = sum(trained_tiny(x, tokens(), solo_mask(TINY, h, l), torch.zeros(1))
                    for h in range(TINY.num_heads) for l in range(TINY.num_lach))
        latent_all = trained_tiny(x, tokens(), None, torch.zeros(1))
    torch.testing.assert_close(total, latent_all, rtol=1e-4, atol=1e-4)
    assert latent_solo.abs().max() > 0


def test_adding_the_mask_output_keeps_a_model_s_output():
    from amssfx.lab.nn.model import with_mask_output

    torch.manual_seed(0)
    base = AMSSNet(TINY).eval()
    with torch.no_grad():
        for p in base.agg.proj.parameters():  # a latent path that is not near zero
            p.normal_()
    x = small_input(TINY)
    m = with_mask_output(base).eval()
    assert m.cfg.mask_output and not base.cfg.mask_output
    with torch.no_grad():
        torch.testing.assert_close(m(x, tokens()), base(x, tokens()), rtol=0, atol=0)
        m.mask.weight.normal_()
        assert (m(x, tokens()) - base(x, tokens())).abs().max() > 1e-3
        # The mask is part of the latent path: a zero channel mask without direct path is silent.
        assert m(x, tokens(), torch.zeros(1, TINY.num_heads, TINY.num_lach), torch.zeros(1)).abs().max() == 0


def _trained_looking(cfg):
    """A random model with BatchNorm statistics, affine terms and a latent path that are not trivial."""
    torch.manual_seed(0)
    model = AMSSNet(cfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # trained-looking statistics and affine terms
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.3, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        for p in model.agg.proj.parameters():
            p.normal_()
        if cfg.mask_output:
            model.mask.weight.normal_()
    return model


@pytest.mark.parametrize("cfg", [TINY, dataclasses.replace(TINY, mask_output=True)])
def test_inference_form_is_the_same_function(cfg):
    from amssfx.lab.nn.inference import SplitTFC, for_inference
    from amssfx.lab.nn.model import TFC

    model = _trained_looking(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inf = for_inference(model)
    assert model.training and not inf.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    n_tfc = sum(isinstance(m, TFC) for m in model.modules())
    assert n_tfc == 2 * cfg.n_down + 1
    assert sum(isinstance(m, SplitTFC) for m in inf.modules()) == n_tfc
    assert not any(isinstance(m, TFC) for m in inf.modules())
    model.eval()
    x = small_input(cfg)
    mask = torch.rand(1, cfg.num_heads, cfg.num_lach)
    with torch.no_grad():
        ref = model(x, tokens(), mask)
        out = inf(x, tokens(), mask)
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5 * ref.abs().max().item())


def test_text_conditions_the_output(trained_tiny):
    x = small_input(TINY)
    with torch.no_grad():
        a = trained_tiny(x, tokens("mute vocals"))
        b = trained_tiny(x, tokens("increase the volume of drums"))
    assert (a - b).abs().max() > 1e-4


def test_overfit_one_example():
    torch.manual_seed(0)
    m = AMSSNet(TINY)
    audio = torch.randn(1, 2, TINY.chunk_samples) * 0.1
    target = audio.clone()
    target[:, 1] *= 0.3
    x, y = stft(audio, TINY.n_fft, TINY.hop), stft(target, TINY.n_fft, TINY.hop)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    losses = []
    for _ in range(60):
        loss = (m(x, tokens("pan drums to the left side")) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_checkpoint_round_trip_is_exact(tmp_path, trained_tiny):
    p = checkpoint.save(trained_tiny, tmp_path / "m.pt")
    m2 = checkpoint.load(p)
    assert m2.cfg == trained_tiny.cfg
    x = small_input(TINY)
    with torch.no_grad():
        torch.testing.assert_close(trained_tiny(x, tokens()), m2(x, tokens()), rtol=0, atol=0)
    for k, v in trained_tiny.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])


def test_checkpoint_errors(tmp_path, trained_tiny):
    from amssfx.errors import ModelContractError

    p = checkpoint.save(trained_tiny, tmp_path / "m.pt")
    with pytest.raises(ModelContractError, match="not found"):
        checkpoint.load(tmp_path / "none.pt")
    # A checkpoint whose config says another size does not load.
    meta = p.with_suffix(".json")
    meta.write_text(meta.read_text().replace('"channels": 4', '"channels": 6'))
    with pytest.raises(ModelContractError, match="does not match"):
        checkpoint.load(p)
    p.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelContractError):
        checkpoint.load(p)


def test_config_json_round_trip():
    assert ModelConfig.from_dict(__import__("json").loads(SMALL.to_json())) == SMALL


def test_manipulate_lach_plays_one_latent_channel(trained_tiny):
    from amssfx.lab.nn.model import manipulate_lach

    torch.manual_seed(2)
    audio = torch.randn(2, TINY.chunk_samples) * 0.1
    a = manipulate_lach(trained_tiny, 0, 1, audio)
    b = manipulate_lach(trained_tiny, 1, 0, audio)
    assert a.shape == audio.shape and a.abs().max() > 0 and (a - b).abs().max() > 0


def test_dataset_is_a_map_style_dataset(tmp_path):
    import numpy as np
    from torch.utils.data import DataLoader

    from amssfx.lab.data.dataset import RemixDataset, StemBank

    rng = np.random.default_rng(0)
    for i in range(2):
        np.save(tmp_path / f"song_{i:010d}.npy", (0.1 * rng.standard_normal((4, 2, 20000))).astype(np.float32))
    ds = RemixDataset(StemBank(tmp_path), 4096, seed=5)
    inp, tgt, tok = next(iter(DataLoader(ds, batch_size=3)))
    assert inp.shape == (3, 2, 4096) and tgt.shape == (3, 2, 4096) and tok.shape == (3, 12)
    a, b = ds.example(7), ds.example(7)
    assert np.array_equal(a[0], b[0]) and a[3] == b[3]  # deterministic per (seed, index)


def test_family_weights_shift_the_draw(tmp_path):
    from collections import Counter

    from amssfx.lab.data.dataset import TRAIN_FAMILIES, random_query

    rng = np.random.default_rng(0)
    n = 4000
    uniform = Counter(random_query(rng).family for _ in range(n))
    weights = [3.0 if f == "lowpass" else 0.0 if f == "mute" else 1.0 for f in TRAIN_FAMILIES]
    weighted = Counter(random_query(rng, TRAIN_FAMILIES, weights).family for _ in range(n))
    assert abs(uniform["lowpass"] / n - 1 / 8) < 0.02
    assert abs(weighted["lowpass"] / n - 3 / 9) < 0.03 and weighted["mute"] == 0


def test_target_weights_shift_the_number_of_named_sources():
    import argparse
    from collections import Counter

    from amssfx.lab.cli import _target_weights
    from amssfx.lab.data.dataset import count_weight_list, random_query

    rng = np.random.default_rng(1)
    n = 6000
    plain = Counter(len(random_query(rng).targets) for _ in range(n))
    assert abs(plain[1] / n - 3 / 7) < 0.02 and abs(plain[3] / n - 1 / 7) < 0.02
    sets = Counter(random_query(rng, count_weights=[1.0, 0.0, 3.0]).targets for _ in range(n))
    assert all(len(t) != 2 for t in sets)
    assert abs(sets[("vocals", "drums", "bass")] / n - 1 / 2) < 0.03  # 3 sets of one source : 1 set of three x 3
    assert abs(sets[("drums",)] / n - 1 / 6) < 0.02  # the sets of one size stay equally likely
    assert _target_weights("3=2") == {3: 2.0} and count_weight_list({3: 2.0}) == [1.0, 1.0, 2.0]
    for bad in ("3", "4=1", "0=1", "x=1", "3=-1", "3=nan", "1=0,2=0,3=0"):
        with pytest.raises(argparse.ArgumentTypeError):
            _target_weights(bad)


def test_family_weights_are_checked(tmp_path):
    import argparse

    from amssfx.lab.cli import _family_weights
    from amssfx.lab.data.dataset import RemixDataset, StemBank

    np.save(tmp_path / "song_0000000000.npy", np.zeros((4, 2, 5000), np.float32))
    with pytest.raises(ValueError, match="unknown families"):
        RemixDataset(StemBank(tmp_path), 4096, family_weights={"reverse": 2.0})
    with pytest.raises(ValueError, match="all be zero"):
        RemixDataset(StemBank(tmp_path), 4096, families=("mute",), family_weights={"mute": 0.0})
    assert _family_weights("lowpass=2, highpass=1.5") == {"lowpass": 2.0, "highpass": 1.5}
    for bad in ("lowpass", "echo=2", "lowpass=x", "lowpass=-1", "lowpass=nan", "mute=inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            _family_weights(bad)


def _noise_banks(root) -> None:
    """Two tiny stem banks, `train` and `valid`, of noise songs under `root`."""
    rng = np.random.default_rng(0)
    for d in ("train", "valid"):
        (root / d).mkdir()
        for i in range(2):
            np.save(root / d / f"song_{i:010d}.npy", (0.1 * rng.standard_normal((4, 2, 20000))).astype(np.float32))


def test_rate_schedule():
    from amssfx.lab.nn.train import rate_factor

    assert rate_factor(0.0, 1e-4, None) == rate_factor(0.7, 1e-4, None) == 1.0
    assert rate_factor(0.0, 1e-4, 1e-5) == pytest.approx(1.0)
    assert rate_factor(0.5, 1e-4, 1e-5) == pytest.approx(0.55)
    assert rate_factor(1.0, 1e-4, 1e-5) == pytest.approx(0.1)
    assert rate_factor(3.0, 1e-4, 1e-5) == pytest.approx(0.1)  # past the end it stays at lr_end
    assert rate_factor(0.5, 0.0, 0.0) == 1.0  # a zero rate stays zero
    falls = [rate_factor(f, 1e-4, 1e-5) for f in np.linspace(0, 1, 11)]
    assert all(a > b for a, b in zip(falls, falls[1:]))


def test_training_resumes_from_its_checkpoint(tmp_path):
    import json

    import numpy as np

    from amssfx.lab.nn.train import train

    _noise_banks(tmp_path)
    run = tmp_path / "run"
    r1 = train(run, tmp_path / "train", tmp_path / "valid", "tiny", hours=1, batch=2, max_steps=3, valid_examples=2,
               progress=False)
    assert r1["step"] == 3 and (run / "model.pt").exists() and (run / "train_state.pt").exists()
    r2 = train(run, tmp_path / "train", tmp_path / "valid", "tiny", hours=1, batch=2, max_steps=5, valid_examples=2,
               progress=False, lr_end=1e-5, eq_db=3.0)
    assert r2["step"] == 5 and r2["examples"] == 10
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [3, 5] and all(np.isfinite(e["valid_loss"]) for e in log)
    assert [e["eq_db"] for e in log] == [0.0, 3.0]  # the augmentation a stretch was trained with
    # The log records the rate: 5e-4 under the linear warm-up of 200 steps, and in the second call
    # also under the cosine towards lr_end, which after seconds of a one-hour span is still ~1.
    assert log[0]["lr"] == pytest.approx(5e-4 * 4 / 200) and log[1]["lr"] == pytest.approx(5e-4 * 6 / 200, rel=1e-3)
    assert all(np.isfinite(e["valid_loss_ema"]) for e in log) and np.isfinite(r2["valid_loss_ema"])
    # Per-family validation: the families seen, and their mean is consistent with the total.
    fam = log[-1]["valid_by_family"]
    assert fam and set(fam) <= {"mute", "separate", "volume_up", "volume_down", "pan", "hard_pan", "lowpass",
                                "highpass"}
    assert min(fam.values()) <= log[-1]["valid_loss"] <= max(fam.values())
    assert checkpoint.load(run / "model.pt").cfg == TINY
    # The weight average is saved beside the model, resumed with it, and lags behind it.
    ema = checkpoint.load(run / "model_ema.pt").state_dict()
    cur = checkpoint.load(run / "model.pt").state_dict()
    assert ema.keys() == cur.keys() and any(not torch.equal(ema[k], cur[k]) for k in ema)


def test_ema_update_averages_weights_and_statistics():
    from amssfx.lab.nn.train import ema_update

    torch.manual_seed(0)
    model, ema = AMSSNet(TINY), AMSSNet(TINY)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    ema_update(ema, model, 0.9)
    now, cur = ema.state_dict(), model.state_dict()
    for k, v in now.items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, 0.9 * before[k] + 0.1 * cur[k])
        else:
            assert torch.equal(v, cur[k])
    for _ in range(300):  # repeated updates converge to the model
        ema_update(ema, model, 0.9)
    for k, v in ema.state_dict().items():
        torch.testing.assert_close(v, cur[k], rtol=1e-4, atol=1e-6)


def test_sdr_loss_is_minus_the_evaluation_sdr():
    """The training loss measured on spectrograms equals minus the waveform SDR of the evaluation."""
    from amssfx.lab.nn.train import sdr_loss
    from amssfx.tasks import sdr

    torch.manual_seed(1)
    n = TINY.chunk_samples
    ref = torch.randn(2, 2, n) * 0.1
    est = ref + torch.randn(2, 2, n) * torch.tensor([0.03, 0.01]).reshape(2, 1, 1)
    spec = lambda a: stft(a, TINY.n_fft, TINY.hop)  # noqa: E731
    # Edges aside (the centred STFT sees fewer windows there), the frame is tight: compare inside.
    cut = slice(TINY.n_fft, n - TINY.n_fft)
    loss = sdr_loss(spec(est), spec(ref), torch.zeros_like(spec(ref))).item()
    expected = -np.mean([sdr(ref[b, :, cut].numpy(), est[b, :, cut].numpy()) for b in range(2)])
    assert abs(loss - expected) < 0.2, (loss, expected)
    # A silent target stays finite: the error is measured against a floor below the input.
    silent = sdr_loss(spec(est), torch.zeros_like(spec(ref)), spec(ref))
    assert torch.isfinite(silent) and silent.item() > 20


def test_training_stops_on_sigterm_with_a_checkpoint(tmp_path):
    """SIGTERM (or Ctrl+C) ends training after the current step with a last checkpoint."""
    import json
    import signal
    import subprocess
    import sys
    import time

    import torch

    _noise_banks(tmp_path)
    run = tmp_path / "run"
    code = (f"from amssfx.lab.nn.train import train; train({str(run)!r}, {str(tmp_path / 'train')!r}, "
            f"{str(tmp_path / 'valid')!r}, 'tiny', hours=1, batch=2, valid_examples=2, progress=False, "
            f"checkpoint_minutes=0.02, threads=1)")
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (run / "log.jsonl").exists():  # the first timed checkpoint: training is under way
            assert proc.poll() is None and time.time() - t0 < 120, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after this step" in err
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    state = torch.load(run / "train_state.pt", weights_only=True)
    # the timed checkpoint(s), then the one written on the way out, which the state matches
    assert len(log) >= 2 and log[-1]["step"] == state["step"] >= log[-2]["step"] >= 1


def test_training_in_bfloat16_resets_an_optimizer_of_another_loss(tmp_path):
    import numpy as np

    from amssfx.lab.nn.train import LOSS, train

    _noise_banks(tmp_path)
    run = tmp_path / "run"
    train(run, tmp_path / "train", tmp_path / "valid", "tiny", batch=2, max_steps=2, valid_examples=2,
          progress=False, bf16=True)
    st = torch.load(run / "train_state.pt", weights_only=True)
    assert st["loss"] == LOSS and st["opt_steps"] == 2
    st["loss"] = "mse"  # a run started under another loss
    torch.save(st, run / "train_state.pt")
    r = train(run, tmp_path / "train", tmp_path / "valid", "tiny", batch=2, max_steps=3, valid_examples=2,
              progress=False, bf16=True)
    st = torch.load(run / "train_state.pt", weights_only=True)
    assert r["step"] == 3 and st["opt_steps"] == 1 and np.isfinite(r["valid_loss"])


def test_widening_keeps_the_output_and_adds_channels():
    from amssfx.lab.nn.widen import widen

    base = _trained_looking(dataclasses.replace(TINY, mask_output=True))
    target = dataclasses.replace(base.cfg, name="tiny_wide", level_channels=(4, 8, 6))
    wide = widen(base, target)
    assert wide.cfg == target and wide.training == base.training
    n_base, n_wide = (sum(p.numel() for p in m.parameters()) for m in (base, wide))
    assert n_wide > n_base
    assert wide.enc[1].tfc.convs[0][0].weight.shape[:2] == (8, 8) and wide.mid.tfc.convs[0][0].in_channels == 6
    x, mask = small_input(TINY), torch.rand(1, TINY.num_heads, TINY.num_lach)
    for train_mode in (False, True):  # batch statistics too: old channels never read new ones
        base.train(train_mode)
        wide.train(train_mode)
        with torch.no_grad():
            ref, e_ref = base(x, tokens(), mask, return_energy=True)
            out, e_out = wide(x, tokens(), mask, return_energy=True)
        assert ref.abs().max() > 0.1
        torch.testing.assert_close(out, ref, rtol=0, atol=1e-5 * ref.abs().max().item())
        torch.testing.assert_close(e_out, e_ref, rtol=1e-5, atol=1e-7)
    # The new channels are live: they compute something, and the loss reaches their outgoing weights.
    wide.train()
    feats = {}
    wide.mid.register_forward_hook(lambda m, i, o: feats.setdefault("mid", o))
    y = wide(x, tokens(), mask)
    assert feats["mid"][:, 4:].abs().max() > 0
    y.pow(2).mean().backward()
    assert wide.up[0][0].weight.grad[4:].abs().max() > 0


def test_widening_twice_keeps_the_output():
    """A model whose levels already differ in width widens again (as wide_mask -> wider_mask)."""
    from amssfx.lab.nn.widen import widen

    base = _trained_looking(dataclasses.replace(TINY, mask_output=True))
    once = widen(base, dataclasses.replace(base.cfg, name="w1", level_channels=(4, 6, 6)))
    twice = widen(once, dataclasses.replace(base.cfg, name="w2", level_channels=(4, 8, 10)))
    x, mask = small_input(TINY), torch.rand(1, TINY.num_heads, TINY.num_lach)
    base.eval()
    twice.eval()
    with torch.no_grad():
        ref, out = base(x, tokens(), mask), twice(x, tokens(), mask)
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5 * ref.abs().max().item())


def test_widening_refuses_other_changes():
    from amssfx.lab.nn.widen import widen

    base = AMSSNet(TINY)
    for target in (dataclasses.replace(TINY, level_channels=(8, 8, 8)),  # level 0 is kept
                   dataclasses.replace(TINY, level_channels=(4, 2, 4)),  # narrower
                   dataclasses.replace(TINY, level_channels=(4, 8, 8), num_lach=4)):  # not only channels
        with pytest.raises(ValueError):
            widen(base, target)


def test_training_can_start_from_a_widened_model(tmp_path):
    from amssfx.lab.nn.train import train

    _noise_banks(tmp_path)
    init = checkpoint.save(_trained_looking(TINY).eval(), tmp_path / "init.pt")
    target = dataclasses.replace(TINY, name="tiny_wide", level_channels=(4, 8, 8))
    r = train(tmp_path / "run", tmp_path / "train", tmp_path / "valid", target, hours=1, batch=2, max_steps=2,
              valid_examples=2, progress=False, init=str(init), widen=True)
    assert r["step"] == 2
    assert checkpoint.load(tmp_path / "run" / "model.pt").cfg == target


def test_level_channels_are_checked():
    for bad in ((4, 8), (4, 8, 7), (8, 8, 8)):  # wrong count; not a multiple of the heads; level 0 != channels
        with pytest.raises(ValueError):
            AMSSNet(dataclasses.replace(TINY, level_channels=bad))
    assert AMSSNet(dataclasses.replace(TINY, level_channels=(4, 8, 8))).mid.tfc.convs[0][0].out_channels == 8


def test_shelf_filters_tilt_the_spectrum():
    from scipy import signal

    from amssfx.lab.data.augment import shelf_sos

    freqs = [20.0, 100.0, 2000.0, 12000.0, 20000.0]
    _, low = signal.sosfreqz(shelf_sos("low", 200.0, 6.0, 44100), worN=freqs, fs=44100)
    _, high = signal.sosfreqz(shelf_sos("high", 4000.0, -6.0, 44100), worN=freqs, fs=44100)
    low, high = 20 * np.log10(abs(low)), 20 * np.log10(abs(high))
    assert low[0] == pytest.approx(6.0, abs=0.1) and abs(low[-1]) < 0.05 and low[1] > low[2]
    assert high[-1] == pytest.approx(-6.0, abs=0.1) and abs(high[0]) < 0.05
    with pytest.raises(ValueError, match="kind"):
        shelf_sos("mid", 1000.0, 3.0, 44100)


def test_timbre_augmentation_varies_the_stems_and_only_when_asked(tmp_path):
    """eq_db > 0: the balance of low and high frequencies of a stem varies from example to
    example (white-noise stems have none of their own); eq_db = 0 draws nothing extra, so the
    examples are those of a dataset without the option (validation sets stay fixed)."""
    from amssfx.lab.data.augment import random_shelves
    from amssfx.lab.data.dataset import RemixDataset, StemBank

    rng = np.random.default_rng(0)
    np.save(tmp_path / "song_0000000000.npy", (0.1 * rng.standard_normal((4, 2, 40000))).astype(np.float32))
    x = np.ones((2, 10), np.float32)
    assert random_shelves(x, np.random.default_rng(1), 0.0, 44100) is x

    def tilt_spread(ds):
        tilts = []
        for i in range(40):
            s = ds.stems(np.random.default_rng(i))["vocals"]
            if not s.any():  # a dropped stem
                continue
            p = np.abs(np.fft.rfft(s[0])) ** 2
            n = len(p)
            tilts.append(10 * np.log10(p[n // 200: n // 50].sum() / p[n // 2:].sum()))
        return float(np.std(tilts))

    bank = StemBank(tmp_path)
    plain, eq = RemixDataset(bank, 8192, seed=3), RemixDataset(bank, 8192, seed=3, eq_db=6.0)
    assert tilt_spread(eq) > 3 * tilt_spread(plain)
    a, b = plain.example(4), RemixDataset(bank, 8192, seed=3, eq_db=0.0).example(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]
    c = eq.example(4)
    assert c[0].shape == a[0].shape and c[0].dtype == np.float32 and np.isfinite(c[0]).all()


def test_coherent_examples_mix_one_song_at_one_offset(tmp_path):
    """coherent = 1: the four stems of an example come from one song at one offset; 0: each
    from a song of its own (here almost never the same place); 0 draws nothing extra."""
    from amssfx.lab.data.dataset import RemixDataset, StemBank

    rng = np.random.default_rng(0)
    for k in range(5):  # all four stems of a song carry one noise, left = right (stems may swap sides)
        noise = rng.standard_normal((1, 1, 30000)).astype(np.float32)
        noise = np.repeat(noise, 2, 1)
        np.save(tmp_path / f"song_{k:010d}.npy", np.repeat(noise, 4, 0))
    bank = StemBank(tmp_path)

    def share_coherent(ds, n=60):
        same = 0
        for i in range(n):
            st = [s / np.sqrt(np.mean(s * s)) for s in ds.stems(np.random.default_rng(i)).values()]
            same += all(np.allclose(st[0], s, atol=1e-4) for s in st[1:])
        return same / n

    assert share_coherent(RemixDataset(bank, 4096, drop_prob=0.0, coherent=1.0)) == 1.0
    assert share_coherent(RemixDataset(bank, 4096, drop_prob=0.0)) == 0.0
    half = share_coherent(RemixDataset(bank, 4096, drop_prob=0.0, coherent=0.5))
    assert 0.25 < half < 0.75
    a, b = RemixDataset(bank, 4096, seed=3).example(4), RemixDataset(bank, 4096, seed=3, coherent=0.0).example(4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[3] == b[3]
