"""`python -m tests.alerts.evaluate_at URL INSTANT`: one evaluation round in its own process (the
process the fault test kills mid-round)."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from sqlalchemy.ext.asyncio import create_async_engine

from roomtemp.alerts.evaluator import evaluate_once


async def main(url: str, at: datetime) -> int:
    engine = create_async_engine(url)
    try:
        done = await evaluate_once(engine, at, "UTC")
    finally:
        await engine.dispose()
    print("done" if done.done else "skipped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], datetime.fromisoformat(sys.argv[2]))))
