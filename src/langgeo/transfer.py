"""The transfer question: does the distance d(a, b) between languages predict what pruning a
model with language a's text costs language b?

For a panel of languages, ``P[a, b]`` is the per-token perplexity on b's held-out text of the
model pruned with a's calibration text, and ``R[a, b] = log P[a, b] − log P[b, b]`` (what
calibrating on a instead of b costs b, in nats per token; ``R[b, b] = 0``). The transfer test
is the Spearman correlation of ``d(a, b)`` with ``R[a, b]``, per target b (over the sources
a ≠ b) and over all ordered pairs, each with a permutation p-value: the null relabels the
languages of ``d`` (rows and columns jointly), which keeps the dependence between pairs that
share a language. One-sided: the alternative is that closer languages cost less.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from langgeo import LanggeoError
from langgeo.perplexity import Perplexity, perplexity
from langgeo.pruning import Pattern, PruneResult, block_weights, prune_model, restore_weights


@dataclass(frozen=True)
class PanelText:
    """One language's calibration windows ``(rows, seq_len)`` and held-out windows with the
    UTF-8 bytes their predictions cover."""

    calibration: torch.Tensor
    heldout: torch.Tensor
    heldout_bytes: int


@dataclass
class CrossLingual:
    """``ppl[(source, target)]``, source ``"dense"`` for the unpruned model; ``pruned`` holds
    each source's :class:`~langgeo.pruning.PruneResult`."""

    languages: list[str]
    ppl: dict[tuple[str, str], Perplexity]
    pruned: dict[str, PruneResult]
    seconds_perplexity: float

    def matrix(self, value: str = "ppl") -> np.ndarray:
        """``(n, n)`` array of ``value`` (a key of :meth:`Perplexity.as_dict`), rows = source."""
        return np.array([[self.ppl[a, b].as_dict()[value] for b in self.languages]
                         for a in self.languages])

    def cost(self) -> np.ndarray:
        """``R[a, b] = log P[a, b] − log P[b, b]``, shape ``(n, n)``, zero diagonal."""
        log_p = np.log(self.matrix("ppl"))
        return log_p - np.diag(log_p)[None, :]

    def table(self) -> pd.DataFrame:
        """Long format: one row per (source, target), the dense model as source ``dense``."""
        r = self.cost()
        index = {c: i for i, c in enumerate(self.languages)}
        rows = []
        for (a, b), p in self.ppl.items():
            rows.append({"source": a, "target": b, **p.as_dict(),
                         "R": float(r[index[a], index[b]]) if a != "dense" else np.nan,
                         "sparsity": self.pruned[a].sparsity if a != "dense" else 0.0})
        return pd.DataFrame(rows)


