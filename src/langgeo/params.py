"""Typed, validated view of ``params.yaml``: malformed params fail here, before any work.

Each section of ``params.yaml`` is declared once, as a frozen dataclass below whose fields are
the section's keys. A field's type says what its value must be (``bool``, ``int``, ``float``,
``str``, ``X | None`` where null is allowed, ``tuple[X, ...]`` for a YAML list,
``dict[str, tuple[X, ...]]``, or another section), and :func:`param` puts the rest in the
field's metadata: ``choices``, bounds (``gt``, ``ge``, ``lt``, ``le``; every number must also
be finite), list rules (``min_len``, ``distinct``), which catalog ``sources`` understand the
key, a ``check`` of its own. One generic reader, :func:`langgeo._schema.build`, turns a
mapping into any such dataclass; the keys it allows are the fields, so a typo is refused
naming the nearest valid key. A key is optional where its field has a default, unless
declared ``required``. Rules that tie several fields together live in
:func:`_check_consistency`.

A new key is a new field; a new section a new dataclass and a field of :class:`Params`.
Reading params imports nothing heavy (no torch, no pandas): the CLI reads them first.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from langgeo import LanggeoError
from langgeo._schema import build, entry, param

SCORES = ("sparsegpt", "obs", "wanda", "magnitude")
BINARIZATIONS = ("per_matrix", "global")
MODEL_SOURCES = ("gguf-package", "pretrained")
DATASET_SOURCES = ("eld", "udhr", "hub", "local")
DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16")
TRANSFORMS = ("sqrt", "none")
DISTANCE_KINDS = ("hamming", "l2", "cosine", "factors")
LABEL_LEVELS = ("branch", "family")
ENGINE_KINDS = ("local", "ray")
SYNTHETIC_TRANSFORMATIONS = ("substitute", "scramble")
POOLINGS = ("mean", "mean_no_bos")
PRUNING_METHODS = ("sparsegpt", "wanda", "magnitude")
# The URIEL+ distance kinds; langgeo.evaluation.baselines maps each to its data file (a test
# checks that it knows exactly these; here so that reading params does not import numpy).
URIEL_KINDS = ("geographic", "genetic", "featural", "syntactic", "phonological", "inventory")


def _check_sha256(key: str, value: str | None) -> None:
    if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
        raise LanggeoError(f"params: '{key}' must be 64 lowercase hex digits or absent, "
                           f"got {value!r}")


def _check_template(key: str, template: str) -> None:
    example = "write columns of the language table in braces, e.g. '20231101.{wikipedia}'"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise LanggeoError(f"params: '{key}' {template!r} is not a valid template ({exc}); "
                           f"{example}") from exc
    if not all(f.isidentifier() for f in fields):
        raise LanggeoError(f"params: '{key}' {template!r} must name columns of the language "
                           f"table in braces, e.g. '20231101.{{wikipedia}}'")


def _check_address(key: str, address: str) -> None:
    if not (address in ("auto", "local") or address.startswith("ray://")):
        raise LanggeoError(f"params: '{key}' is {address!r}; use auto (a cluster started with "
                           "`ray start`), ray://<host>:<port> or local")


def _check_pattern(key: str, pattern: str) -> None:
    try:
        parse_pattern(0.5, pattern)  # the pattern alone: sparsity is a field of its own
    except LanggeoError as exc:
        raise LanggeoError(f"params: '{key}': {exc}") from exc


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from.

    ``gguf-package``: a GGUF file ``gguf_file`` from an installed PyPI package, either shipped
    inside it (a path relative to the package folder) or written by the package's
    ``assemble(path)``; checked against ``sha256`` when one is given.
    ``pretrained``: a hub id or local folder for ``from_pretrained``."""

    name: str = param(from_key=False)
    source: str = param(choices=MODEL_SOURCES)
    package: str | None = param(None, sources=("gguf-package",), required=True)
    gguf_file: str | None = param(None, sources=("gguf-package",), required=True)
    sha256: str | None = param(None, sources=("gguf-package",), check=_check_sha256)
    id: str | None = param(None, sources=("pretrained",), required=True)
    revision: str | None = param(None, sources=("pretrained",))


