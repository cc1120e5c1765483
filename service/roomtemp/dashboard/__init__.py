"""The built-in dashboard: a static page at `/` that reads the public v1 API from the browser."""
