"""Model anatomy, for any transformers causal LM: the transformer blocks, the linear layers
inside them (whose weights get a bit each), their weights as ``(out, in)``, and the decoder
stack without its LM head."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from langgeo import LanggeoError


def linear_weight(module: nn.Module) -> torch.Tensor:
    """The weight as ``(out_features, in_features)``; GPT-2's ``Conv1D`` stores it transposed."""
    return module.weight.T if isinstance(module, Conv1D) else module.weight


def transformer_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The transformer blocks: the longest ``nn.ModuleList`` of the model, with its name."""
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        raise LanggeoError(f"{type(model).__name__} has no list of transformer blocks")
    return max(lists, key=lambda item: len(item[1]))


def block_linears(model: nn.Module) -> dict[str, nn.Module]:
    """Every linear layer (``nn.Linear``, or GPT-2's ``Conv1D``) inside the transformer blocks,
    by qualified name, in forward order.

    The blocks are the longest ``nn.ModuleList`` of the model; embeddings and the LM head sit
    outside it and are excluded by construction.
    """
    blocks_name, blocks = transformer_blocks(model)
    linears = {f"{blocks_name}.{name}": m for name, m in blocks.named_modules()
               if isinstance(m, (nn.Linear, Conv1D))}
    if not linears:
        raise LanggeoError(f"{type(model).__name__}: no nn.Linear inside {blocks_name}")
    return linears


def decoder_stack(model: nn.Module) -> nn.Module:
    """The model without its LM head: logits over a large vocabulary are costly and unused."""
    base = getattr(model, "base_model", None)
    return base if isinstance(base, nn.Module) and base is not model else model


def iter_block_weights(model_or_weights: Any) -> Iterator[tuple[str, np.ndarray]]:
    """(module name, fp32 ``(out, in)`` numpy weight) of every block linear layer, in forward
    order, one at a time (a model's weights are converted as they are reached)."""
    from langgeo._util import as_numpy

    if hasattr(model_or_weights, "named_modules"):
        from langgeo.method.anatomy import block_linears, linear_weight

        for name, m in block_linears(model_or_weights).items():
            yield name, as_numpy(linear_weight(m).detach().float())
    else:
        for name, w in model_or_weights.items():
            yield name, np.asarray(as_numpy(w), dtype=np.float32)


def block_weights(model_or_weights: Any) -> dict[str, np.ndarray]:
    """:func:`iter_block_weights` as a dict."""
    return dict(iter_block_weights(model_or_weights))
