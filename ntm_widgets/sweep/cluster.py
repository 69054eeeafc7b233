"""Connecting a sweep to Ray: a local Ray started for it, or a cluster, checked first.

Ray's own client retries a connection for about 30 s and then raises
``ConnectionError: ray client connection timeout``, whether nothing listens at the
address or the cluster refused us for want of a token. Before handing the address to
``ray.init`` this module asks the client server once, with a short timeout, and says
which of the two it is and what to do (``ClusterError``; the CLI exits 2 with it).

Tokens: a head started by ``ray start --head`` (Ray 2.60) requires one when it finds a
token file (``~/.ray/auth_token``, which any local ``ray.init()`` of that Ray writes)
or runs with ``RAY_AUTH_MODE=token``; its client server then rejects calls without an
``authorization: Bearer TOKEN`` header. Ray's client sends the header only when its
process has ``RAY_AUTH_MODE=token`` and finds the token in ``RAY_AUTH_TOKEN``, the
file ``RAY_AUTH_TOKEN_PATH`` names, or ``~/.ray/auth_token``. We look in the same
places (an explicit ``token_file`` first) and set the mode when the cluster asks.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Optional, Tuple

RAY_INSTALL_HINT = "the Ray backend needs Ray Tune and Ray's client: pip install 'ntm-widgets[ray]'"
# Seconds to wait for the client server's answer before saying it did not answer.
ANSWER_TIMEOUT = 5.0
CONNECT_TIMEOUT = 3.0
CLIENT_SERVER_TRIES = 3
TOKEN_PLACES = "--ray-token-file / token_file, $RAY_AUTH_TOKEN, the file $RAY_AUTH_TOKEN_PATH names, ~/.ray/auth_token"


class ClusterError(Exception):
    """A cluster that cannot be used: ``kind`` is "connect", "auth" or "install"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def import_ray():
    """``ray`` with what the backend needs (Tune); ImportError with the install hint."""
    try:
        import ray
        import ray.tune  # noqa: F401  (plain `pip install ray` lacks Tune's dependencies)
    except ImportError as exc:
        raise ImportError(RAY_INSTALL_HINT) from exc
    return ray


def find_token(token_file=None) -> Tuple[Optional[str], Optional[str]]:
    """(token, where it came from) from the places Ray reads, ``token_file`` first."""
    if token_file is not None:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise ClusterError("auth", f"the Ray token file {path} cannot be read ({exc.strerror or exc})") from None
        if not token:
            raise ClusterError("auth", f"the Ray token file {path} is empty")
        return token, str(path)
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN"
    for place in (os.environ.get("RAY_AUTH_TOKEN_PATH"), str(Path.home() / ".ray" / "auth_token")):
        if place and Path(place).is_file():
            token = Path(place).read_text().strip()
            if token:
                return token, place
    return None, None


def _host_port(address: str) -> Tuple[str, int]:
    rest = address[len("ray://") :].rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(
            "connect", f"ray_address {address!r} is not ray://HOST:PORT (the client server's port, 10001 by default)"
        )
    return host.strip("[]"), int(port)


