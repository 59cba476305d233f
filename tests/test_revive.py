"""Reviving quiet latent channels (lab/nn/revive.py)."""
import dataclasses

import numpy as np
import pytest
import torch

from amssfx.lab.nn.config import TINY
from amssfx.lab.nn.model import AMSSNet
from amssfx.lab.nn.revive import channel_shares, quiet_channels, revive

pytestmark = pytest.mark.lab

CFG = dataclasses.replace(TINY, num_heads=2, num_lach=3, channels=4, mask_output=True)


def _model():
    torch.manual_seed(1)
    m = AMSSNet(CFG)
    with torch.no_grad():  # a trained-looking gate: the zero-initialised condition layers get weights
        for p in m.parameters():
            if p.dim() > 1 and not p.abs().sum():
                p.normal_(0, 0.1)
    return m


def _mixes():
    torch.manual_seed(2)
    return torch.randn(2, 2, CFG.chunk_samples) * 0.1


def test_shares_sum_to_one_and_find_the_quiet_channels():
    m = _model()
    s = channel_shares(m, _mixes())
    assert s.shape == (CFG.num_heads, CFG.num_lach)
    assert s.sum() == pytest.approx(1.0)
    with torch.no_grad():  # silence channel 1:2: its values are zero
        rows = [1 * CFG.num_lach + 2]
        m.dec[-1].conv_v.weight[rows] = 0.0
        m.dec[-1].conv_v.bias[rows] = 0.0
    s = channel_shares(m, _mixes())
    assert s[1, 2] < 1e-12
    assert (1, 2) in quiet_channels(s, 0.01)


def test_revive_copies_a_live_donor_once_and_wakes_the_channel():
    m = _model()
    dec = m.dec[-1]
    l = CFG.num_lach
    ema = _model()
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    m(torch.randn(1, 4, CFG.frames, CFG.freq_bins), torch.tensor([[1, 2, 3]])).pow(2).mean().backward()
    opt.step()  # the optimizer has moments to copy
    with torch.no_grad():
        for j in (1, 2):  # two quiet channels in head 1
            dec.conv_v.weight[l + j] = 0.0
            dec.conv_v.bias[l + j] = 0.0
    before = channel_shares(m, _mixes())
    assert before[1, 1] < 1e-12 and before[1, 2] < 1e-12
    shares = np.full((CFG.num_heads, CFG.num_lach), 0.1)
    shares[1] = [0.3, 0.0, 0.0]
    done = revive(m, shares, 0.01, optimizer=opt, others=(ema,))
    assert [(d["head"], d["lach"]) for d in done] == [(1, 1)]  # one live donor in head 1, used once
    assert done[0]["donor"] == 0
    after = channel_shares(m, _mixes())
    assert after[1, 1] > 0.01 * after.sum()
    assert after[1, 2] < 1e-12  # no donor left for it: untouched
    w_k = dec.conv_k.weight
    assert not torch.equal(w_k[l + 1], w_k[l + 0])  # noise lets them part
    assert torch.allclose(w_k[l + 1], w_k[l + 0], rtol=0.5, atol=0.5 * w_k[l].abs().max().item())
    v_moment = opt.state[dec.conv_v.weight]["exp_avg_sq"]
    assert torch.equal(v_moment[l + 1], v_moment[l + 0])
    for name in ("conv_k", "conv_v"):  # the weight average gets the same weights
        assert torch.equal(getattr(ema.dec[-1], name).weight, getattr(dec, name).weight)
    assert torch.equal(ema.dec[-1].cond.proj.weight, dec.cond.proj.weight)