def cross_lingual_matrix(model: torch.nn.Module, texts: Mapping[str, PanelText], method: str,
                         pattern: Pattern, damping: float, batch_size: int,
                         progress: bool = True) -> CrossLingual:
    """Prune ``model`` once per source language (restoring the dense weights in between) and
    measure every target's held-out perplexity; the dense model's too."""
    from tqdm import tqdm

    languages = list(texts)
    dense = block_weights(model)
    ppl: dict[tuple[str, str], Perplexity] = {}
    pruned: dict[str, PruneResult] = {}
    spent = 0.0
    bar = tqdm(total=len(languages) * (len(languages) + 1), desc="perplexity panel",
               unit="ppl", disable=not progress)

    def measure(source: str) -> None:
        nonlocal spent
        start = time.perf_counter()
        for b in languages:
            ppl[source, b] = perplexity(model, texts[b].heldout, texts[b].heldout_bytes,
                                        batch_size)
            bar.update()
        spent += time.perf_counter() - start

    try:
        measure("dense")
        for a in languages:
            restore_weights(model, dense)
            bar.set_postfix(pruning=a)
            pruned[a] = prune_model(model, list(texts[a].calibration.split(batch_size)),
                                    method, pattern, damping)
            measure(a)
    finally:
        restore_weights(model, dense)
        bar.close()
    return CrossLingual(languages, ppl, pruned, spent)


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, centred and scaled to unit norm (Spearman = dot product)."""
    r = rankdata(x, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(r, axis=-1, keepdims=True)
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)


def transfer_test(distances: np.ndarray, cost: np.ndarray, n_permutations: int = 9999,
                  seed: int = 0, chunk: int = 1000) -> dict:
    """Spearman of ``distances`` (symmetric ``(n, n)``) against ``cost`` (``R``, rows =
    source) with permutation p-values.

    Returns
    -------
    ``{"rho": over all n (n − 1) ordered pairs, "p": its p-value, "mean_target_rho": the
    mean of the per-target correlations, "mean_target_p", "per_target": {index: {"rho",
    "p"}}}``; p-values are ``(1 + #{null >= observed}) / (1 + n_permutations)``, the null
    relabelling the languages of ``distances`` jointly (per target: of its column).
    """
    d, r = np.asarray(distances, float), np.asarray(cost, float)
    n = d.shape[0]
    if d.shape != (n, n) or r.shape != (n, n) or n < 4:
        raise LanggeoError(f"the transfer test needs two (n, n) matrices with n >= 4, got "
                           f"{d.shape} and {r.shape}")
    off = ~np.eye(n, dtype=bool)
    cost_ranks = _rank_rows(r[off])
    # Per target b: its column without the diagonal (sources a != b).
    cost_cols = _rank_rows(np.stack([np.delete(r[:, b], b) for b in range(n)]))

    def stats(orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        permuted = d[orders[:, :, None], orders[:, None, :]]
        overall = _rank_rows(permuted[:, off]) @ cost_ranks
        cols = np.stack([np.delete(permuted[:, :, b], b, axis=1) for b in range(n)], axis=1)
        per_target = (_rank_rows(cols) * cost_cols[None]).sum(-1)
        return overall, per_target

    rho, per_target = (s[0] for s in stats(np.arange(n)[None]))
    rng = np.random.default_rng(seed)
    count = 0
    count_mean = 0
    count_target = np.zeros(n, dtype=np.int64)
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        orders = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        overall, targets = stats(orders)
        count += int((overall >= rho - 1e-12).sum())
        count_mean += int((targets.mean(1) >= per_target.mean() - 1e-12).sum())
        count_target += (targets >= per_target[None] - 1e-12).sum(0)
    p = lambda c: float((1 + c) / (1 + n_permutations))  # noqa: E731
    return {"rho": float(rho), "p": p(count), "mean_target_rho": float(per_target.mean()),
            "mean_target_p": p(count_mean),
            "per_target": {b: {"rho": float(per_target[b]), "p": p(count_target[b])}
                           for b in range(n)}}


def transfer_tests(codes: Sequence[str], cost: np.ndarray,
                   geometries: Mapping[str, np.ndarray], n_permutations: int, seed: int
                   ) -> dict[str, dict]:
    """:func:`transfer_test` for each named distance matrix (ours, baselines), per-target
    results keyed by language code."""
    out = {}
    for name, d in geometries.items():
        result = transfer_test(d, cost, n_permutations, seed)
        result["per_target"] = {codes[b]: v for b, v in result["per_target"].items()}
        out[name] = result
    return out


def lsp_summary(crosslingual: CrossLingual, reference: str = "en") -> dict:
    """Language-specific pruning's claim, ``P[b, b] < P[reference, b]``: for how many b."""
    langs = crosslingual.languages
    if reference not in langs:
        return {}
    others = [b for b in langs if b != reference]
    wins = [b for b in others
            if crosslingual.ppl[b, b].per_token < crosslingual.ppl[reference, b].per_token]
    best_self = [b for b in langs if min(langs, key=lambda a: crosslingual.ppl[a, b].per_token)
                 == b]
    return {"reference": reference, "targets": len(others), "own_beats_reference": len(wins),
            "own_is_best": len(best_self)}


def panel_texts(params, tokenizer, languages: Sequence[str] | None = None
                ) -> dict[str, PanelText]:
    """Calibration and held-out windows of every panel language (``params.pruning``), split
    by :func:`langgeo.perplexity.split_documents` from the seeded document order."""
    from langgeo.corpus import calibration_documents, check_dataset, pack_sequences
    from langgeo.perplexity import heldout_windows, split_documents

    pr = params.pruning
    spec = params.dataset(pr.dataset)
    if spec.source == "hub":
        raise LanggeoError(f"pruning.dataset {spec.name!r} streams from the Hub; held-out text "
                           "is taken from the end of a language's documents, so use an eld or "
                           "local dataset")
    languages = list(languages or pr.panel)
    check_dataset(spec, languages)
    texts = {}
    for lang in languages:
        documents = list(calibration_documents(spec, lang, params.seed))
        calibration, heldout = split_documents(documents, tokenizer, pr.calibration_tokens,
                                               pr.heldout_tokens, pr.seq_len, lang, spec.name)
        texts[lang] = PanelText(
            pack_sequences(tokenizer, calibration, pr.calibration_tokens, pr.seq_len),
            *heldout_windows(tokenizer, heldout, pr.heldout_tokens, pr.seq_len))
    return texts


def pruning_model(params) -> str:
    """``params.pruning.model``, checked to be one of the pipeline's prepared models (and
    the panel to be among the pipeline's languages)."""
    if params.pruning is None:
        raise LanggeoError("params: no 'pruning' section; see params.yaml in the repository")
    # Checked by the stage, not when params are read: a panel that does not fit another
    # configuration's languages must not stop that configuration's other stages.
    missing = [c for c in params.pruning.panel if c not in params.languages]
    if missing:
        raise LanggeoError(f"params: 'pruning.panel' has {missing}, which are not in 'languages' "
                           "(the transfer test needs their signature distances)")
    name = params.pruning.model
    if name not in [m.name for m in params.models]:
        raise LanggeoError(f"params: 'pruning.model' {name!r} is not in 'models' "
                           f"{[m.name for m in params.models]}; add it there so that the "
                           "prepare_model stage provides it")
    return name


def panel_distances(params, root) -> tuple[str, np.ndarray]:
    """Our distances between the panel languages: the ensemble or one (model, dataset)."""
    from langgeo.distances import read_matrix

    choice = params.pruning.distances
    if choice == "ensemble":
        path = root / "data" / "distances" / "ensemble.parquet"
    else:
        model, _, dataset = choice.partition("/")
        pairs = [f"{m}/{d}" for m, d in params.pairs()]
        if choice not in pairs:
            raise LanggeoError(f"params: 'pruning.distances' {choice!r}: use 'ensemble' or one "
                               f"of the pipeline's pairs {pairs}")
        path = root / "data" / "distances" / model / f"{dataset}.parquet"
    codes, matrix = read_matrix(path)
    index = [codes.index(c) for c in params.pruning.panel]
    return choice, matrix[np.ix_(index, index)]


def run_transfer(params, root) -> dict:
    """The ``transfer`` stage: P, R, the transfer tests, masks, figures (its MLflow run is
    :func:`langgeo.runs.track_transfer`, from what this writes). Returns the summary written
    to ``transfer.json`` plus the stage's ``seconds`` (total, perplexity, pruning), which are
    logged but not written.

    Writes ``data/pruning/<model>/<dataset>/matrix.parquet`` (one row per (source, target),
    source ``dense`` for the unpruned model: ppl, bits_per_byte, nll_per_token, tokens,
    bytes, R, sparsity), ``.../masks/<lang>.parquet`` (the kept weights of the model pruned
    with each language, in the signature file format: 1 = kept), and ``reports/pruning/``:
    ``transfer.json`` (summary and tests), ``matrix.csv``, ``cost.png``, ``scatter.png``.
    """
    from pathlib import Path

    from langgeo.baselines import baseline_distances
    from langgeo.distances import distances_from_files
    from langgeo.evaluation import mantel_test
    from langgeo.figures import transfer_cost_figure, transfer_scatter_figure
    from langgeo.models import load_model, load_tokenizer
    from langgeo.pruning import parse_pattern
    from langgeo.signatures import write_signature
    from langgeo.storage import atomic_path, write_json

    root = Path(root)
    name, pr = pruning_model(params), params.pruning
    params.dataset(pr.dataset)
    torch.manual_seed(params.seed)
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    # Inputs that can fail are read before the long computation.
    distance_name, ours = panel_distances(params, root)
    labels = pd.read_parquet(root / "data" / "labels.parquet").set_index("code")
    iso3 = labels.loc[list(pr.panel), "iso639_3"].tolist()
    baselines = baseline_distances(list(pr.panel), iso3, params.seed,
                                   params.baselines.uriel_kinds, params.baselines.missing)
    model_dir = root / "models" / name
    model = load_model(model_dir, params.signatures.device)
    tokenizer = load_tokenizer(model_dir)
    texts = panel_texts(params, tokenizer)
    start = time.perf_counter()
    cross = cross_lingual_matrix(model, texts, pr.method, pattern, pr.damping, pr.batch_size)
    elapsed = time.perf_counter() - start
    cost = cross.cost()
    codes = list(pr.panel)
    table = cross.table()
    data = root / "data" / "pruning" / name / pr.dataset
    reports = root / "reports" / "pruning"
    with atomic_path(data) as tmp:
        (tmp / "masks").mkdir(parents=True)
        table.to_parquet(tmp / "matrix.parquet", index=False)
        for a, result in cross.pruned.items():
            write_signature(tmp / "masks" / f"{a}.parquet",
                            {m: ~mask.numpy() for m, mask in result.masks.items()},
                            {"model": name, "dataset": pr.dataset, "language": a,
                             "tokens": result.n_tokens, "score": f"{pr.method}-mask",
                             "pattern": pattern.name, "damping": pr.damping,
                             "seed": params.seed})
        # The masks are signatures too (item 5 of issue 13): their Hamming geometry.
        masks = distances_from_files([tmp / "masks" / f"{a}.parquet" for a in codes])
    geometries = {"ours": ours, f"{pr.method}_mask": masks,
                  **{k: b.distances for k, b in baselines.items()}}
    tests = transfer_tests(codes, cost, geometries, pr.permutations, params.seed)
    mask_rho, mask_p = mantel_test(ours, masks, pr.permutations, params.seed)
    lsp = lsp_summary(cross)
    summary = {
        "model": name, "dataset": pr.dataset, "method": pr.method, "pattern": pattern.name,
        "sparsity": {a: r.sparsity for a, r in cross.pruned.items()},
        "distances": distance_name, "panel": codes,
        "dense": {b: cross.ppl["dense", b].as_dict() for b in codes},
        "lsp": lsp, "tests": tests,
        "mask_vs_ours_mantel": {"spearman_rho": mask_rho, "p": mask_p},
    }
    # Timings go to the log and MLflow, not into a DVC output: the same inputs must give
    # the same bytes.
    seconds = {"total": elapsed, "perplexity": cross.seconds_perplexity,
               "pruning": sum(r.seconds for r in cross.pruned.values())}
    with atomic_path(reports) as tmp:
        tmp.mkdir(parents=True)
        table.to_csv(tmp / "matrix.csv", index=False, float_format="%.6g")
        transfer_cost_figure(tmp / "cost.png", codes, cost,
                             f"R[a, b], {name} pruned {pattern.name} "
                             f"{pattern.target:.0%} ({pr.method})")
        transfer_scatter_figure(tmp / "scatter.png", codes, ours, cost, tests["ours"]["rho"],
                                tests["ours"]["p"], f"our distance d(a, b) ({distance_name})")
        write_json(summary, tmp / "transfer.json")
    return {**summary, "seconds": seconds}


MODEL_CARD = """# {name}: {base} pruned for {language_name} ({language})

Written by `langgeo prune --language {language}` (langgeo {version}).

| | |
| --- | --- |
| base model | `{base}` |
| method | {method} ({pattern_text}), damping {damping} |
| calibration | {cal_tokens} tokens of `{dataset}` text in {language} ({cal_rows} windows of {seq_len}) |
| measured sparsity | {sparsity:.6f} of the {n_weights:,} weights of the linear layers in the transformer blocks ({n_zero:,} exact zeros; embeddings, norms and the LM head are dense) |
| pruning time | {seconds:.1f} s |

Perplexity on {held_tokens} held-out tokens of {language} ({held_rows} non-overlapping windows of
{seq_len}, {held_bytes:,} bytes of UTF-8; documents disjoint from the calibration text):

| model | perplexity per token | bits per byte |
| --- | --- | --- |
| dense | {dense_ppl:.3f} | {dense_bpb:.4f} |
| pruned | {pruned_ppl:.3f} | {pruned_bpb:.4f} |

The weights are stored dense (zeros included): load with
`transformers.AutoModelForCausalLM.from_pretrained("<this folder>")`. The base model's
license applies.
"""


def prune_for_language(params, root, language: str, out) -> dict:
    """``langgeo prune``: a ``save_pretrained`` folder at ``out`` holding ``params.pruning``'s
    model pruned with ``language``'s calibration text, with a model card (README.md) that
    gives its measured sparsity and its held-out perplexity before and after."""
    from pathlib import Path

    from langgeo import __version__
    from langgeo.corpus import language_table
    from langgeo.models import load_model, load_tokenizer
    from langgeo.pruning import measured_sparsity, parse_pattern
    from langgeo.storage import output_folder

    root, out = Path(root), Path(out)
    name, pr = pruning_model(params), params.pruning
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    model_dir = root / "models" / name
    model = load_model(model_dir, params.signatures.device)
    tokenizer = load_tokenizer(model_dir)
    text = panel_texts(params, tokenizer, [language])[language]
    dense = perplexity(model, text.heldout, text.heldout_bytes, pr.batch_size)
    result = prune_model(model, list(text.calibration.split(pr.batch_size)), pr.method, pattern,
                         pr.damping, progress=True)
    pruned = perplexity(model, text.heldout, text.heldout_bytes, pr.batch_size)
    sparsity = measured_sparsity(model)
    card = MODEL_CARD.format(
        name=out.name, base=name, language=language,
        language_name=language_table().get(language, {}).get("name", language),
        version=__version__, method=pr.method, damping=pr.damping,
        pattern_text=(f"unstructured, {pattern.target:.0%} of each matrix" if pattern.nm is None
                      else f"{pattern.name}: {pattern.nm[0]} of every {pattern.nm[1]} kept"),
        dataset=pr.dataset, cal_tokens=text.calibration.numel(),
        cal_rows=text.calibration.shape[0], seq_len=pr.seq_len, sparsity=result.sparsity,
        n_weights=result.n_weights, n_zero=round(sparsity * result.n_weights),
        seconds=result.seconds, held_tokens=text.heldout.numel(),
        held_rows=text.heldout.shape[0], held_bytes=text.heldout_bytes,
        dense_ppl=dense.per_token, dense_bpb=dense.bits_per_byte,
        pruned_ppl=pruned.per_token, pruned_bpb=pruned.bits_per_byte)
    with output_folder(out, "langgeo prune") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(card)
    return {"out": str(out), "sparsity": result.sparsity, "zeros": sparsity,
            "dense": dense.as_dict(), "pruned": pruned.as_dict(), "seconds": result.seconds}
