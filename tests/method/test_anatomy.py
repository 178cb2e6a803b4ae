"""langgeo.method.anatomy: the linear layers of the transformer blocks, and only those."""

import pytest
from torch import nn

from langgeo.method.anatomy import block_linears


def test_block_linears_excludes_embeddings_and_head(tiny_model):
    names = list(block_linears(tiny_model))
    per_block = 4 if "gpt2" in type(tiny_model).__name__.lower() else 7
    assert len(names) == 2 * per_block
    assert all(".layers." in n or ".h." in n for n in names)
    assert not any("lm_head" in n or "embed" in n or "wte" in n for n in names)


def test_model_without_blocks_is_rejected():
    with pytest.raises(Exception, match="no list of transformer blocks"):
        block_linears(nn.Sequential(nn.Linear(2, 2)))
