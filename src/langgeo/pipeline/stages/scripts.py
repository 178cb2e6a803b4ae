"""Stage ``scripts@<model>``: the script experiment of :mod:`langgeo.studies.script_experiment`
for one model: the signatures of the declarations of ``params.scripts`` (as the signature
stage computes them, with the settings of ``scripts.dataset``) against that dataset's
reference signatures; ``reports/scripts/<model>/`` (pairs, ladder, per-block criterion,
summary, figure)."""

from __future__ import annotations

import json
import time

import numpy as np

from langgeo import LanggeoError
from langgeo.data import udhr
from langgeo.data.labels import language_labels
from langgeo.data.languages import known_languages
from langgeo.data.udhr import language_script
from langgeo.formats.signature_file import Signature, SignatureSettings, read_signature
from langgeo.formats.storage import atomic_path
from langgeo.geometry.hamming import hamming_from_signatures
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.method.signature import compute
from langgeo.params import Params
from langgeo.pipeline.inputs import check_signatures, pair_languages
from langgeo.report.study_figures import script_ladder_figure
from langgeo.studies.script_experiment import RUNGS, Text, experiment_tables, select_layers


def declaration_labels(codes: list[str]) -> dict[str, tuple[str, str, str]]:
    """Declaration -> (ISO 639-3, family, branch) of its language, through our language table;
    an unknown declaration code is an error naming the close matches."""
    table = udhr.declarations().set_index("code")
    unknown = [c for c in codes if c not in table.index or table.loc[c, "stage"] < udhr.MIN_STAGE]
    if unknown:
        raise udhr.unknown_language(unknown[0])
    known = known_languages().drop_duplicates("iso639_3").set_index("iso639_3")["code"]
    iso = {c: table.loc[c, "iso6393"] for c in codes}
    lacking = sorted({i for i in iso.values() if i not in known.index})
    if lacking:
        raise LanggeoError(f"params 'scripts': no row of src/langgeo/data/resources/"
                           f"languages.csv has ISO 639-3 {lacking}; add one to label them")
    # One row per language: the declarations of one language (cmn_hans, cmn_hant, ...) share it.
    labels = language_labels(list(dict.fromkeys(known[i] for i in iso.values()))).set_index(
        "iso639_3")
    return {c: (i, labels.loc[i, "family"], labels.loc[i, "branch"]) for c, i in iso.items()}


def run(params: Params, layout: Layout, model: str) -> str:
    sc, sig = params.scripts, params.signatures
    if sc is None:
        raise LanggeoError("params: no 'scripts' section; see params.yaml in the repository")
    params.model(model)
    # Checked here, not when params are read: params that leave out the UDHR (a test
    # project, a preset on other corpora) must not fail in their other stages.
    if sc.dataset not in [d.name for d in params.datasets] or \
            params.dataset(sc.dataset).source != "udhr":
        raise LanggeoError(f"params: 'scripts.dataset' is {sc.dataset!r}; name an entry of "
                           "'datasets' with source udhr (its signatures are the references)")
    start = time.perf_counter()
    sets = {"orthography": sc.orthography, "region": sc.region, "script": sc.script}
    codes = list(dict.fromkeys(c for groups in sets.values() for g in groups for c in g))
    labels_of = declaration_labels(codes)
    check_signatures(params, layout)
    folder = layout.signatures(model, sc.dataset)
    references = pair_languages(params, layout, model, sc.dataset)
    settings = SignatureSettings.from_params(params, sc.dataset)
    network = load_model(layout.model(model), sig.device, sig.dtype)
    tokenizer = load_tokenizer(layout.model(model))
    signatures, short = [], []
    for code in codes:
        try:
            bits = compute(network, tokenizer, [u.text for u in udhr.units(code)],
                           settings.tokens_per_language, settings.seq_len, sig.score,
                           sig.binarization, sig.damping, sig.batch_size,
                           hessian_dtype=sig.hessian_dtype, name=f"declaration {code!r}").bits
        except LanggeoError as exc:
            if "fewer than" not in str(exc):
                raise
            short.append(code)  # reported: too short a text for the references' tokens
            continue
        signatures.append(Signature({"language": code}, list(bits),
                                    {m: b.shape for m, b in bits.items()},
                                    {m: np.packbits(b.reshape(-1)) for m, b in bits.items()}))
    del network
    if short:
        sets = {rung: [[c for c in g if c not in short] for g in groups]
                for rung, groups in sets.items()}
        sets = {rung: [g for g in groups if len(g) > 1] for rung, groups in sets.items()}
    kept = [s.metadata["language"] for s in signatures]
    signatures += [read_signature(folder / f"{c}.parquet") for c in references]
    counts = hamming_from_signatures(signatures)
    ref_labels = language_labels(references).set_index("code")
    texts = [Text(c, False, labels_of[c][0], udhr.declaration_script(c), *labels_of[c][1:], c)
             for c in kept]
    texts += [Text(c, True, ref_labels.loc[c, "iso639_3"], language_script(c) or "",
                   ref_labels.loc[c, "family"], ref_labels.loc[c, "branch"],
                   udhr.udhr_declaration(c) or "")
              for c in references]
    pairs, ladder, layers = experiment_tables(texts, counts, sets)
    chosen = select_layers(layers, sc.layer_share)
    summary = {"model": model, "dataset": sc.dataset, "declarations": kept,
               "too_short": short, "references": references,
               "tokens": settings.tokens_per_language,
               "script_pairs_wider_than_nearest_language": int((pairs.loc[
                   pairs["rung"] == "script", "ratio"] > 1).sum()),
               "script_pairs": int((pairs["rung"] == "script").sum()),
               "ladder": dict(zip(ladder["rung"], ladder["mean"])),
               "ladder_in_order": bool(np.all(np.diff(ladder.set_index("rung").loc[
                   list(RUNGS), "mean"].to_numpy()) > 0)),
               "script_robust_layers": chosen, "layer_share": sc.layer_share}
    out = layout.scripts(model)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        pairs.to_csv(tmp / "pairs.csv", index=False, float_format="%.6f")
        ladder.to_csv(tmp / "ladder.csv", index=False, float_format="%.6f")
        layers.to_csv(tmp / "layers.csv", index=False, float_format="%.6f")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        script_ladder_figure(tmp / "ladder.png", pairs, ladder, model)
    means = ", ".join(f"{r} {m:.4f}" for r, m in zip(ladder["rung"], ladder["mean"]))
    return (f"scripts ({model}): {len(kept)} declarations against {len(references)} "
            f"references in {time.perf_counter() - start:.0f} s; ladder {means}; "
            f"{summary['script_pairs_wider_than_nearest_language']} of "
            f"{summary['script_pairs']} script pairs further apart than the nearest other "
            f"language in one script; script-robust blocks {chosen}"
            + (f"; too short for {settings.tokens_per_language} tokens: {short}"
               if short else "") + f" -> {out}")
