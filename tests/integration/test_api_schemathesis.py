"""Property-based run of the API's own OpenAPI spec: no input, valid or not, makes it fail with a 5xx.

The API runs as a uvicorn child process with real Kafka behind it (scratch topics), so
accepted examples really are produced and acknowledged. Schemathesis' pytest plugin
(`from_fixture`) does not work with pytest 9 yet, so each operation's Hypothesis strategy
is driven directly; the checks are schemathesis' defaults (no 5xx, documented status
codes, content types and response schemas, invalid data refused).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from pinpipe.api import harness
from pinpipe.api.app import create_app
from pinpipe.api.settings import ApiSettings

pytestmark = pytest.mark.integration

# Collected from the app itself, so a new route is fuzzed without editing this list; only
# operations that take input can be sent invalid data.
_PATHS = create_app().openapi()["paths"]
CASES = [(method.upper(), path, mode) for path, item in _PATHS.items() for method, spec in item.items()
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode == GenerationMode.POSITIVE or "requestBody" in spec or spec.get("parameters")]


@pytest.fixture(scope="module")
def api_url(local_stack):
    with harness.serving(ApiSettings(produce_timeout_s=5)) as served:
        yield served.url


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_no_input_makes_the_api_fail(api_url, method, path, mode):
    operation = schemathesis.openapi.from_url(f"{api_url}/openapi.json")[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate()

    check()
