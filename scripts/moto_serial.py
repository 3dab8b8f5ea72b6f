"""moto's server, answering one request at a time.

Usage: python scripts/moto_serial.py HOST PORT

DynamoDB applies each request atomically. moto's threaded server does not:
a TransactWriteItems that fails restores a copy of the whole table taken when
it started, so under concurrent requests a failed transaction can bring back
another transaction's half-written items or wipe out a committed one. Tests
that race creates against one table (twenty creates with one admin email)
then see items DynamoDB could never leave behind.

This runs the same WSGI application as `moto_server`, still accepting
connections on threads (HTTP keep-alive clients do not block each other), but
with one lock around each request, so every request, a transaction included,
is applied whole before the next begins, as DynamoDB does.
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serial(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # The body is read (and the response closed, as WSGI asks) inside
            # the lock: it is complete before another request may touch the
            # backends.
            response = app(environ, start_response)
            try:
                return list(response)
            finally:
                if hasattr(response, "close"):
                    response.close()

    return handle


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: moto_serial.py HOST PORT")
    host, port = argv[0], int(argv[1])
    # As moto_server does: some backends build URLs from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(
        host,
        port,
        serial(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
