"""Shared pieces of the data-lifecycle commands (import, export, maintain, simulate)."""
