"""Alerts on rooms (issue 21): rules, receivers, the evaluator; docs/alerts.md."""
