"""Reaching a Dask scheduler without hanging: a quick TCP probe and a client connection given
up after its timeout (used by :class:`~lstm_backtrader.models.infra.executor.DaskExecutor`)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from lstm_backtrader.models.infra.errors import InputError

__all__ = ["connect_client", "probe_scheduler"]


def probe_scheduler(address: str, timeout: float) -> str | None:
    """Why a TCP scheduler address cannot be reached (None: it answers, or not a TCP address).

    A refused connection fails at once instead of after the client's whole timeout; a
    malformed address raises :class:`InputError`.
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return None
        host, port = parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad Dask scheduler address {address!r}: {exc}") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def connect_client(client_cls: Any, address: str, timeout: float) -> Any:
    """``client_cls(address, timeout=timeout)``, given up after ``timeout`` + 2 s.

    ``distributed.Client`` bounds the TCP connection by ``timeout`` but not the handshake that
    follows: a service on that port that never answers (e.g. an HTTP server) would block it
    forever. The connection is made in a daemon thread; one still pending at the deadline is
    abandoned (closed if it ever completes) and ``TimeoutError`` is raised.
    """
    lock = threading.Lock()
    box: dict[str, Any] = {}

    def attempt() -> None:
        try:
            client = client_cls(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:
            box["error"] = exc
            return
        with lock:
            if box.get("abandoned"):
                client.close()
            else:
                box["client"] = client

    thread = threading.Thread(target=attempt, name="dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2.0)
    with lock:
        if "client" in box:
            return box["client"]
        if "error" in box:
            raise box["error"]
        box["abandoned"] = True
    raise TimeoutError(f"no answer from {address} within {timeout:g} s")
