"""Stage ``hidden_states@<model>``: the model's pooled hidden states, at every layer, of each
language's first ``interlingua.max_units`` UDHR units, keyed so that pairs of languages align on
the units both hold (:func:`langgeo.studies.representations.pairwise_units`);
``data/hidden_states/<model>/`` (:mod:`langgeo.formats.states_file`).

The forward passes of the interlingua study, kept apart from its analysis so that a change of
the distances or of the ILO settings does not repeat them.
"""

from __future__ import annotations

import time

from langgeo.data import udhr
from langgeo.data.udhr import udhr_declaration
from langgeo.formats.states_file import write_states
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params
from langgeo.studies.interlingua import check_neighbourhood
from langgeo.studies.representations import language_states, pairwise_units


def run(params: Params, layout: Layout, model: str) -> str:
    il = params.interlingua
    params.model(model)
    start = time.perf_counter()
    declarations = {lang: udhr_declaration(lang) for lang in params.languages}
    without = [lang for lang, d in declarations.items() if d is None]
    codes = [lang for lang, d in declarations.items() if d is not None]
    units = pairwise_units({lang: udhr.units(declarations[lang]) for lang in codes},
                           il.max_units)
    # Fails here, before the forward passes, rather than in the analysis after them.
    check_neighbourhood(len(codes), min(map(len, units.ids.values())), il.k, il.t)
    states = language_states(load_model(layout.model(model), dtype=il.dtype),
                             load_tokenizer(layout.model(model)), units.texts, il.pooling,
                             il.batch_size)
    record = {"model": model, "languages": codes, "units": [list(k) for k in units.keys],
              "slots": [units.ids[c] for c in codes],
              "declarations": {c: declarations[c] for c in codes},
              "without_translation": without, "pooling": il.pooling, "dtype": il.dtype}
    out = layout.hidden_states(model)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_states(tmp, states, record)
    return (f"hidden states ({model}, {il.dtype}): {len(codes)} languages x up to "
            f"{states.shape[2]} units x {states.shape[0]} layers in "
            f"{time.perf_counter() - start:.0f} s (no translation: {without or 'none'}) -> {out}")
