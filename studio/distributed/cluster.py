"""Connecting to a Ray cluster for one piece of work, and disconnecting after it.

`--ray auto` joins the cluster this machine already belongs to (`ray start`, or $RAY_ADDRESS) and starts a
private local one when there is none; `--ray local` always starts a local one; anything else is a cluster
address (`HOST:PORT` of a head node, or `ray://HOST:10001` for Ray Client). A cluster this process started
is shut down again when the work ends, so nothing is left running.
"""
from __future__ import annotations

import importlib.util
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from studio.errors import StudioError, clipped

RAY_MISSING = "Ray is not installed: install the extra with pip install 'latent-studio[ray]'"
LOCAL_OBJECT_STORE_MB = 300  # frames are small and stream out as they finish: the store needs little room
ADDRESS_HELP = ("auto (this machine's cluster, else a local one), local, or a head node's HOST:PORT / "
                "ray://HOST:10001")


class ClusterError(StudioError):
    """The cluster cannot be reached, or work on it failed (the message names the worker and the cause)."""


def ray_available() -> bool:
    """Whether the `ray` extra is installed (checked without importing it: that takes seconds)."""
    return importlib.util.find_spec("ray") is not None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(RAY_MISSING) from None
    return ray


@dataclass(frozen=True)
class ClusterInfo:
    """What the work is spread over: enough to size chunks and to know whether workers share our disk."""

    address: str
    started_here: bool
    nodes: int
    cpus: float
    gpus: float
    other_machines: bool   # some node runs elsewhere: models travel through the object store, not by path
    owned: bool = True     # this process initialised Ray for the work (and shuts it down after)

    @property
    def workers(self) -> int:
        """Tasks that run at once: one per GPU where the cluster has GPUs, else one per CPU."""
        return max(1, int(self.gpus or self.cpus))

    def describe(self) -> str:
        where = "a local Ray cluster" if self.started_here else f"the Ray cluster at {self.address}"
        gpus = f", {self.gpus:g} GPUs" if self.gpus else ""
        nodes = f"{self.nodes} node{'s' * (self.nodes != 1)}"
        return f"{where} ({nodes}, {self.cpus:g} CPUs{gpus})"


@contextmanager
def connected(address: str = "auto", *, num_cpus: int | None = None,
              object_store_mb: int = LOCAL_OBJECT_STORE_MB) -> Iterator[ClusterInfo]:
    """Ray initialised for the block: joined or started per `address` (see the module docstring), and left
    as it was found afterwards (an already initialised Ray, e.g. a test's cluster, is used and kept).
    `num_cpus` and `object_store_mb` size a cluster started here."""
    info = connect(address, num_cpus=num_cpus, object_store_mb=object_store_mb)
    try:
        yield info
    finally:
        disconnect(info)


def connect(address: str = "auto", *, num_cpus: int | None = None,
            object_store_mb: int = LOCAL_OBJECT_STORE_MB) -> ClusterInfo:
    """`connected` without the block (a job that connects in one step and disconnects in another): pair it
    with `disconnect`."""
    ray = import_ray()
    if ray.is_initialized():
        return describe(ray, ray.get_runtime_context().gcs_address, started_here=False, owned=False)
    address = (address or "auto").strip()
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    started = False
    try:
        if address == "local":
            started = _start_local(ray, num_cpus, object_store_mb, quiet)
        elif address == "auto":
            try:
                ray.init(address="auto", **quiet)
            except ConnectionError:  # no cluster on this machine: a private one for this work
                started = _start_local(ray, num_cpus, object_store_mb, quiet)
        else:
            _reachable(address)
            ray.init(address=address, **quiet)
    except ClusterError:
        raise
    except Exception as exc:  # ConnectionError, a timeout, a version mismatch, a bad address
        why = clipped(str(exc), 300)
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {why}") from None
    try:
        return describe(ray, "local" if started else address, started_here=started, owned=True)
    except BaseException:
        ray.shutdown()
        raise


def disconnect(info: ClusterInfo) -> None:
    """Leave the cluster `connect` joined (a local one it started stops), unless Ray was already up."""
    if info.owned:
        import ray

        ray.shutdown()


def check_address(address: str) -> tuple[str, int]:
    """(host, port) of a cluster address, or a ClusterError saying what an address looks like."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ClusterError(f"--ray {address!r} is not a cluster address: use {ADDRESS_HELP}")
    return host, int(port)


def _reachable(address: str, timeout_s: float = 5.0) -> None:
    """ClusterError at once when nothing listens at `address` (Ray itself retries a wrong one for minutes)."""
    import socket

    host, port = check_address(address)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: nothing answers there "
                           f"({exc.strerror or exc}); is `ray start --head` running on {host}?") from None


def _start_local(ray: Any, num_cpus: int | None, object_store_mb: int, quiet: dict[str, Any]) -> bool:
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
             object_store_memory=object_store_mb << 20, **quiet)
    return True


def describe(ray: Any, address: str, started_here: bool, owned: bool) -> ClusterInfo:
    res = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    here = ray.util.get_node_ip_address()
    others = any(n.get("NodeManagerAddress") != here for n in nodes)
    return ClusterInfo(address, started_here, len(nodes), float(res.get("CPU", 0)), float(res.get("GPU", 0)),
                       others, owned)


def worker_name() -> str:
    """'worker 10.0.0.7 pid 4242': which process on which node, for messages about a failure there."""
    try:
        import ray

        node = ray.util.get_node_ip_address()
    except Exception:  # outside Ray (a unit test calling a task body directly)
        import socket

        node = socket.gethostname()
    return f"Ray worker {node} pid {os.getpid()}"
