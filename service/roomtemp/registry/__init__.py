"""Registry of buildings, rooms and sensor types."""
