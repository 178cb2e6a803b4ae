"""The unit of work of the signature stage: one (model, dataset, language).

A job's outputs are a pure function of the prepared model folder, that language's calibration
shard, the params that affect a signature (:class:`SignatureSettings`) and the code. All of
these are hashed into the job's *fingerprint*, which every output file carries in its
metadata (``fingerprint``). A later run of the stage reuses an output folder's files for a job
only when all of the job's outputs are present, readable and carry the same fingerprint, so
adding or removing languages, or re-running after a crash, recomputes only what is missing or
out of date, while any changed input still recomputes.

To add an output to a job, name it in :meth:`SignatureJob.outputs` and write it in
:func:`compute_signature` with ``metadata`` in its Parquet schema metadata (its fingerprint is
what makes it reusable); files of the folder that no listed job names are removed.

This module does not import torch at import time: the distances stage uses its metadata
helpers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from langgeo.formats.signature_file import SignatureSettings, signature_metadata

# The version of the computation behind a job's files: bump it in any change that alters a
# single byte of a signature, factor or score file (a formula, an order of summation, a file
# layout). A version rather than a hash of the source, so that a refactor, a docstring or a
# new helper does not recompute days of paper-scale work; the tests pin the bits of every
# formula against float64 references, which is what catches a change that forgot the bump.
SIGNATURE_CODE_VERSION = 1


@dataclass(frozen=True)
class SignatureJob:
    """One (model, dataset, language). Paths are absolute so that a job can run in another
    process or on another node of a cluster (where the model folder must exist at the same
    path)."""

    model: str
    dataset: str
    language: str
    model_dir: str
    shard: str
    settings: SignatureSettings
    fingerprint: str

    def outputs(self) -> list[str]:
        """File names this job writes in the output folder."""
        names = [f"{self.language}.factors.parquet"]
        if self.settings.store_bits:
            names.append(f"{self.language}.parquet")
        if self.settings.keep_scores:
            names.append(f"{self.language}.scores.parquet")
        return names

    def metadata(self) -> dict[str, Any]:
        return {**signature_metadata(self.settings, self.model, self.dataset, self.language),
                "fingerprint": self.fingerprint}


def file_sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@lru_cache(maxsize=None)
def folder_sha256(folder: str) -> str:
    """Hash of every file below ``folder`` (relative names and contents). Cached per process:
    a prepared model does not change during a run (~2 s for 1 GB)."""
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """What of the code decides the bits: :data:`SIGNATURE_CODE_VERSION` and the versions
    of torch and transformers (their kernels round fp32 sums)."""
    from importlib.metadata import version

    return json.dumps({"signature_code": SIGNATURE_CODE_VERSION,
                       **{package: version(package) for package in ("torch", "transformers")}},
                      sort_keys=True)


def plan_jobs(settings: SignatureSettings, model: str, dataset: str, languages: list[str],
              model_dir: Path, shards: Path) -> list[SignatureJob]:
    """The jobs of one (model, dataset), one per language, with their fingerprints. The model
    folder and shards must have been checked already."""
    base = {"model": folder_sha256(str(Path(model_dir).resolve())), "code": code_version(),
            "settings": settings.record(), "names": [model, dataset]}
    jobs = []
    for lang in languages:
        shard = (Path(shards) / f"{lang}.parquet").resolve()
        blob = json.dumps({**base, "language": lang, "shard": file_sha256(shard)},
                          sort_keys=True).encode()
        jobs.append(SignatureJob(model, dataset, lang, str(Path(model_dir).resolve()),
                                 str(shard), settings, hashlib.sha256(blob).hexdigest()))
    return jobs


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint a langgeo output file carries, or None when the file is missing,
    unreadable (e.g. truncated) or carries none."""
    try:
        meta = pq.ParquetFile(path).schema_arrow.metadata or {}
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        return None
    for value in meta.values():
        try:
            record = json.loads(value)
        except ValueError:
            continue
        if isinstance(record, dict) and "fingerprint" in record:
            return record["fingerprint"]
    return None


