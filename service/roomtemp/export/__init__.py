"""Raw capture export: keyset-paginated pages over HTTP, CSV/NDJSON streams, the CLI."""
