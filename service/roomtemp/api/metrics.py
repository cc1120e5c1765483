"""GET /metrics: Prometheus text exposition (all workers' values when WORKERS > 1)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from roomtemp.api.deps import State

router = APIRouter(tags=["ops"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(state: State) -> Response:
    """Prometheus metrics (open like the probes; restrict it with a NetworkPolicy)."""
    body, content_type = state.metrics.exposition()
    return Response(body, media_type=content_type)
