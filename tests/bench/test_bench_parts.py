"""Pieces of the benchmark checked against independent references: CPU accounting of a process
tree against the child's own account, and the bare references' statements against the service's."""

from __future__ import annotations

import os
import subprocess
import sys

from bench import cpu, trivial_app

BURN = "import time\nwhile time.process_time() < 0.3: pass\nprint(time.process_time())"


def test_tree_cpu_counts_a_child_that_ended() -> None:
    before = cpu.tree_ms(os.getpid())
    out = subprocess.run([sys.executable, "-c", BURN], capture_output=True, text=True, check=True)
    after = cpu.tree_ms(os.getpid())
    assert before is not None
    assert after is not None
    child_ms = float(out.stdout) * 1000  # its own utime + stime
    tick = 1000 / os.sysconf("SC_CLK_TCK")
    # the child's CPU reached this process's cumulative fields; this process's own CPU adds
    assert after - before >= child_ms - 2 * tick


def test_tree_cpu_of_a_gone_process_is_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert cpu.tree_ms(proc.pid) is None
    assert cpu.parent_of(os.getpid()) == os.getppid()


def test_series_reference_picks_the_services_statement() -> None:
    from datetime import timedelta

    from roomtemp.average import queries
    from roomtemp.db.driver import psycopg_sql

    q, h = timedelta(minutes=15), timedelta(hours=1)
    assert trivial_app.series_statement(q, q) == psycopg_sql(queries.ROOM_SERIES.bucket[q])
    assert trivial_app.series_statement(q, h) == psycopg_sql(queries.ROOM_SERIES.rollup[q])
    m = timedelta(minutes=1)
    assert trivial_app.series_statement(m, q) == psycopg_sql(queries.ROOM_SERIES.raw)