@dataclass(frozen=True)
class DatasetSpec:
    """Where calibration text comes from.

    ``eld``: the embedded corpus. ``udhr``: the Universal Declaration of Human Rights
    (parallel text, see :mod:`langgeo.data.udhr`). ``hub``: the Hugging Face dataset
    ``hub_id``, streamed one language at a time; the config is ``config_template`` with
    ``{column}`` fields filled from the language's row of ``resources/paper_languages.csv``
    (e.g. ``"20231101.{wikipedia}"``).
    ``local``: a folder ``path`` holding ``<code>.txt`` (documents separated by a blank line),
    ``<code>.jsonl`` or ``<code>.parquet``. Streamed documents are shuffled through a buffer of
    ``shuffle_buffer`` documents, and those shorter than ``min_chars`` characters are skipped.
    ``tokens_per_language``, where set, replaces ``calibration.tokens_per_language`` for this
    dataset (a parallel corpus cannot give every language as many tokens as a large one).
    ``romanize``: each document is put in Latin letters (:mod:`langgeo.data.romanize`, uroman)
    before tokenization, so that a language is seen without its script.
    """

    name: str = param(from_key=False)
    source: str = param(choices=DATASET_SOURCES)
    hub_id: str | None = param(None, sources=("hub",), required=True)
    config_template: str | None = param(None, sources=("hub",), required=True,
                                        check=_check_template)
    revision: str | None = param(None, sources=("hub",))  # a commit
    split: str = param("train", sources=("hub",))
    path: str | None = param(None, sources=("local",), required=True)
    text_field: str = param("text", sources=("hub", "local"))
    shuffle_buffer: int = param(10_000, sources=("hub", "local"), gt=0)
    min_chars: int = param(0, sources=("hub", "local"), ge=0)
    tokens_per_language: int | None = param(None, gt=0)
    romanize: bool = param(False)


@dataclass(frozen=True)
class Calibration:
    tokens_per_language: int = param(gt=0)
    seq_len: int = param(ge=2, why=" (BOS + one token)")


@dataclass(frozen=True)
class Signatures:
    score: str = param(choices=SCORES)
    binarization: str = param(choices=BINARIZATIONS)
    damping: float = param(gt=0)
    batch_size: int = param(gt=0)
    device: str = param(choices=DEVICES)
    dtype: str = param(choices=DTYPES)
    keep_scores: int = param(ge=0, why=" (0 keeps none)")
    store_bits: bool = param(True)
    # The dtype of each batch's XᵀX product; the sum over batches is fp32 either way.
    hessian_dtype: str = param("float32", choices=DTYPES)


@dataclass(frozen=True)
class Engine:
    """Where signature jobs run (``langgeo.pipeline.engines``); it never changes the bits, so
    it is not a dependency of the signature stage."""

    kind: str = param("local", choices=ENGINE_KINDS, required=True)
    address: str = param("auto", check=_check_address)
    cpus_per_job: int = param(1, gt=0)
    gpus_per_job: float = param(0, ge=0)  # fractions share a GPU between jobs
    max_retries: int = param(3, ge=0)


@dataclass(frozen=True)
class Distances:
    kind: str = param(choices=DISTANCE_KINDS)


@dataclass(frozen=True)
class Embedding:
    distance_transform: str = param(choices=TRANSFORMS)
    n_components: int | None = param(gt=0)


@dataclass(frozen=True)
class Evaluation:
    label_level: str = param(choices=LABEL_LEVELS)
    kmeans_seeds: int = param(gt=0)
    n_permutations: int = param(gt=0)
    n_bootstrap: int = param(ge=0, why=" (0 skips it)")
    # scikit-learn's HDBSCAN refuses smaller clusters, which would fail after all the work.
    hdbscan_min_cluster_size: int = param(ge=2, why=" (scikit-learn's HDBSCAN needs 2)")
    mantel_permutations: int = param(gt=0)
    tree_permutations: int = param(99, gt=0)    # leaf permutations of the NJ tree's GQD null
    quartet_samples: int = param(1_000_000, gt=0)  # quartets drawn above 120 languages


@dataclass(frozen=True)
class Baselines:
    uriel_kinds: tuple[str, ...] = param(choices=URIEL_KINDS)
    missing: str = param(choices=("mean", "error"))


@dataclass(frozen=True)
class Tracking:
    experiment: str = param()


