"""Typed, validated view of ``params.yaml``: malformed params fail here, before any work."""

from __future__ import annotations

import hashlib
import json
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from langgeo import LanggeoError

SCORES = ("sparsegpt", "obs", "wanda", "magnitude")
BINARIZATIONS = ("per_matrix", "global")
MODEL_SOURCES = ("gguf-package", "pretrained")
DATASET_SOURCES = ("eld", "hub", "local")
DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16")
TRANSFORMS = ("sqrt", "none")
DISTANCE_KINDS = ("hamming", "l2", "cosine")
LABEL_LEVELS = ("branch", "family")
SYNTHETIC_TRANSFORMATIONS = ("substitute", "scramble")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from. ``gguf-package``: a PyPI package with ``assemble(path)``
    that writes ``gguf_file``; ``pretrained``: a hub id or local folder for ``from_pretrained``."""

    name: str
    source: str
    package: str | None = None
    gguf_file: str | None = None
    id: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """Where calibration text comes from.

    ``eld``: the embedded corpus. ``hub``: the Hugging Face dataset ``hub_id``, streamed one
    language at a time; the config is ``config_template`` with ``{column}`` fields filled from
    the language's row of ``resources/paper_languages.csv`` (e.g. ``"20231101.{wikipedia}"``).
    ``local``: a folder ``path`` holding ``<code>.txt`` (documents separated by a blank line),
    ``<code>.jsonl`` or ``<code>.parquet``. Streamed documents are shuffled through a buffer of
    ``shuffle_buffer`` documents, and those shorter than ``min_chars`` characters are skipped.
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
    synthetic: Synthetic | None = None

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


def _optional(section: dict[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    return _get(section, key, where, kind) if key in section else default


# Keys each dataset source understands; anything else is most likely a typo.
_DATASET_KEYS = {
    "eld": {"source"},
    "hub": {"source", "hub_id", "config_template", "revision", "split", "text_field",
            "shuffle_buffer", "min_chars"},
    "local": {"source", "path", "text_field", "shuffle_buffer", "min_chars"},
}


def _dataset(name: str, entry: Any) -> DatasetSpec:
    where = f"dataset_catalog.{name}."
    source = _choice(entry, "source", where, DATASET_SOURCES)
    unknown = sorted(set(entry) - _DATASET_KEYS[source])
    if unknown:
        raise LanggeoError(f"params: '{where[:-1]}' has unknown key(s) {unknown} for source "
                           f"{source!r}; allowed: {sorted(_DATASET_KEYS[source])}")
    if source == "eld":
        return DatasetSpec(name, source)
    min_chars = _optional(entry, "min_chars", where, int, DatasetSpec.min_chars)
    if min_chars < 0:
        raise LanggeoError(f"params: '{where}min_chars' must be >= 0, got {min_chars}")
    shuffle_buffer = (_positive(entry, "shuffle_buffer", where) if "shuffle_buffer" in entry
                      else DatasetSpec.shuffle_buffer)
    common = dict(text_field=_optional(entry, "text_field", where, str, DatasetSpec.text_field),
                  shuffle_buffer=shuffle_buffer, min_chars=min_chars)
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
        if source == "gguf-package":
            models.append(ModelSpec(name, source, package=_get(entry, "package", where, str),
                                    gguf_file=_get(entry, "gguf_file", where, str)))
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
    )
    if signatures.keep_scores < 0:
        raise LanggeoError("params: 'signatures.keep_scores' must be >= 0 (0 keeps none)")

    distances = Distances(_choice(_get(raw, "distances", "", dict), "kind", "distances.",
                                  DISTANCE_KINDS))
    if distances.kind != "hamming" and signatures.keep_scores == 0:
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
                  baselines=baselines, tracking=tracking, raw=raw,
                  synthetic=_synthetic(raw, calibration.seq_len))


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

