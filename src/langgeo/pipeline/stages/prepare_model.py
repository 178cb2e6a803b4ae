"""Stage ``prepare_model@<model>``: the model as a ``save_pretrained`` folder under ``models/``."""

from __future__ import annotations

import time

from langgeo.layout import Layout
from langgeo.method.models import prepare_model
from langgeo.params import Params


def run(params: Params, layout: Layout, model: str) -> str:
    start = time.perf_counter()
    out = prepare_model(params.model(model), layout.model(model))
    return f"prepared model {model!r} in {out} ({time.perf_counter() - start:.0f} s)"
