"""Parity: torch and onnxruntime agree on the exported model, over lengths and masks."""
import numpy as np
import pytest
import torch

from amssfx.engine import Engine
from amssfx.lab.nn import checkpoint
from amssfx.lab.nn.config import TINY
from amssfx.query import encode

pytestmark = pytest.mark.lab

# Tolerance: float32 graph rewrites (fused BN/conv, reordered sums) differ from torch eager by
# rounding only; 1e-4 relative to the output's peak is well above that and far below any real error.
REL_TOL = 1e-4

MASKS = {
    "ones": np.ones((TINY.num_heads, TINY.num_lach), np.float32),
    "zeros": np.zeros((TINY.num_heads, TINY.num_lach), np.float32),
    "solo": np.array([[0, 0], [1, 0]], np.float32),  # head 1, lach 0
    "random": np.random.default_rng(0).uniform(0, 2, (TINY.num_heads, TINY.num_lach)).astype(np.float32),
}


@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("query", ["mute vocals", "pan bass, drums completely to the right side"])
@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_mask_model"])
def test_chunk_parity(request, fixture, mask_name, query):
    ckpt, onnx_path = request.getfixturevalue(fixture)
    model = checkpoint.load(ckpt)
    eng = Engine(onnx_path)
    rng = np.random.default_rng(1)
    spec = rng.standard_normal((4, TINY.frames, TINY.freq_bins)).astype(np.float32)
    tok = np.asarray(encode(query), np.int64)
    mask = MASKS[mask_name]
    for gain in (1.0, 0.0):
        with torch.no_grad():
            ref = model(torch.from_numpy(spec)[None], torch.from_numpy(tok)[None], torch.from_numpy(mask)[None],
                        torch.tensor([gain]))[0].numpy()
        out, energy = eng.model.run_spec(spec, tok, mask, gain)
        assert np.abs(out - ref).max() <= REL_TOL * max(np.abs(ref).max(), 1e-6)
        assert energy.shape == mask.shape
        assert np.all(energy[mask == 0] == 0) and np.all(energy[mask != 0] > 0)


@pytest.mark.parametrize("length", [1, 3968, 3969, 20000])
def test_file_path_parity(tiny_model, length):
    """Whole engine path (STFT, chunks, overlap-add) vs the same steps with torch."""
    from amssfx.chunking import OverlapAdd
    from amssfx.engine import overlap_samples
    from amssfx.lab.nn.spec import istft, stft

    ckpt, onnx_path = tiny_model
    model = checkpoint.load(ckpt)
    eng = Engine(onnx_path)
    x = (0.3 * np.random.default_rng(length).standard_normal((2, length))).astype(np.float32)
    mask = MASKS["random"]
    p = eng.params("apply heavy lowpass to drums", mask)
    tok = torch.tensor([encode(p.query)])

    def torch_chunk(a, i):
        with torch.no_grad():
            s = stft(torch.from_numpy(a)[None], TINY.n_fft, TINY.hop)
            y = model(s, tok, torch.from_numpy(mask)[None])
            return istft(y, TINY.n_fft, TINY.hop, a.shape[1])[0].numpy()

    chunk = eng.model.contract.chunk_samples
    oa = OverlapAdd(torch_chunk, 2, chunk, overlap_samples(chunk))
    ref = np.concatenate([oa.process(x), oa.flush()], 1)
    out = eng.process_array(x, 44100, p)
    assert out.shape == ref.shape == x.shape
    assert np.abs(out - ref).max() <= REL_TOL * max(np.abs(ref).max(), 1e-6) + 1e-6


def test_metadata_carries_the_contract(tiny_model):
    ckpt, onnx_path = tiny_model
    c = Engine(onnx_path).model.contract
    assert (c.n_fft, c.hop, c.frames, c.num_heads, c.num_lach, c.config_name) == (
        TINY.n_fft, TINY.hop, TINY.frames, TINY.num_heads, TINY.num_lach, "tiny")
    assert c.checkpoint_sha256 == checkpoint.sha256(ckpt)
    assert c.sample_rate == 44100 and c.vocabulary[0] == "<pad>"


def test_graph_convolves_no_concatenation(tiny_model):
    """The export writes the inference form: no conv reads a concatenation (amssfx.lab.nn.inference)."""
    import onnx

    _, onnx_path = tiny_model
    graph = onnx.load(str(onnx_path)).graph
    concat_outputs = {o for n in graph.node if n.op_type == "Concat" for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) > 10
    assert not [n.name for n in convs if n.input[0] in concat_outputs]


def test_export_into_a_missing_folder_is_a_clear_error(tiny_model, tmp_path):
    from amssfx.errors import AmssfxError
    from amssfx.export.onnx_export import export_checkpoint

    with pytest.raises(AmssfxError, match="does not exist"):
        export_checkpoint(tiny_model[0], tmp_path / "missing" / "model.onnx")
    assert not (tmp_path / "missing").exists()
