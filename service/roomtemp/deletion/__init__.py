"""Deletes with rules: buildings, rooms, sensor types, captures over a range; the audit."""
