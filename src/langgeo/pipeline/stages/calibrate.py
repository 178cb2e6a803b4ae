"""Stage ``calibrate@<dataset>``: each language's calibration shard, the shortest prefix of its
seeded document order that gives every model's tokenizer enough tokens."""

from __future__ import annotations

from tqdm import tqdm

from langgeo import LanggeoError
from langgeo.data.shards import select_documents, write_coverage, write_shard
from langgeo.data.sources import (
    available_languages,
    calibration_documents,
    check_dataset,
    source_metadata,
)
from langgeo.data.udhr import udhr_alignment
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.models import load_tokenizer
from langgeo.params import Params


def run(params: Params, layout: Layout, dataset: str) -> str:
    spec = params.dataset(dataset)
    present = available_languages(spec, params.languages)
    absent = [lang for lang in params.languages if lang not in present]
    # A language another dataset holds is only reported here; one that no dataset holds
    # could never be placed, so it is an error before any work.
    elsewhere = {lang for other in params.datasets if other.name != spec.name
                 for lang in available_languages(other, absent, reach=False)}
    nowhere = [lang for lang in absent if lang not in elsewhere]
    if nowhere:
        try:
            check_dataset(spec, nowhere)
        except LanggeoError as exc:
            others = [d.name for d in params.datasets if d.name != spec.name]
            raise LanggeoError(f"{exc}" + (f"; no other dataset of params 'datasets' "
                                           f"{others} has them either" if others else "")
                               ) from exc
    tokenizers = [load_tokenizer(layout.model(m.name)) for m in params.models]
    tokens, seq_len = params.tokens(spec.name), params.calibration.seq_len
    with atomic_path(layout.shards(spec.name)) as tmp:
        tmp.mkdir()
        n_docs = 0
        for lang in tqdm(present, desc=f"calibration text ({spec.name})", unit="lang"):
            chosen = select_documents(calibration_documents(spec, lang, params.seed),
                                      tokenizers, tokens, seq_len, lang, spec.name)
            n_docs += len(chosen)
            write_shard(tmp / f"{lang}.parquet", chosen, {
                "dataset": spec.name, "language": lang, "seed": str(params.seed),
                "tokens_per_language": str(tokens),
                "seq_len": str(seq_len), **source_metadata(spec, lang)},
                units=udhr_alignment(spec, lang, len(chosen)))
        write_coverage(tmp, spec.name, present, absent)
    return (f"calibration text for {len(present)} languages of {spec.name!r} ({tokens} tokens "
            f"each): {n_docs} documents in {layout.shards(spec.name)}"
            + (f"; not in this dataset: {' '.join(absent)}" if absent else ""))
