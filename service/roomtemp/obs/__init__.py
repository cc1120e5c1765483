"""Observability: structured logs and Prometheus metrics (leaf modules, no roomtemp imports)."""
