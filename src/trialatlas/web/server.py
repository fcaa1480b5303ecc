"""How `trialatlas serve` runs the site: uvicorn, on a listening socket bound here.

uvicorn binds its own socket for `--workers N` (N > 1) with the protocol left at 0; accepted
connections inherit it, and asyncio only sets TCP_NODELAY on sockets that say they are TCP.
Nagle's algorithm then holds back each keep-alive response after the first until the
client's delayed ACK, some 40 ms on Linux (uvicorn issue #3149). A socket created with
IPPROTO_TCP named avoids that for any worker count.
"""

from __future__ import annotations

import os
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from trialatlas.store import DATABASE_ENV

APP = "trialatlas.web.app:create_app"


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) whose accepted connections get TCP_NODELAY."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)  # worker processes serve on it
    return listener


def serve(database: str, host: str, port: int, workers: int) -> None:
    """Serve the app over `database` until interrupted; OSError if it cannot listen."""
    os.environ[DATABASE_ENV] = database  # each worker builds the app from the environment
    config = uvicorn.Config(
        APP, factory=True, host=host, port=port, workers=workers, log_level="warning"
    )
    listener = listening_socket(host, port)
    if workers > 1:
        Multiprocess(config, sockets=[listener]).run()
    else:
        uvicorn.Server(config).run(sockets=[listener])