def is_finished(job: SignatureJob, folder: Path) -> bool:
    """True when every output of ``job`` in ``folder`` carries the job's fingerprint."""
    return all(stored_fingerprint(folder / name) == job.fingerprint for name in job.outputs())


def temporaries(folder: Path) -> list[Path]:
    """Temporaries of interrupted writes in ``folder`` (``.<name>.*.tmp``, as written by
    :func:`langgeo.formats.storage.atomic_path` and :func:`staging_folder`)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(".") and
                  p.name.endswith(".tmp"))


def tidy_folder(folder: Path, jobs: list[SignatureJob]) -> tuple[int, int]:
    """Prepare an output folder for ``jobs``: remove temporaries of dead runs (also the
    whole-folder temporaries ``.<dataset>.*.tmp`` beside it, from earlier versions) and every
    file that no job names (languages no longer listed, outputs no longer kept).

    Returns ``(temporaries removed, stale files removed)``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    dead = temporaries(folder) + [p for p in temporaries(folder.parent)
                                  if p.name.startswith(f".{folder.name}.")]
    for path in dead:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    wanted = {name for job in jobs for name in job.outputs()}
    stale = [p for p in folder.iterdir() if p.name not in wanted]
    for path in stale:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return len(dead), len(stale)


def staging_folder(folder: Path, job: SignatureJob) -> Path:
    """A fresh temporary folder inside ``folder`` (same file system: renames are atomic)."""
    return Path(tempfile.mkdtemp(prefix=f".{job.language}.", suffix=".tmp", dir=folder))


def install(staging: Path, folder: Path, job: SignatureJob) -> None:
    """Move a job's outputs from ``staging`` into ``folder`` (each rename atomic), the
    signature last, then remove ``staging``. A crash in between leaves a mix that
    :func:`is_finished` rejects, so the job is simply recomputed."""
    try:
        for name in reversed(job.outputs()):
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@lru_cache(maxsize=2)
def load_job_model(model_dir: str, device: str, dtype: str):
    """Model and tokenizer, loaded once per process (a worker runs many jobs)."""
    from langgeo.method.models import load_model, load_tokenizer

    return load_model(model_dir, device, dtype), load_tokenizer(model_dir)


def compute_signature(job: SignatureJob, out_dir: Path,
                      documents: list[str] | None = None) -> int:
    """Compute one job (:func:`langgeo.method.signature.compute`) and write its outputs
    (:meth:`SignatureJob.outputs`) into ``out_dir``.

    ``documents``: the shard's text, when the caller already has it (a cluster worker may not
    see the shard's path). Returns the number of tokens run through the model.
    """
    import torch

    from langgeo.data.shards import read_shard
    from langgeo.formats.factor_file import write_factors
    from langgeo.formats.score_file import write_scores
    from langgeo.formats.signature_file import write_signature
    from langgeo.method.signature import compute

    s = job.settings
    # Seeded per job, not per process, so that a job's result does not depend on which jobs
    # ran before it in the same worker.
    torch.manual_seed(s.seed)
    model, tokenizer = load_job_model(job.model_dir, s.device, s.dtype)
    if documents is None:
        documents = read_shard(job.shard)
    metadata = job.metadata()
    signature = compute(model, tokenizer, documents, s.tokens_per_language, s.seq_len, s.score,
                        s.binarization, s.damping, s.batch_size,
                        hessian_dtype=s.hessian_dtype, bits=s.store_bits,
                        scores=bool(s.keep_scores), metadata=metadata,
                        name=f"language {job.language!r}")
    if s.store_bits:
        write_signature(out_dir / f"{job.language}.parquet", signature.bits, metadata)
    write_factors(out_dir / f"{job.language}.factors.parquet", signature.factors)
    if s.keep_scores:
        write_scores(out_dir / f"{job.language}.scores.parquet", signature.scores,
                     s.keep_scores, s.seed, metadata)
    return signature.tokens
