"""Capture ingest."""
