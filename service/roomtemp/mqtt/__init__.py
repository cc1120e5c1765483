"""The MQTT bridge: subscribes to a broker and stores what arrives through capture ingest."""
