"""HTTP plumbing shared by the feature routers."""

#: The version prefix of every feature endpoint: this is the one place that spells it.
#: Each feature router passes it to its own APIRouter rather than app.py nesting them under one
#: prefixed router: FastAPI (0.165) includes routers lazily, and a request's `scope["route"]` is
#: then the inner route, whose template lacks the prefix; the metrics' and the access log's
#: `route` label would lose `/v1` (tests/ops/test_http_hardening.py checks the label).
API_PREFIX = "/v1"
