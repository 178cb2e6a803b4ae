"""Fine-tuning per source language and the transfer gain matrix, on tiny in-code models."""

import numpy as np
import pytest
import torch
from tests.conftest import MODELS, tiny_gemma3, tiny_llama

from langgeo import LanggeoError
from langgeo.studies.finetune import (
    FineTuneResult,
    TransferGain,
    _loss_backward,
    fine_tune,
    freeze_early,
    restore_parameters,
    snapshot_parameters,
    transfer_gain_matrix,
)

# Tiny models: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


def windows(rows=4, seq_len=24, seed=0, bos=1):
    """Token windows with a BOS first, and a repeated pattern a model can learn quickly."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 300, (rows, seq_len), generator=g)
    ids[:, 1::2] = ids[:, 0::2][:, :ids[:, 1::2].shape[1]] % 50 + 3
    ids[:, 0] = bos
    return ids


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


@pytest.mark.parametrize("name", list(MODELS))
def test_chunked_loss_and_its_gradients_are_transformers_own(name):
    model, ids = MODELS[name](), windows(2, 20)
    loss = _loss_backward(model, ids, chunk=7)
    ours = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    reference = model(input_ids=ids, labels=ids, use_cache=False).loss
    reference.backward()
    assert loss == pytest.approx(reference.item(), rel=1e-6)
    for n, p in model.named_parameters():
        torch.testing.assert_close(ours[n], p.grad, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_few_steps_lower_the_training_loss(dtype):
    model = tiny_llama()
    result = fine_tune(model, windows(2), lr=3e-3, steps=12, batch_size=1, dtype=dtype,
                       name="xx")
    assert isinstance(result, FineTuneResult) and result.losses.shape == (12,)
    assert result.losses[-2:].mean() < result.losses[:2].mean() - 0.1
    assert result.tokens == 12 * 24 and result.seconds > 0 and result.dtype == dtype
    assert result.trained == sum(p.numel() for p in model.parameters())
    # Stale gradients of the caller do not leak into the first step.
    again = tiny_llama()
    for p in again.parameters():
        p.grad = torch.full_like(p, 1e3)
    first = fine_tune(again, windows(2), lr=3e-3, steps=2, dtype=dtype, name="xx")
    assert np.array_equal(first.losses, result.losses[:2])
    # fp32 master weights: the model is still fp32 afterwards
    assert all(p.dtype == torch.float32 and p.grad is None for p in model.parameters())


def test_windows_are_read_in_order_wrapping_around():
    from langgeo.studies.finetune import _step_rows

    assert [_step_rows(3, 2, s) for s in range(3)] == [[0, 1], [2, 0], [1, 2]]


def test_frozen_parameters_stay_bit_identical_and_the_others_move():
    model = tiny_gemma3()  # ties lm_head to the embedding
    frozen = freeze_early(model, blocks=1)
    assert "model.embed_tokens.weight" in frozen and "model.norm.weight" in frozen
    assert "lm_head.weight" not in frozen  # the same parameter as the embedding
    assert all(not n.startswith("model.layers.1.") for n in frozen)
    before = snapshot_parameters(model)
    result = fine_tune(model, windows(), lr=1e-2, steps=3, frozen=frozen, name="xx")
    after = snapshot_parameters(model)
    for n in before:
        assert torch.equal(before[n], after[n]) == (n in frozen), n
    assert torch.equal(model.lm_head.weight, before["model.embed_tokens.weight"])
    assert result.trained == sum(p.numel() for n, p in model.named_parameters()
                                 if n not in frozen)
    # requires_grad is as it was
    assert all(p.requires_grad for p in model.parameters())
    # The tied alias names the same parameter
    alias = snapshot_parameters(model)
    fine_tune(model, windows(), lr=1e-2, steps=1, frozen=["lm_head.weight"], name="xx")
    assert torch.equal(model.model.embed_tokens.weight, alias["model.embed_tokens.weight"])


def deep_llama(layers):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=8, intermediate_size=8,
                         num_hidden_layers=layers, num_attention_heads=2,
                         num_key_value_heads=1, tie_word_embeddings=False)
    return LlamaForCausalLM(config)


@pytest.mark.parametrize("layers,frozen_blocks", [(32, 9), (30, 8), (18, 5), (2, 1)])
def test_freeze_early_scales_the_reference_to_the_depth(layers, frozen_blocks):
    model = deep_llama(layers)
    names = freeze_early(model)
    blocks = {int(n.split(".")[2]) for n in names if n.startswith("model.layers.")}
    assert blocks == set(range(frozen_blocks))
    assert {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"} <= set(names)


def test_freeze_early_refuses_blocks_beyond_the_depth():
    model = deep_llama(4)
    assert len(freeze_early(model, blocks=4)) == len(list(model.parameters()))
    with pytest.raises(LanggeoError, match="cannot freeze 5 blocks.*has 4"):
        freeze_early(model, blocks=5)
    with pytest.raises(LanggeoError, match="fraction"):
        freeze_early(model, fraction=1.5)
    with pytest.raises(LanggeoError, match="not parameters"):
        fine_tune(model, windows(), lr=1e-3, steps=1, frozen=["model.nothing"], name="xx")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_same_seed_same_run(dtype):
    runs = []
    for _ in range(2):
        model = tiny_llama()
        result = fine_tune(model, windows(), lr=1e-2, steps=4, batch_size=2, seed=5,
                           dtype=dtype, name="xx")
        runs.append((result.losses, snapshot_parameters(model)))
    assert np.array_equal(runs[0][0], runs[1][0]) and same(runs[0][1], runs[1][1])


class NaNAt:
    """A forward hook that makes block 0's output NaN on its ``call``-th call."""

    def __init__(self, call):
        self.call, self.calls = call, 0

    def __call__(self, module, args, output):
        self.calls += 1
        if self.calls == self.call:
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = hidden * float("nan")
            return (hidden, *output[1:]) if isinstance(output, tuple) else hidden
        return output


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_non_finite_loss_stops_naming_the_language_and_step(dtype):
    model = tiny_llama()
    before = snapshot_parameters(model)
    hook = model.model.layers[0].register_forward_hook(NaNAt(3))
    try:
        with pytest.raises(LanggeoError, match=r"on 'uk': the loss at step 3 of 5 is nan"):
            fine_tune(model, windows(), lr=1e-3, steps=5, dtype=dtype, name="uk")
    finally:
        hook.remove()
    # Steps 1 and 2 were applied, step 3's update was not; the flags and grads are clean.
    assert not same(before, snapshot_parameters(model))
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("change,message", [
    ({"lr": 10.0}, "learning rate 10.0"), ({"lr": 0.0}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"), ({"steps": 0}, "steps"),
    ({"steps": 2.5}, "steps"), ({"batch_size": 0}, "batch_size"),
    ({"weight_decay": -1.0}, "weight_decay"), ({"dtype": "float16"}, "dtype"),
])
def test_out_of_range_settings_are_refused(change, message):
    model = tiny_llama()
    before = snapshot_parameters(model)
    settings = {"lr": 1e-3, "steps": 2, **change}
    with pytest.raises(LanggeoError, match=message):
        fine_tune(model, windows(), name="fr", **settings)
    assert same(before, snapshot_parameters(model))


def test_bad_windows_and_bf16_models_are_refused():
    model = tiny_llama()
    with pytest.raises(LanggeoError, match="int64"):
        fine_tune(model, windows().int(), lr=1e-3, steps=1, name="fr")
    with pytest.raises(LanggeoError, match="seq_len >= 2"):
        fine_tune(model, windows()[:, :1], lr=1e-3, steps=1, name="fr")
    with pytest.raises(LanggeoError, match="float32"):
        fine_tune(model.to(torch.bfloat16), windows(), lr=1e-3, steps=1, name="fr")


def test_gain_and_relative_gain_by_hand():
    def ppl(bits):
        return {"ppl": 1.0, "bits_per_byte": bits, "nll_per_token": 0.0, "tokens": 1,
                "bytes": 1}

    base = {"x": ppl(2.0), "y": ppl(3.0)}
    tuned = {("x", "x"): ppl(1.5), ("x", "y"): ppl(3.5),
             ("y", "x"): ppl(1.9), ("y", "y"): ppl(3.2)}
    runs = {a: FineTuneResult(a, np.array([4.0, 3.0]), 1.0, 10, 5, "float32")
            for a in "xy"}
    result = TransferGain(["x", "y"], base, tuned, runs)
    np.testing.assert_allclose(result.gain(), [[0.5, -0.5], [0.1, -0.2]])
    # y's own fine-tuning made y worse (G[y, y] < 0): its column has no ratio.
    rel = result.relative_gain()
    np.testing.assert_allclose(rel[:, 0], [1.0, 0.2])
    assert np.isnan(rel[:, 1]).all()
    table = result.table()
    assert len(table) == 2 * 3 and set(table["source"]) == {"base", "x", "y"}
    row = table[(table.source == "y") & (table.target == "x")].iloc[0]
    assert row.gain == pytest.approx(0.1) and row.loss_last == 3.0
    assert result.curves()["step"].tolist() == [1, 2, 1, 2]


@pytest.fixture(scope="module")
def panel(tiny_model_dir):
    from langgeo.data.shards import pack_sequences
    from langgeo.data.sources import eld_documents, shuffled
    from langgeo.method.models import load_tokenizer
    from langgeo.studies.perplexity import heldout_windows, split_documents
    from langgeo.studies.transfer import PanelText

    tokenizer = load_tokenizer(tiny_model_dir)
    texts = {}
    for lang in ("fr", "de", "ru"):
        order = shuffled(eld_documents()[lang], lang, 0)
        cal, held = split_documents(order, tokenizer, 128, 64, 32, lang, "eld")
        texts[lang] = PanelText(pack_sequences(tokenizer, cal, 128, 32),
                                *heldout_windows(tokenizer, held, 64, 32))
    return texts


def test_transfer_gain_matrix_on_eld_text(tiny_model_dir, panel):
    from langgeo.method.models import load_model

    model = load_model(tiny_model_dir)
    base = snapshot_parameters(model)
    result = transfer_gain_matrix(model, panel, lr=1e-2, steps=8, batch_size=2,
                                  progress=False)
    assert result.languages == ["fr", "de", "ru"]
    g = result.gain()
    assert g.shape == (3, 3) and result.relative_gain().shape == (3, 3)
    assert (np.diag(g) > 0).all()  # a language's own text lowers its held-out loss
    assert np.allclose(np.diag(result.relative_gain()), 1.0)
    assert len(result.table()) == 3 * 4 and len(result.curves()) == 3 * 8
    assert all(r.losses.shape == (8,) for r in result.runs.values())
    # Every parameter is the base again afterwards, bit for bit ...
    assert same(base, snapshot_parameters(model))
    # ... and each source started from it: its run alone from the base is the same run.
    alone = fine_tune(model, panel["ru"].calibration, lr=1e-2, steps=8, batch_size=2,
                      name="ru")
    assert np.array_equal(alone.losses, result.runs["ru"].losses)
    restore_parameters(model, base)


def test_transfer_gain_matrix_restores_the_base_when_a_source_fails(tiny_model_dir, panel):
    from langgeo.method.models import load_model

    model = load_model(tiny_model_dir)
    base = snapshot_parameters(model)
    # Block 0 runs once per target measured (3, one batch each) and once per step (4): the
    # base's 3, fr's 4 + 3, then de's steps: the 12th call is de's 2nd step.
    hook = model.model.layers[0].register_forward_hook(NaNAt(12))
    try:
        with pytest.raises(LanggeoError, match="'de': the loss at step 2 of 4"):
            transfer_gain_matrix(model, panel, lr=1e-2, steps=4, eval_batch_size=64,
                                 progress=False)
    finally:
        hook.remove()
    assert same(base, snapshot_parameters(model))


def test_bf16_measurements_follow_the_fine_tuned_weights(tiny_model_dir, panel):
    from langgeo.method.models import load_model

    model = load_model(tiny_model_dir)
    settings = {"lr": 1e-2, "steps": 2, "batch_size": 2, "progress": False}
    fp32 = transfer_gain_matrix(model, panel, **settings)
    bf16 = transfer_gain_matrix(model, panel, eval_dtype="bfloat16", **settings)
    np.testing.assert_allclose(bf16.bits(), fp32.bits(), rtol=0.02)
    np.testing.assert_allclose(bf16.base_bits(), fp32.base_bits(), rtol=0.02)
    assert not np.allclose(fp32.bits(), fp32.base_bits()[None, :])
