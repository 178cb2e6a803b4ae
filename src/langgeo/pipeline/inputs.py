"""The signature files the stages after ``signatures`` read, found and checked before any work."""

from __future__ import annotations

from langgeo import LanggeoError
from langgeo.formats.factor_file import FACTORS_METADATA_KEY
from langgeo.formats.score_file import SCORES_METADATA_KEY
from langgeo.formats.signature_file import (
    METADATA_KEY,
    SignatureSettings,
    check_signature_files,
    signature_metadata,
)
from langgeo.layout import Layout
from langgeo.params import Params


def pair_languages(params: Params, layout: Layout, model: str, dataset: str) -> list[str]:
    """The languages of params that the (model, dataset) pair has signatures for: those its
    dataset holds (the calibrate stage reports the others)."""
    folder = layout.signatures(model, dataset)
    if not folder.is_dir():
        raise LanggeoError(f"signature folder {folder} not found; run `dvc repro` (stage "
                           "signatures) first")
    # Every job writes a factor file, whether or not it keeps the bits.
    return [c for c in params.languages if (folder / f"{c}.factors.parquet").is_file()]


def check_signatures(params: Params, layout: Layout, kind: str = "hamming") -> None:
    """Every file a stage will read for distances of ``kind`` (signatures, score samples or
    factors), checked before any work: readable, and computed with the settings of params."""
    suffix, key, what = {"hamming": (".parquet", METADATA_KEY, "signature"),
                         "factors": (".factors.parquet", FACTORS_METADATA_KEY, "factor"),
                         }.get(kind, (".scores.parquet", SCORES_METADATA_KEY, "score sample"))
    for model, dataset in params.pairs():
        settings = SignatureSettings.from_params(params, dataset)
        folder = layout.signatures(model, dataset)
        languages = pair_languages(params, layout, model, dataset)
        check_signature_files(
            [folder / f"{lang}{suffix}" for lang in languages],
            [signature_metadata(settings, model, dataset, lang) for lang in languages],
            f"Restore them with `dvc checkout {folder}` or re-run their stage: `dvc repro -s "
            f"signatures@{model}-{dataset}` (it recomputes only such files)", key, what)


