"""The HTTP ceiling: a FastAPI app with one JSON endpoint and no database, served like roomtemp."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}
