"""The uvicorn server `roomtemp serve` runs: uvicorn's own, with a drain that loses no request.

On SIGTERM uvicorn closes its listening socket at once and then every keep-alive connection it
counts as idle. Under load the event loop accepts and reads late: connections a client opened
before the signal may still sit in the kernel's accept queue, and requests sent on kept-alive
connections may sit unread in their sockets. Closing the listener resets the queued connections
and closing an "idle" connection drops its unread request: the client sees a reset for a request
it sent well before the signal. So this server keeps accepting and serving for `LINGER_SECONDS`
after the signal, then shuts down as uvicorn does (in-flight requests finish, within
GRACEFUL_SHUTDOWN_SECONDS; the linger comes on top). Live streams are ended after the linger.

With WORKERS > 1 uvicorn's supervisor starts its own server class in each worker process, so
this drain applies to the single-worker server only (the default; scale with replicas).
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from roomtemp.live.service import RUNNING

LINGER_SECONDS = 0.5


class DrainingServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.sleep(LINGER_SECONDS)  # accept and read what was sent before the signal
        # Live streams never end by themselves: end them (a `shutdown` event with a retry hint;
        # clients reconnect to another replica), or uvicorn would wait for them until
        # GRACEFUL_SHUTDOWN_SECONDS and then cut them.
        for hub in list(RUNNING):
            hub.close_all("the server is shutting down; reconnect")
        await super().shutdown(sockets)
