"""The counts the issue asks the proof tests to report (printed at the end of the run)."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
NAMES = ("fuzz_cases", "faults_injected", "captures_checked", "responses_5xx")

#: Figures measured by the proof tests (e.g. latencies under a fault), printed with the counts.
MEASURED: dict[str, float] = {}