def test_split_keeps_every_gate_input():
    """Donor and copy take half the donor's values and the gate weights on them double, so the
    gate pre-activations of every channel of the head stay what they were (copy: the donor's) when
    the revived channel had no values."""
    m = _model()
    dec = m.dec[-1]
    x = torch.randn(1, CFG.channels, 4, CFG.freq_bins // 2)
    words = torch.randn(1, 3, 2 * CFG.text_hidden)
    pad = torch.zeros(1, 3, dtype=torch.bool)

    def pre_activations():
        h, l = CFG.num_heads, CFG.num_lach
        with torch.no_grad():
            v = dec.conv_v(x).reshape(1, h, l, -1)
            theta = dec.cond(words, pad)
            w = theta[:, : h * l * l].reshape(1, h, l, l)
            return (w @ v + theta[:, h * l * l:].reshape(1, h, l, 1))[0]

    with torch.no_grad():  # a dead channel: no values (the gates of the others then read nothing of it)
        dec.conv_v.weight[2] = 0.0
        dec.conv_v.bias[2] = 0.0
    before = pre_activations()
    shares = np.full((CFG.num_heads, CFG.num_lach), 0.2)
    shares[0, 2] = 0.0
    shares[0, 1] = 0.3  # the donor
    revive(m, shares, 0.01, noise=0.0)
    after = pre_activations()
    torch.testing.assert_close(after[0, [0, 1]], before[0, [0, 1]], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after[0, 2], before[0, 1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after[1], before[1])


def test_solo_energy_is_the_energy_of_each_soloed_output():
    """The training-time solo energies equal the energies of the model's output with one latent channel
    on and the direct path off (what the evaluation measures), and the floor penalty on them has a
    gradient that reaches the output layers."""
    from amssfx.lab.nn.model import solo_mask
    from amssfx.lab.nn.train import lach_penalty

    m = _model().train()
    m.measure_solos = True
    torch.manual_seed(3)
    x = torch.randn(2, 4, CFG.frames, CFG.freq_bins)
    tok = torch.tensor([[1, 2, 3], [4, 5, 0]])
    m(x, tok)
    got = m.solo_energy.detach()
    assert got.shape == (2, CFG.num_heads, CFG.num_lach)
    m.measure_solos = False
    with torch.no_grad():
        for h in range(CFG.num_heads):
            for l in range(CFG.num_lach):
                y = m(x, tok, solo_mask(CFG, h, l, batch=2), torch.zeros(2))  # train mode: the same batch statistics
                torch.testing.assert_close(got[:, h, l], y.pow(2).sum((1, 2, 3)), rtol=1e-4, atol=1e-6)
    m.measure_solos = True
    m.zero_grad()
    m(x, tok)
    lach_penalty(m.solo_energy, 0.5).backward()
    assert m.last.weight.grad.abs().sum() > 0 and m.dec[-1].conv_v.weight.grad.abs().sum() > 0


def test_the_amplitude_floor_pulls_a_channel_cancelled_to_nothing():
    """A channel whose output has gone to almost nothing: the floor on its energy share barely moves it
    (the gradient of an energy vanishes with the output), the floor on the share's square root does."""
    from amssfx.lab.nn.train import lach_penalty

    grads = {}
    for amplitude in (False, True):
        out = torch.tensor([[[1e-4, 1.0], [0.8, 1.2]]], requires_grad=True)  # what each channel puts out
        lach_penalty(out.pow(2), 0.05, amplitude).backward()
        grads[amplitude] = -out.grad[0, 0, 0].item()  # > 0: the penalty pushes the channel up
    assert 0 < grads[False] < 0.01 < grads[True]
    assert grads[True] > 1000 * grads[False]


def test_the_batch_floor_lets_a_channel_rest_under_some_queries():
    """A channel that carries a third of the output of one example and nothing of the other's: the
    floor per example charges it for the second (a full channel's worth of penalty, half of it after
    the batch mean), the floor over the batch sees it carry a sixth of the whole and charges nothing;
    a channel dead in both examples is charged alike by both."""
    from amssfx.lab.nn.train import lach_penalty

    live = torch.tensor([[[1.0, 1.0, 1.0]], [[0.0, 1.0, 1.0]]])  # (b=2, heads=1, lach=3)
    assert lach_penalty(live, 0.05).item() == pytest.approx(0.5)
    assert lach_penalty(live, 0.05, pooled=True).item() == 0.0
    dead = torch.tensor([[[0.0, 1.0, 1.0]], [[0.0, 1.0, 1.0]]])
    assert lach_penalty(dead, 0.05).item() == pytest.approx(1.0)
    assert lach_penalty(dead, 0.05, pooled=True).item() == pytest.approx(1.0)


def test_training_revives_and_floors_at_the_output(tmp_path):
    """`train(revive_floor=..., lach_at="output", lach_pool="batch")` runs and logs what it revived and how
    it measured."""
    import json

    from amssfx.lab.nn.train import train

    rng = np.random.default_rng(0)
    for d in ("train", "valid"):
        (tmp_path / d).mkdir()
        for i in range(2):
            np.save(tmp_path / d / f"song_{i:010d}.npy", (0.1 * rng.standard_normal((4, 2, 20000))).astype(np.float32))
    run = tmp_path / "run"
    r = train(run, tmp_path / "train", tmp_path / "valid", "tiny", hours=1, batch=2, max_steps=2, valid_examples=2,
              progress=False, lach_floor=0.02, lach_weight=0.5, lach_at="output", revive_floor=0.05,
              lach_pool="batch")
    assert r["step"] == 2 and np.isfinite(r["valid_loss"])
    log = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["lach_at"] == "output" and log[0]["lach_pool"] == "batch"
    assert "revived" not in log[0] or all({"head", "lach", "donor", "share", "share_after"} <= set(d)
                                           for d in log[0]["revived"])
    with pytest.raises(ValueError, match="lach_at"):
        train(tmp_path / "run2", tmp_path / "train", tmp_path / "valid", "tiny", max_steps=1, progress=False,
              lach_at="middle")
    with pytest.raises(ValueError, match="lach_pool"):
        train(tmp_path / "run2", tmp_path / "train", tmp_path / "valid", "tiny", max_steps=1, progress=False,
              lach_pool="song")