@dataclass(frozen=True)
class Synthetic:
    """The synthetic ground truth (``langgeo synthetic``): variants of ``language``'s text in
    ``dataset`` (any entry of the catalog) by each transformation at each strength,
    ``tokens`` calibration tokens each."""

    language: str = param()
    dataset: str = param()
    # transformation -> its strengths (the bounds, min_len and distinct are the strengths')
    transformations: dict[str, tuple[float, ...]] = param(
        choices=SYNTHETIC_TRANSFORMATIONS, gt=0, le=1, min_len=2, distinct=True,
        what="strength")
    tokens: int = param(gt=0)
    seed: int = param(ge=0)  # seeds numpy, which refuses negative seeds


@dataclass(frozen=True)
class Pruning:
    """The cross-lingual pruning panel (``langgeo transfer``) and ``langgeo prune``."""

    model: str = param()
    dataset: str = param()
    method: str = param(choices=PRUNING_METHODS)
    sparsity: float = param(gt=0, lt=1)
    pattern: str = param(check=_check_pattern)
    damping: float = param(gt=0)
    panel: tuple[str, ...] = param(min_len=4, distinct=True, what="language code")
    calibration_tokens: int = param(gt=0)
    heldout_tokens: int = param(gt=0)
    seq_len: int = param(ge=2, why=" (BOS + one token)")
    batch_size: int = param(gt=0)
    distances: str = param()
    permutations: int = param(gt=0)
    # The forward of the perplexity measurements; pruning itself runs on fp32 weights.
    dtype: str = param("float32", choices=DTYPES)


@dataclass(frozen=True)
class Interlingua:
    """ILO on parallel text (``langgeo interlingua``): the ``dataset`` (a catalog entry of
    source ``udhr``), ``max_units`` units per language (None: all), the ``pooling`` of
    token states, ``k`` neighbours, bridge threshold ``t``, ``centre`` for the representation
    distance, units per forward pass and the seed of the controls. The section may be left
    out (these defaults); where present it names every key but ``max_units``."""

    dataset: str = param("udhr", required=True)
    max_units: int | None = param(60, gt=0)
    pooling: str = param("mean", choices=POOLINGS, required=True)
    k: int = param(5, gt=0, required=True)
    t: int = param(3, gt=0, required=True)
    centre: bool = param(True, required=True)
    batch_size: int = param(8, gt=0, required=True)
    seed: int = param(0, ge=0, required=True)
    dtype: str = param("float32", choices=DTYPES)  # the forward that gives the hidden states


@dataclass(frozen=True)
class Scripts:
    """The script experiment (``langgeo scripts``): UDHR declarations that are one language in
    two ``script`` s, or its ``orthography`` or ``region`` variants, each group of codes one
    language; compared, per model, with the references of ``dataset`` (a UDHR entry of the
    pipeline's ``datasets``, whose signatures and settings they share). ``layer_share``: the
    share of blocks a script-robust geometry keeps (those where the scripts of one language
    are closest), fixed a priori."""

    dataset: str = param()
    script: tuple[tuple[str, ...], ...] = param(what="group of declarations")
    orthography: tuple[tuple[str, ...], ...] = param(what="group of declarations")
    region: tuple[tuple[str, ...], ...] = param(what="group of declarations")
    layer_share: float = param(0.5, gt=0, le=1)


@dataclass(frozen=True)
class Finetune:
    """Fine-tuning as the transfer (``langgeo finetune-matrix``): ``model`` fine-tuned on each
    ``panel`` language's calibration text of the pruning study (``pruning.dataset``, its
    windows and held-out text), ``steps`` AdamW steps at ``lr`` (fixed a priori from a pilot
    on one language's own held-out loss), in ``dtype``; every parameter trained (``full``)
    and, in ``frozen``, the embeddings, the first ``frozen_fraction`` of the blocks, the final
    norm and the LM head frozen (the ILO reference's choice, scaled to the model's depth).
    After fine-tuning on each of ``alignment_sources``, and on the base model, ILO and
    retrieval per layer on ``alignment_units`` UDHR units per panel language (the ILO
    settings of section ``interlingua``)."""

    model: str = param()
    panel: tuple[str, ...] = param(min_len=4, distinct=True, what="language code")
    lr: float = param(gt=0, le=0.1)
    steps: int = param(gt=0, le=10_000)
    batch_size: int = param(1, gt=0)
    dtype: str = param("bfloat16", choices=DTYPES)
    eval_dtype: str = param("bfloat16", choices=DTYPES)
    modes: tuple[str, ...] = param(("full",), choices=("full", "frozen"), min_len=1,
                                   distinct=True, what="mode")
    frozen_fraction: float = param(0.28, gt=0, lt=1)
    # Sources after whose fine-tuning ILO and retrieval are measured per layer (in the panel;
    # none: no alignment), on alignment_units UDHR units per panel language.
    alignment_sources: tuple[str, ...] = param((), distinct=True, what="language code")
    alignment_units: int = param(30, gt=0)


