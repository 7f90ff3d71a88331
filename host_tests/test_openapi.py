"""docs/openapi.yaml is the API's contract: a valid OpenAPI 3.1 document (openapi-spec-validator)
naming every route the logger's web app registers and nothing else, served at /api/openapi.yaml."""

import os
import re

import pytest
from conftest import ROOT, firmware_app, require_module
from test_web_api import Sim, _logged_in

SPEC = os.path.join(ROOT, "docs", "openapi.yaml")
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _spec():
    yaml = require_module("yaml")
    with open(SPEC) as f:
        return yaml.safe_load(f)


def registered(run_dir, pty_pair):
    """(METHOD, path) of every route of the real app's microdot url_map, ``<x>`` written ``{x}``."""
    app = firmware_app(run_dir, pty_pair)
    out = set()
    for methods, pattern, *_ in app.url_map:
        path = re.sub(r"<(?:[^:>]*:)?([^>]*)>", r"{\1}", pattern.url_pattern)
        out.update((m, path) for m in methods)
    return out


def test_the_document_is_valid_openapi_3_1():
    validator = require_module("openapi_spec_validator")
    spec = _spec()
    assert spec["openapi"].startswith("3.1")
    validator.validate(spec)  # raises on an invalid document


def test_every_registered_route_is_described_and_nothing_else(tmp_path, pty_pair):
    spec = _spec()
    described = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in _METHODS}
    routes = registered(tmp_path / "routes", pty_pair)
    assert ("GET", "/metrics") in routes and ("POST", "/api/upgrade") in routes, routes
    assert routes - described == set(), "registered, not in docs/openapi.yaml"
    assert described - routes == set(), "in docs/openapi.yaml, not registered"


@pytest.fixture
def sim(tmp_path):
    s = Sim(tmp_path)
    yield s
    s.stop()


def test_the_logger_serves_it(sim):
    assert sim.req("GET", "/api/openapi.yaml")[0] == 401  # behind the session like the API
    cookie = _logged_in(sim)
    status, headers, body = sim.req("GET", "/api/openapi.yaml", cookie=cookie)
    assert status == 200 and headers["Content-Type"] == "application/yaml", headers
    with open(SPEC) as f:
        assert body == f.read()
