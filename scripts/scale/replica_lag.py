"""Replication delay on loopback: commit on the primary -> visible on the streaming standby.

Usage: PYTHONPATH=. .venv/bin/python scripts/scale/replica_lag.py [N]
Each sample inserts one row on the primary (committed, synchronous_commit on) and polls the
standby every millisecond until the row is there; prints min / median / p95 / max in ms.
"""

from __future__ import annotations

import statistics
import sys
import time

import psycopg

from tests.system.scale.replica import conninfo, replicated_pair


def main(samples: int) -> None:
    with replicated_pair() as pair:
        with psycopg.connect(conninfo(pair.primary_url), autocommit=True) as primary:
            primary.execute("CREATE TABLE lag_probe (n int PRIMARY KEY)")
        pair.wait_replayed()
        delays = []
        with (
            psycopg.connect(conninfo(pair.primary_url), autocommit=True) as primary,
            psycopg.connect(conninfo(pair.standby_url), autocommit=True) as standby,
        ):
            for n in range(samples):
                primary.execute("INSERT INTO lag_probe VALUES (%s)", (n,))
                committed = time.monotonic()
                while (
                    standby.execute("SELECT 1 FROM lag_probe WHERE n = %s", (n,)).fetchone() is None
                ):
                    time.sleep(0.001)
                delays.append((time.monotonic() - committed) * 1000)
        delays.sort()
        print(
            f"{samples} samples, ms: min {delays[0]:.1f} median {statistics.median(delays):.1f} "
            f"p95 {delays[int(0.95 * (samples - 1))]:.1f} max {delays[-1]:.1f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
