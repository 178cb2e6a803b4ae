"""Calibration text per language: sources, deterministic sampling, and token packing.

A calibration shard is the list of documents (in sampled order) that a language's signature
is computed from. Every model tokenizes the same shard and packs the tokens into
``tokens_per_language // seq_len`` sequences, each ``[BOS] + (seq_len - 1)`` text tokens.

Sources (``dataset_catalog.<name>.source``):

- ``eld``: the embedded corpus, held in memory and shuffled per language;
- ``udhr``: the Universal Declaration of Human Rights (:mod:`langgeo.data.udhr`), parallel text:
  its paragraphs and list items in article order, not shuffled, so that every language's
  shard starts with the same content;
- ``hub``: a Hugging Face dataset with one config per language (Wikipedia, CulturaX,
  fineweb-2, ...), streamed; the config of each of our codes comes from the language table
  ``resources/paper_languages.csv``;
- ``local``: a folder of ``<code>.txt`` (documents separated by a blank line), ``<code>.jsonl``
  or ``<code>.parquet``, streamed by the same ``datasets.load_dataset`` code path as the hub.

Streamed documents are pulled lazily through a seeded shuffle buffer, only until every
model's tokenizer has enough tokens: a shard of half a million tokens never downloads a whole
Wikipedia.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import string
import zlib
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from langgeo import LanggeoError
from langgeo.data.languages import LANGUAGE_TABLE, language_table
from langgeo.data.romanize import UROMAN_VERSION, romanize_stream
from langgeo.data.udhr import udhr_declaration, udhr_units
from langgeo.params import DatasetSpec

ELD_FILE = ("tests", "data", "big-test.txt")


ELD_SHA256 = "ee31be9a610048a521f0912ab7735c3fb96e8633b997066989026286a7800efa"


# Lao lines in eld 1.0.6 are broken fragments, not sentences.
ELD_EXCLUDED = frozenset({"lo"})


# File suffix -> packaged `datasets` builder that reads it.
LOCAL_BUILDERS = {".txt": "text", ".jsonl": "json", ".parquet": "parquet"}


# One metadata request decides whether the hub answers: without network it fails at once,
# where `datasets` itself would retry for ~23 s.
HUB_TIMEOUT_S = 5.0


@lru_cache(maxsize=1)
def eld_documents() -> dict[str, tuple[str, ...]]:
    """Sentences of the ``eld`` test corpus, by ISO 639-1 code (59 languages, 1000 each).

    The file is another project's test data: its checksum is verified so that a silent
    upstream change cannot alter our results.
    """
    try:
        path = importlib.resources.files("eld").joinpath(*ELD_FILE)
        raw = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LanggeoError("the embedded corpus needs the package eld==1.0.6; run "
                           "`make install`") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ELD_SHA256:
        raise LanggeoError(f"eld corpus {path} has sha256 {digest}, expected {ELD_SHA256}; "
                           "install eld==1.0.6 as pinned in requirements.txt")
    docs: dict[str, list[str]] = {}
    for line in raw.decode("utf-8").splitlines():
        code, _, text = line.partition("\t")
        text = text.strip()
        if code and text and code not in ELD_EXCLUDED:
            docs.setdefault(code, []).append(text)
    return {code: tuple(texts) for code, texts in sorted(docs.items())}


def check_languages(languages: Sequence[str], available: Sequence[str], dataset: str) -> None:
    unknown = [c for c in languages if c not in available]
    if unknown:
        raise LanggeoError(f"language code(s) {unknown} not in dataset {dataset!r}; known codes: "
                           f"{' '.join(sorted(available))}")


def _language_rng(language: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(language.encode())])


def shuffled(documents: Sequence[str], language: str, seed: int) -> list[str]:
    """Documents in a seeded order that differs per language but not per run."""
    rng = _language_rng(language, seed)
    return [documents[i] for i in rng.permutation(len(documents))]


def _template_fields(spec: DatasetSpec) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(spec.config_template or "") if f]


def _unmapped(spec: DatasetSpec, languages: Sequence[str]) -> list[str]:
    """The languages whose hub config cannot be filled in from the language table."""
    table = language_table()
    columns = set(next(iter(table.values())))
    unknown = [f for f in _template_fields(spec) if f not in columns]
    if unknown:
        raise LanggeoError(
            f"params: 'dataset_catalog.{spec.name}.config_template' names column(s) {unknown} "
            f"that src/langgeo/{'/'.join(LANGUAGE_TABLE)} lacks; columns: {sorted(columns)}")
    # A template of `{code}` alone also works for a language without a row.
    return [lang for lang in languages
            if not all(table.get(lang, {"code": lang}).get(f) for f in _template_fields(spec))]


def _not_in_source(spec: DatasetSpec, languages: Sequence[str]) -> LanggeoError:
    columns = "/".join(_template_fields(spec))
    return LanggeoError(
        f"language(s) {list(languages)} not in source {spec.hub_id!r} (dataset {spec.name!r}): "
        f"src/langgeo/{'/'.join(LANGUAGE_TABLE)} gives no {columns} code for them; add it "
        "there if the source has the language, or drop the language(s) from 'languages'")


def hub_config(spec: DatasetSpec, language: str) -> str:
    """The config of ``spec.hub_id`` that holds ``language``.

    ``spec.config_template`` with its ``{column}`` fields filled from the language's row of
    :func:`language_table`, e.g. ``"20231101.{wikipedia}"`` -> ``"20231101.fr"``.
    """
    if _unmapped(spec, [language]):
        raise _not_in_source(spec, [language])
    return spec.config_template.format_map(language_table().get(language, {"code": language}))


def _local_folder(spec: DatasetSpec) -> Path:
    folder = Path(spec.path)
    if not folder.is_dir():
        kinds = ", ".join(f"<code>{suffix}" for suffix in LOCAL_BUILDERS)
        raise LanggeoError(f"dataset {spec.name!r}: folder {folder} not found; set "
                           f"dataset_catalog.{spec.name}.path to a folder of {kinds} files")
    return folder


def _local_file(spec: DatasetSpec, language: str) -> Path | None:
    """The one file of ``language`` in a local dataset folder, or None."""
    folder = _local_folder(spec)
    found = [folder / f"{language}{suffix}" for suffix in LOCAL_BUILDERS
             if (folder / f"{language}{suffix}").is_file()]
    if len(found) > 1:
        raise LanggeoError(f"dataset {spec.name!r}: language {language!r} has several files "
                           f"{[p.name for p in found]} in {folder}; keep one")
    return found[0] if found else None


def _local_path(spec: DatasetSpec, language: str) -> Path:
    file = _local_file(spec, language)
    if file is None:
        check_dataset(spec, [language])
    return file


def load_arguments(spec: DatasetSpec, language: str) -> dict[str, Any]:
    """Keyword arguments of ``datasets.load_dataset`` that stream ``language`` of ``spec``.

    Hub: the repository ``spec.hub_id``, config :func:`hub_config`, split ``spec.split``.
    Local: the packaged ``text`` / ``json`` / ``parquet`` builder on the language's one file,
    split ``train``; a ``.txt`` file holds one document per blank-line separated paragraph.
    """
    if spec.source == "hub":
        return {"path": spec.hub_id, "name": hub_config(spec, language), "split": spec.split,
                "revision": spec.revision, "streaming": True}
    if spec.source == "local":
        file = _local_path(spec, language)
        kwargs = {"path": LOCAL_BUILDERS[file.suffix], "data_files": [str(file)],
                  "split": "train", "streaming": True}
        if file.suffix == ".txt":
            kwargs["sample_by"] = "paragraph"
        return kwargs
    raise LanggeoError(f"dataset {spec.name!r}: source {spec.source!r} is not streamed")


@lru_cache(maxsize=None)
def _hub_answers(hub_id: str, revision: str | None) -> bool:
    """One metadata request, no retries; raises on failure, remembers success."""
    from huggingface_hub import HfApi

    HfApi().dataset_info(hub_id, revision=revision, timeout=HUB_TIMEOUT_S)
    return True


def _unreachable(spec: DatasetSpec, config: str, exc: Exception) -> LanggeoError:
    from huggingface_hub import is_offline_mode

    reason = ("HF_HUB_OFFLINE is set" if is_offline_mode() else
              f"the Hub cannot be reached ({type(exc).__name__}: {exc})")
    retry = ("With network, run with HF_HUB_OFFLINE=0." if is_offline_mode() else
             "Check the network (and HF_ENDPOINT if you use a mirror).")
    return LanggeoError(
        f"dataset {spec.name!r} streams {spec.hub_id!r} config {config!r} from the Hugging Face "
        f"Hub, but {reason}. {retry} Without network, put the text in a folder of <code>.txt, "
        f"<code>.jsonl or <code>.parquet files and set dataset_catalog.{spec.name} to "
        "{source: local, path: <folder>}")


def _check_hub(spec: DatasetSpec, config: str) -> None:
    import httpx2
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        _hub_answers(spec.hub_id, spec.revision)
    except RepositoryNotFoundError as exc:
        raise LanggeoError(f"dataset {spec.name!r}: {spec.hub_id!r} is not a dataset on the "
                           "Hugging Face Hub (or it is private: log in with `hf auth login`); "
                           f"check dataset_catalog.{spec.name}.hub_id") from exc
    except RevisionNotFoundError as exc:
        raise LanggeoError(f"dataset {spec.name!r}: {spec.hub_id!r} has no revision "
                           f"{spec.revision!r}; check dataset_catalog.{spec.name}.revision"
                           ) from exc
    except (OSError, httpx2.HTTPError) as exc:
        raise _unreachable(spec, config, exc) from exc


def available_languages(spec: DatasetSpec, languages: Sequence[str],
                        reach: bool = True) -> list[str]:
    """The languages of ``languages`` that ``spec`` holds, in order; fails before any text is
    read where the source itself cannot answer.

    A language a source lacks (no eld text, no UDHR declaration, no hub config in the
    language table, no local file) is left out here and reported by the caller: other
    (model, dataset) pairs may still cover it. For the hub, raises :class:`LanggeoError` when
    it cannot be reached (asked only with ``reach``; without, the language table decides).
    """
    if spec.source == "eld":
        have = set(eld_documents())
        return [lang for lang in languages if lang in have]
    if spec.source == "udhr":
        return [lang for lang in languages if udhr_declaration(lang) is not None]
    if spec.source == "hub":
        missing = set(_unmapped(spec, languages))
        present = [lang for lang in languages if lang not in missing]
        if present and reach:
            _check_hub(spec, hub_config(spec, present[0]))
        return present
    _local_folder(spec)
    return [lang for lang in languages if _local_file(spec, lang) is not None]


def check_dataset(spec: DatasetSpec, languages: Sequence[str]) -> None:
    """Fail before any text is read if ``spec`` cannot give every language of ``languages``.

    Raises :class:`LanggeoError` naming the languages the source lacks (eld codes, UDHR
    declarations, language table entries, local files) or, for the hub, why it cannot be
    reached.
    """
    if spec.source == "hub" and (unmapped := _unmapped(spec, languages)):
        raise _not_in_source(spec, unmapped)  # before any request to the Hub
    present = set(available_languages(spec, languages))
    missing = [lang for lang in languages if lang not in present]
    if not missing:
        return
    if spec.source == "eld":
        check_languages(missing, list(eld_documents()), spec.name)
    if spec.source == "udhr":
        from langgeo.data import udhr

        raise udhr.unknown_language(missing[0]) if len(missing) == 1 else LanggeoError(
            f"language(s) {missing} have no UDHR declaration of stage >= {udhr.MIN_STAGE} "
            f"(dataset {spec.name!r})")
    kinds = ", ".join(f"<code>{suffix}" for suffix in LOCAL_BUILDERS)
    raise LanggeoError(f"language(s) {missing} not in local dataset {spec.name!r}: "
                       f"{spec.path} has no {kinds} file for them")


def stream_documents(spec: DatasetSpec, language: str, seed: int) -> Iterator[str]:
    """Documents of ``language`` from a hub or local dataset, read lazily in a seeded order.

    The order is a ``datasets`` buffer shuffle (the shards in a random order, then a random
    pick from a buffer of ``spec.shuffle_buffer`` documents) seeded by ``seed`` and the
    language code: the same on every run over the same data (pin ``revision`` for the hub).
    Documents are stripped of surrounding whitespace; empty ones and those shorter than
    ``spec.min_chars`` characters are skipped.
    """
    import datasets
    import httpx2

    kwargs = load_arguments(spec, language)
    if spec.source == "hub":
        _check_hub(spec, kwargs["name"])
        where = f"dataset {spec.name!r} ({spec.hub_id} config {kwargs['name']!r})"
    else:
        where = f"dataset {spec.name!r} ({kwargs['data_files'][0]})"
    column = "text" if kwargs["path"] == "text" else spec.text_field
    try:
        data = datasets.load_dataset(**kwargs)
        rows = data.shuffle(generator=_language_rng(language, seed),
                            buffer_size=spec.shuffle_buffer)
        for row in rows:
            if column not in row:
                raise LanggeoError(f"{where} has no field {column!r} (fields: {sorted(row)}); "
                                   f"set dataset_catalog.{spec.name}.text_field")
            text = (row[column] or "").strip()
            if text and len(text) >= spec.min_chars:
                yield text
    except (OSError, ValueError, httpx2.HTTPError) as exc:
        if spec.source == "hub" and isinstance(exc, (ConnectionError, httpx2.TransportError)):
            raise _unreachable(spec, kwargs["name"], exc) from exc
        # An unknown config, a gated dataset without a login, a malformed file.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LanggeoError(f"{where} cannot be read: {message}") from exc


def calibration_documents(spec: DatasetSpec, language: str, seed: int) -> Iterable[str]:
    """Documents of ``language`` in the seeded order that :func:`select_documents` reads.

    ``eld``: the whole language, shuffled in memory. ``hub`` / ``local``: a lazy stream (see
    :func:`stream_documents`), read only as far as the selection needs. With
    ``spec.romanize``, each document in Latin letters (:func:`romanize_stream`), lazily too.
    """
    if spec.source == "eld":
        documents = eld_documents()
        check_languages([language], list(documents), spec.name)
        texts: Iterable[str] = shuffled(documents[language], language, seed)
    elif spec.source == "udhr":
        texts = [unit.text for unit in udhr_units(spec, language)]
    else:
        texts = stream_documents(spec, language, seed)
    return romanize_stream(texts, language) if spec.romanize else texts


def source_metadata(spec: DatasetSpec, language: str) -> dict[str, str]:
    """Where a streamed shard's documents came from, as strings for its schema metadata.

    Empty for ``eld`` unromanized, whose shards thus stay byte-identical to those written
    before.
    """
    meta = {"romanizer": f"uroman {UROMAN_VERSION}"} if spec.romanize else {}
    if spec.source == "eld":
        return meta
    if spec.source == "udhr":
        from langgeo.data import udhr

        return {**meta, "source": "udhr", "udhr_version": udhr.VERSION,
                "declaration": udhr_declaration(language)}
    meta.update({"source": spec.source, "shuffle_buffer": str(spec.shuffle_buffer),
                 "min_chars": str(spec.min_chars)})
    if spec.source == "hub":
        meta.update(hub_id=spec.hub_id, config=hub_config(spec, language), split=spec.split,
                    revision=spec.revision or "")
    else:
        meta["file"] = str(_local_path(spec, language))
    return meta
