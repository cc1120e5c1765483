"""The sensor registry: devices, where they are over time, unknown keys, fleet health."""
