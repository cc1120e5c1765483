"""Rollups: sum, count, min and max of captures per room, sensor type and time bucket."""
