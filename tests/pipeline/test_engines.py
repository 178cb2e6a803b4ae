"""The engines that run signature jobs: Ray, on a cluster started in this process and through
Ray Client (``engine.address: ray://host:port``) against a cluster of ``ray start --head``
that the test starts, gives the same bits as the local engine; an address where nothing
listens fails in seconds with one message."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from langgeo import LanggeoError
from langgeo.pipeline.engines import connect_ray
from tests.helpers.jobs import calibrated_copy  # noqa: F401 (the fixture project)
from tests.helpers.jobs import contents, out_dir, stage

ray = pytest.importorskip("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, head: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            pytest.fail(f"`ray start --head` exited with {head.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"Ray Client port {port} not open after {timeout} s:\n{log.read_text()}")


@pytest.fixture
def ray_client_address() -> Iterator[str]:
    """A head node with its Ray Client server on a free port; yields its ray:// address.

    `ray start --block` runs in a session of its own and is stopped by its pid: on SIGTERM it
    stops the processes it started, where `ray stop` would stop every Ray on the machine."""
    # A cluster joined in this process by another test would be used instead of the client.
    ray.shutdown()
    # Short: Ray puts unix sockets under it, and their paths must stay under 108 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    client_port, gcs_port = free_port(), free_port()
    while gcs_port == client_port:
        gcs_port = free_port()
    log = temp_dir / "head.log"
    # Token authentication off, whatever this machine holds: `ray start` turns it on when
    # ~/.ray/auth_token exists (an in-process ray.init() writes one), and a driver then needs
    # RAY_AUTH_MODE=token too (docs/running.md, "Engines").
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    with open(log, "w") as out:
        head = subprocess.Popen(
            [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
             "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
             f"--ray-client-server-port={client_port}", "--num-cpus=2", "--num-gpus=0",
             "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for_port(client_port, head, log)
        yield f"ray://127.0.0.1:{client_port}"
    finally:
        ray.shutdown()
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        # Anything of the head node's that outlived it is still in its process group.
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.integration
def test_ray_engine_gives_the_same_bits_as_local(project, tmp_path, capsys):
    ray = pytest.importorskip("ray")
    assert stage(project, capsys, languages=["fr", "es", "de"])[0] == 0
    local = contents(project)
    shutil.rmtree(out_dir(project))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rc, log = stage(project, capsys, engine={"kind": "ray", "cpus_per_job": 2})
    finally:
        ray.shutdown()
    assert rc == 0 and "3 to compute on the ray engine" in log
    assert contents(project) == local


def test_unreachable_ray_cluster_is_one_message(project, capsys):
    pytest.importorskip("ray")
    rc, log = stage(project, capsys, languages=["fr"],
                    engine={"kind": "ray", "address": "ray://127.0.0.1:1"})
    assert rc == 2 and "no Ray cluster reachable at engine.address='ray://127.0.0.1:1'" in log
    assert "Traceback" not in log and not list(out_dir(project).glob("*.parquet"))


@pytest.mark.integration
def test_ray_client_gives_the_same_bits_as_local(project, ray_client_address,  # noqa: F811
                                                 capsys):
    assert stage(project, capsys, languages=["fr", "es"])[0] == 0
    local = contents(project)
    shutil.rmtree(out_dir(project))
    rc, log = stage(project, capsys,
                    engine={"kind": "ray", "address": ray_client_address, "cpus_per_job": 2})
    assert rc == 0 and "2 to compute on the ray engine" in log, log
    # Through the client, not a cluster started in this process.
    assert ray.util.client.ray.is_connected()
    assert contents(project) == local


def test_an_unreachable_ray_client_address_is_one_message_in_seconds():
    ray.shutdown()
    start = time.perf_counter()
    with pytest.raises(LanggeoError) as error:
        connect_ray("ray://127.0.0.1:1")
    elapsed = time.perf_counter() - start
    # Ray Client alone would retry for about 30 s.
    assert elapsed < 20, f"{elapsed:.1f} s"
    message = str(error.value)
    assert "engine.address='ray://127.0.0.1:1'" in message
    assert "nothing accepts connections on 127.0.0.1:1" in message
    assert "ray start --head" in message and "engine.kind to local" in message
    assert not ray.is_initialized()
    with pytest.raises(LanggeoError, match=r"'ray://127\.0\.0\.1' is not ray://<host>:<port>.*"
                                           r"10001"):
        connect_ray("ray://127.0.0.1")
