"""Live updates: writes announce, each API replica listens and pushes Server-Sent Events."""
