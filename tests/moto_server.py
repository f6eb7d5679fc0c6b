"""Serves moto's DynamoDB on 127.0.0.1 for the test suite, one request at a time.

moto's own server handles requests in parallel threads without making a conditional write
atomic, so two concurrent claims on one item can both succeed; DynamoDB applies writes to an
item one at a time. Serialising the requests restores that guarantee, which the tests rely on.
Usage: python3 tests/moto_server.py PORT
"""

import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

backend = DomainDispatcherApplication(create_backend_app)
one_at_a_time = threading.Lock()


def app(environ, start_response):
    with one_at_a_time:
        return list(backend(environ, start_response))


if __name__ == "__main__":
    run_simple(
        "127.0.0.1",
        int(sys.argv[1]),
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )
