"""Rolling averages, computed in PostgreSQL."""