def _ask(host: str, port: int, token: Optional[str], timeout: float):
    """The client server's answer to a ping: None if fine, else the gRPC status code."""
    import grpc
    from ray.core.generated import ray_client_pb2, ray_client_pb2_grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        stub = ray_client_pb2_grpc.RayletDriverStub(channel)
        request = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
        metadata = [("authorization", f"Bearer {token}")] if token else None
        try:
            stub.ClusterInfo(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            return exc.code()
        return None
    finally:
        channel.close()


def check_client_address(address: str, token_file=None, timeout: float = ANSWER_TIMEOUT) -> Tuple[Optional[str], Optional[str]]:
    """Check a ``ray://`` address within seconds; (token, source) to use, or (None, None).

    Raises ClusterError "connect" when nothing answers there, "auth" when the cluster
    wants a token that is missing or wrong, "install" without Ray's client.
    """
    import grpc

    try:
        from ray._private.utils import get_ray_client_dependency_error
    except ImportError:  # pragma: no cover - a Ray without its client modules
        get_ray_client_dependency_error = None
    if get_ray_client_dependency_error is not None and get_ray_client_dependency_error() is not None:
        raise ClusterError("install", f"connecting to {address} needs Ray's client: pip install 'ntm-widgets[ray]'")
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise ClusterError(
            "connect",
            f"cannot connect to the Ray client server at {host}:{port} ({exc.strerror or exc}): is the head running "
            f"(`ray start --head` serves clients on port 10001), is the address right, and is the port reachable from "
            f"here (firewall, or `kubectl port-forward service/CLUSTER-head-svc 10001:10001` for KubeRay)?",
        ) from None
    token, source = find_token(token_file) if token_file is not None else (None, None)
    code = _ask(host, port, token, timeout)
    if code == grpc.StatusCode.UNAUTHENTICATED and token is None:
        token, source = find_token()
        if token is None:
            raise ClusterError(
                "auth",
                f"the Ray cluster at {host}:{port} requires an authentication token and none was found (looked at {TOKEN_PLACES}): "
                f"on the head, `ray get-auth-token` prints it (it is the head's ~/.ray/auth_token); save it in a file and pass "
                f"--ray-token-file FILE (token_file= in Python), or set RAY_AUTH_TOKEN",
            )
        code = _ask(host, port, token, timeout)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        raise ClusterError(
            "auth",
            f"the Ray cluster at {host}:{port} rejected the authentication token from {source}: it is not the head's token; "
            f"copy the one `ray get-auth-token` prints on the head into a file and pass --ray-token-file FILE",
        )
    if code is not None:
        raise ClusterError(
            "connect",
            f"{host}:{port} accepts connections but no Ray client server answered within {timeout:g} s ({code.name}): "
            f"is this the head's client server port (10001 by default), and is the head healthy (`ray status` on it)?",
        )
    return token, source


def _use_token(token: str, source: str) -> None:
    """Make this process's Ray client send ``token`` (RAY_AUTH_MODE=token)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    if source.startswith("$"):
        os.environ["RAY_AUTH_TOKEN"] = token
    else:
        os.environ["RAY_AUTH_TOKEN_PATH"] = source
        os.environ.pop("RAY_AUTH_TOKEN", None)  # Ray prefers the variable to the file
    try:
        # Ray reads the mode and the token once and caches them; read them again.
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - another Ray's internals
        pass


def start_ray(address: Optional[str] = None, num_cpus: Optional[int] = None, token_file=None) -> bool:
    """Connect to ``address`` or start a quiet local Ray; True if this call started it.

    A ``ray://HOST:PORT`` address is checked first (``check_client_address``): a
    wrong address or a missing token fails within seconds with ``ClusterError``.
    On a cluster every node's Python needs ntm-widgets (and torch) installed, since
    trials run ``ntm_widgets.sweep.run_trial``; or call ``ray.init`` yourself with a
    ``runtime_env`` that provides it, before the sweep.

    A local Ray gets no dashboard, no usage reporting (there may be no network) and
    no worker logs forwarded to the notebook, which keeps start-up shorter and output
    clean. Call it (or ``ray.init``) yourself to keep one Ray across several sweeps.
    """
    import logging

    ray = import_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is not None:
        if address.startswith("ray://"):
            token, source = check_client_address(address, token_file)
            if token is not None:
                _use_token(token, source)
        elif token_file is not None:
            token, source = find_token(token_file)
            _use_token(token, source)
        for attempt in range(CLIENT_SERVER_TRIES):
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
                break
            except ConnectionAbortedError as exc:
                # The head starts a server process per client; on a loaded head that
                # start now and then fails at once ("Starting Ray client server failed")
                # and the next one works.
                if "client server failed" not in str(exc):
                    raise
                if attempt == CLIENT_SERVER_TRIES - 1:
                    raise ClusterError(
                        "connect",
                        f"the head at {address} failed {CLIENT_SERVER_TRIES} times to start a Ray client server for this "
                        f"sweep; its logs (ray_client_server_*.err in the head's session logs) say why",
                    ) from None
                time.sleep(1.0)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    return True