@dataclass(frozen=True)
class Pattern:
    """What to prune: ``nm = None`` for unstructured ``sparsity``, else ``(n, m)``: keep ``n``
    of every ``m`` consecutive weights of a row."""

    sparsity: float
    nm: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        return "unstructured" if self.nm is None else f"{self.nm[0]}:{self.nm[1]}"

    @property
    def target(self) -> float:
        """The fraction of weights this pattern prunes."""
        return self.sparsity if self.nm is None else 1 - self.nm[0] / self.nm[1]


def parse_pattern(sparsity: float, pattern: str = "unstructured") -> Pattern:
    """Validate ``sparsity`` (in (0, 1)) and ``pattern`` (``unstructured`` or ``"n:m"``)."""
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) \
            or not 0 < sparsity < 1:
        raise LanggeoError(f"sparsity must be a number strictly between 0 and 1, got "
                           f"{sparsity!r}")
    if pattern == "unstructured":
        return Pattern(float(sparsity))
    match = re.fullmatch(r"(\d+):(\d+)", str(pattern))
    if not match or not 0 < int(match[1]) < int(match[2]):
        raise LanggeoError(f"pruning pattern {pattern!r}: use 'unstructured' or 'n:m' with "
                           "0 < n < m (keep n of every m weights), e.g. '2:4' or '4:8'")
    return Pattern(float(sparsity), (int(match[1]), int(match[2])))


