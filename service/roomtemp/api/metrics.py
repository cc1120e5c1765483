"""GET /metrics: Prometheus text exposition (all workers' values when WORKERS > 1)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from roomtemp.obs.metrics import Metrics

router = APIRouter(tags=["ops"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus metrics (open like the probes; restrict it with a NetworkPolicy)."""
    registry: Metrics = request.app.state.metrics
    body, content_type = registry.exposition()
    return Response(body, media_type=content_type)
