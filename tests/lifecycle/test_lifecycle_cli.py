"""The lifecycle subcommands are wired into `roomtemp` and refuse bad arguments clearly."""

from __future__ import annotations

import pytest

from roomtemp.__main__ import main


@pytest.mark.parametrize("command", ["import", "export", "maintain", "simulate"])
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: roomtemp {command}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["import", "f.csv", "--chunk-size", "0"], "must be between 1 and 1000000"),
        (["simulate", "--interval", "5 minutes"], "duration must be a whole number"),
        (["export"], "--building"),
    ],
)
def test_bad_arguments(args: list[str], complaint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    assert complaint in capsys.readouterr().err


def test_without_a_database(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_HOST", raising=False)
    monkeypatch.chdir("/")  # no .env
    assert main(["maintain"]) == 2
    assert "no database configured" in caplog.text