@dataclass(frozen=True)
class Params:
    seed: int = param(ge=0)  # seeds numpy, which refuses negative seeds
    languages: tuple[str, ...] = param(min_len=1, distinct=True, what="language code")
    models: tuple[ModelSpec, ...] = param(catalog="model_catalog", min_len=1, distinct=True,
                                          what="name from 'model_catalog'")
    datasets: tuple[DatasetSpec, ...] = param(catalog="dataset_catalog", min_len=1,
                                              distinct=True, what="name from 'dataset_catalog'")
    calibration: Calibration = param()
    signatures: Signatures = param()
    distances: Distances = param()
    embedding: Embedding = param()
    evaluation: Evaluation = param()
    baselines: Baselines = param()
    tracking: Tracking = param()
    # The mapping as read: config_hash and flat_params use it, and presets merge into it.
    raw: dict[str, Any] = param(from_key=False)
    engine: Engine = param(Engine())
    synthetic: Synthetic | None = param(None)
    pruning: Pruning | None = param(None)
    interlingua: Interlingua = param(Interlingua())
    scripts: Scripts | None = param(None)
    finetune: Finetune | None = param(None)

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise LanggeoError(
            f"model {name!r} is not in params 'models' {[m.name for m in self.models]}"
        )

    def dataset(self, name: str) -> DatasetSpec:
        for d in self.datasets:
            if d.name == name:
                return d
        raise LanggeoError(
            f"dataset {name!r} is not in params 'datasets' {[d.name for d in self.datasets]}"
        )

    def pairs(self) -> list[tuple[str, str]]:
        """Every (model, dataset) name pair, models first: the signature stages' matrix."""
        return [(m.name, d.name) for m in self.models for d in self.datasets]

    def tokens(self, dataset: str) -> int:
        """Calibration tokens per language for ``dataset``: its own ``tokens_per_language``
        where set, else ``calibration.tokens_per_language``."""
        return self.dataset(dataset).tokens_per_language or self.calibration.tokens_per_language

    def synthetic_dataset(self) -> DatasetSpec:
        """The catalog entry that ``synthetic.dataset`` names (it need not be in
        ``datasets``); checked here rather than at parse time, so that params which swap the
        catalog for another keep parsing."""
        if self.synthetic is None:
            raise LanggeoError("params: no 'synthetic' section; see params.yaml in the "
                               "repository")
        name, catalog = self.synthetic.dataset, self.raw.get("dataset_catalog", {})
        if name not in catalog:
            raise LanggeoError(f"params: 'synthetic.dataset' is {name!r}, which is not in "
                               f"'dataset_catalog' {sorted(catalog)}")
        return entry(DatasetSpec, "dataset_catalog", name, catalog[name])

    def config_hash(self) -> str:
        """Short, stable hash of the whole params: names one pipeline configuration."""
        blob = json.dumps(self.raw, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _check_consistency(p: Params) -> None:
    """The rules that tie fields together, on params whose every field is valid."""
    seq_len = ("calibration.seq_len", p.calibration.seq_len)
    multiples = [("calibration.tokens_per_language", p.calibration.tokens_per_language, seq_len)]
    multiples += [(f"dataset_catalog.{d.name}.tokens_per_language", d.tokens_per_language,
                   seq_len) for d in p.datasets if d.tokens_per_language]
    if p.synthetic is not None:
        multiples.append(("synthetic.tokens", p.synthetic.tokens, seq_len))
    if p.pruning is not None:  # pruning packs its own sequences
        multiples += [(f"pruning.{key}", getattr(p.pruning, key),
                       ("pruning.seq_len", p.pruning.seq_len))
                      for key in ("calibration_tokens", "heldout_tokens")]
    for key, tokens, (unit_key, unit) in multiples:
        if tokens % unit:
            raise LanggeoError(f"params: '{key}' ({tokens}) must be a multiple of '{unit_key}' "
                               f"({unit})")

    kind = p.distances.kind
    if not p.signatures.store_bits and kind == "hamming":
        raise LanggeoError("params: 'distances.kind' hamming needs the stored bits; set "
                           "'signatures.store_bits' true or use 'distances.kind' factors")
    if kind in ("l2", "cosine") and p.signatures.keep_scores == 0:
        raise LanggeoError(f"params: 'distances.kind' {kind} needs score samples; "
                           "set 'signatures.keep_scores' > 0")

    ilo = p.interlingua
    if ilo.t > ilo.k:
        raise LanggeoError(f"params: 'interlingua.t' ({ilo.t}) exceeds 'interlingua.k' "
                           f"({ilo.k}): {ilo.k} neighbours cannot come from {ilo.t} languages")
    # Only a written section is checked: the defaults must not demand a udhr catalog entry.
    if p.raw.get("interlingua") is not None:
        entry = p.raw.get("dataset_catalog", {}).get(ilo.dataset)
        if not isinstance(entry, dict) or entry.get("source") != "udhr":
            raise LanggeoError(f"params: 'interlingua.dataset' is {ilo.dataset!r}; name an "
                               "entry of 'dataset_catalog' with source udhr (parallel text)")

    if p.scripts is not None:
        groups = [g for rung in ("script", "orthography", "region")
                  for g in getattr(p.scripts, rung)]
        bad = [list(g) for g in groups if len(set(g)) < 2 or len(set(g)) != len(g)]
        if bad:
            raise LanggeoError(f"params: 'scripts' groups {bad} must each list at least two "
                               "distinct declaration codes (one language, two texts)")
        if not p.scripts.script:
            raise LanggeoError("params: 'scripts.script' is empty; list at least one language "
                               "in two scripts, e.g. [srp_latn, srp_cyrl]")


def parse_params(raw: dict[str, Any]) -> Params:
    """Validate a params mapping (as read from YAML) and return typed params."""
    if not isinstance(raw, dict):
        raise LanggeoError("params: the file must hold a YAML mapping at top level")
    params = build(Params, "", raw, root=raw, raw=raw)
    _check_consistency(params)
    return params


def load_params(path: str | os.PathLike[str] = "params.yaml") -> Params:
    """Read and validate a params file."""
    path = Path(path)
    if not path.is_file():
        raise LanggeoError(f"params file {path} not found; run from the repository root")
    # YAML 1.2, as DVC reads and rewrites params (`dvc exp run -S`): there `no` (Norwegian)
    # is a string, where YAML 1.1 loaders such as PyYAML read it as False.
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text())
    except YAMLError as exc:
        raise LanggeoError(f"params file {path} is not valid YAML: {exc}") from exc
    return parse_params(raw)


def flat_params(params: Params) -> dict[str, str]:
    """The whole resolved params as ``dotted.key -> str`` (for MLflow)."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix.rstrip(".")] = json.dumps(value) if isinstance(value, list) else str(value)

    walk("", params.raw)
    return out
