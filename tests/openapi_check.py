"""Checks recorded HTTP exchanges against docs/openapi.yaml.

Usage: openapi_check.py <openapi.yaml> <exchanges.json>

The exchanges file is a JSON list of
{"method", "path", "request_headers", "request_body", "status", "response_headers",
"response_body"}; bodies are JSON values (or null for none). The document is first validated
as OpenAPI 3.1 (openapi-spec-validator); then each response is validated with openapi-core:
its status must be documented for an operation matching the method and path, and its JSON
body and documented headers must match the schemas. Prints one line per exchange and a
summary; exits 1 on any failure.
"""

import json
import sys

import yaml
from jsonschema_path import SchemaPath
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate as validate_document

def body_bytes(body):
    return b"" if body is None else json.dumps(body).encode()


def documented_statuses(spec, method, path, host_url):
    """The response keys of the operation matching `method` and `path`; raises PathError."""
    found = APICallPathFinder(spec).find(method.lower(), f"{host_url}{path}")
    return set((found.operation / "responses").keys())


def check(app, spec, host_url, exchange):
    """The problems of one exchange: an empty list when it matches the document."""
    method = exchange["method"]
    path = exchange["path"]
    status = str(exchange["status"])
    try:
        statuses = documented_statuses(spec, method, path, host_url)
    except PathError as e:
        return [f"no documented operation: {e}"]
    if status not in statuses:
        return [f"status {status} is not documented (documented: {', '.join(sorted(statuses))})"]
    request_headers = exchange.get("request_headers") or {}
    request = MockRequest(
        host_url,
        method,
        path,
        headers=request_headers,
        data=body_bytes(exchange.get("request_body")),
        content_type=request_headers.get("content-type", "application/json"),
    )
    response_headers = exchange.get("response_headers") or {}
    response = MockResponse(
        body_bytes(exchange.get("response_body")),
        status_code=exchange["status"],
        headers=response_headers,
        content_type=response_headers.get("content-type", ""),
    )
    return [describe(e) for e in app.iter_response_errors(request, response)]


def describe(error):
    """An error and the schema errors behind it, on one line."""
    causes = [str(error)]
    cause = error.__cause__
    while cause is not None:
        for schema_error in getattr(cause, "schema_errors", None) or []:
            where = "/".join(str(p) for p in schema_error.absolute_path) or "(root)"
            causes.append(f"at {where}: {schema_error.message}")
        cause = cause.__cause__
    return "; ".join(c.replace("\n", " ") for c in causes)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        document = yaml.safe_load(f)
    with open(argv[2], encoding="utf-8") as f:
        exchanges = json.load(f)

    try:
        validate_document(document)
    except Exception as e:  # any validator error means the document is not valid OpenAPI
        print(f"FAIL document {argv[1]}: {e}")
        return 1
    print(f"ok   document {argv[1]} is valid OpenAPI {document['openapi']}")

    spec = SchemaPath.from_dict(document)
    app = OpenAPI(spec)
    # Recorded paths are matched as if sent to the document's first server.
    host_url = document["servers"][0]["url"]
    failures = 0
    for exchange in exchanges:
        problems = check(app, spec, host_url, exchange)
        label = f"{exchange['method']} {exchange['path']} -> {exchange['status']}"
        if problems:
            failures += 1
            for problem in problems:
                print(f"FAIL {label}: {problem}")
        else:
            print(f"ok   {label}")
    print(f"{len(exchanges)} exchanges, {len(exchanges) - failures} ok, {failures} failed")
    return 1 if failures or not exchanges else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
