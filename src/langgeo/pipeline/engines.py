"""Where signature jobs run: ``local`` (this process, one job after another, the model
loaded once) or ``ray`` (one Ray task per job on a cluster the user started, or on a local
one). Both run :func:`langgeo.pipeline.jobs.compute_signature`, so the same params give the
same bits (given the same CPU kernels and thread count, see docs/method.md, "Determinism").

Either engine installs each job's files as soon as it finishes, so a failing job never
discards the others' results; failures are collected and reported together at the end.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import socket
import tempfile
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from langgeo import LanggeoError
from langgeo.params import Engine
from langgeo.pipeline.jobs import (
    SignatureJob,
    compute_signature,
    install,
    staging_folder,
)

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run of jobs did: languages computed, tokens, and failures by language."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tokens: int = 0


# A job's outcome: (job, tokens or None, error message or None).
Outcome = tuple[SignatureJob, int | None, str | None]


def _message(exc: BaseException) -> str:
    if isinstance(exc, LanggeoError):
        return str(exc)
    # Not a user error: keep the traceback in the log, a one-line summary in the report.
    log.error("unexpected failure:\n%s", "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


def _run_local(jobs: list[SignatureJob], folder: Path) -> Iterator[Outcome]:
    for job in jobs:
        staging = staging_folder(folder, job)
        try:
            tokens = compute_signature(job, staging)
            install(staging, folder, job)
        except Exception as exc:  # one job's failure must not stop the others
            outcome = (job, None, _message(exc))
        else:
            outcome = (job, tokens, None)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        yield outcome


def _ray_job(job: SignatureJob, documents: list[str]) -> tuple[int, dict[str, bytes]]:
    """A job inside a Ray worker: its outputs come back as bytes, so workers need the model
    folder but not the output folder (no shared file system needed)."""
    with tempfile.TemporaryDirectory() as scratch:
        tokens = compute_signature(job, Path(scratch), documents)
        return tokens, {name: (Path(scratch) / name).read_bytes() for name in job.outputs()}


#: Ray Client retries a server it cannot reach for about 30 s (attempts of 5, 10 and 15 s)
#: and then says only "connection timeout"; a plain TCP connect to its port is refused at
#: once when nothing listens, and is given this long when the host does not answer.
CLIENT_PROBE_TIMEOUT_S = 5.0


def _unreachable(address: str, reason: str) -> LanggeoError:
    return LanggeoError(
        f"no Ray cluster reachable at engine.address={address!r} ({reason}). Start one with "
        "`ray start --head` (docs/running.md, \"Engines\"), use 'local' for a cluster inside this "
        "process, or set engine.kind to local")


def _check_client_address(address: str) -> None:
    """Fail in seconds, with the address and the fix, where Ray Client would retry for half a
    minute: a ``ray://`` address without a port, a missing client extra, a closed port."""
    parts = urllib.parse.urlsplit(address)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        host, port = None, None
    if not host or port is None:
        raise LanggeoError(
            f"params: engine.address={address!r} is not ray://<host>:<port>; the port is the "
            "head node's Ray Client port, 10001 unless `ray start --head "
            "--ray-client-server-port` set another")
    if importlib.util.find_spec("grpc") is None:
        raise LanggeoError(
            f"engine.address={address!r} needs the Ray Client (grpcio), which is not installed; "
            "`pip install -r requirements.txt -c requirements.lock` (ray[client]==2.60.0)")
    try:
        socket.create_connection((host, port), timeout=CLIENT_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise _unreachable(address, f"nothing accepts connections on {host}:{port}: {why}; "
                                    "is `ray start --head` running there, with its Ray Client "
                                    "port open to this machine?") from exc


def connect_ray(address: str) -> ModuleType:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:port``) or start one in
    this process (``local``); a cluster already joined in this process (e.g.
    ``ray.init(num_cpus=2)`` in a test) is used as it is. Returns the ``ray`` module."""
    try:
        import ray
    except ImportError as exc:
        raise LanggeoError("params: 'engine.kind' is ray but ray is not installed; "
                           "`pip install -r requirements.txt -c requirements.lock` "
                           "(ray[client]==2.60.0)") from exc
    if ray.is_initialized():
        return ray
    if address.startswith("ray://"):
        _check_client_address(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # ConnectionError, or a timeout, from ray's client
        # Ray Client puts the server's traceback under its first line; its last line says why.
        lines = [line for line in str(exc).splitlines() if line.strip()] or [""]
        why = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1].strip()}"
        if address.startswith("ray://"):
            # The port answered, so the likely causes are these two, which Ray Client
            # reports only as a timeout.
            why += ("; is the port the head's Ray Client port (10001 by default, not the GCS "
                    "port 6379), and if the cluster uses token authentication, are "
                    "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN set here?")
        raise _unreachable(address, f"{type(exc).__name__}: {why}") from exc
    return ray


def _run_ray(jobs: list[SignatureJob], folder: Path, engine: Engine) -> Iterator[Outcome]:
    from langgeo.data.shards import read_shard

    ray = connect_ray(engine.address)
    task = ray.remote(_ray_job).options(
        num_cpus=engine.cpus_per_job, num_gpus=engine.gpus_per_job,
        # Retries cover lost workers and nodes; a LanggeoError (bad input) is not retried.
        max_retries=engine.max_retries, retry_exceptions=False)
    pending = {task.remote(job, read_shard(job.shard)): job for job in jobs}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ready[0])
        try:
            tokens, files = ray.get(ready[0])
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            yield job, None, _message(cause if isinstance(cause, Exception) else exc)
            continue
        staging = staging_folder(folder, job)
        try:
            for name, data in files.items():
                (staging / name).write_bytes(data)
            install(staging, folder, job)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        yield job, tokens, None


def run_jobs(jobs: list[SignatureJob], folder: Path, engine: Engine,
             progress: Callable[[Outcome, float], None] | None = None) -> RunSummary:
    """Run ``jobs`` on ``engine``, installing each job's files into ``folder`` as it
    finishes. ``progress(outcome, elapsed seconds)`` is called after each job."""
    summary = RunSummary()
    if not jobs:
        return summary
    start = time.perf_counter()
    outcomes = (_run_local(jobs, folder) if engine.kind == "local"
                else _run_ray(jobs, folder, engine))
    for outcome in outcomes:
        job, tokens, error = outcome
        if error is None:
            summary.done.append(job.language)
            summary.tokens += tokens
        else:
            summary.failed[job.language] = error
        if progress is not None:
            progress(outcome, time.perf_counter() - start)
    return summary
