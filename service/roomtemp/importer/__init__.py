"""Bulk import of capture files (CSV, NDJSON, gzip) through the ingest rules."""
