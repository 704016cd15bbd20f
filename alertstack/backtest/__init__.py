"""Backtest the alert rules over history with a real Prometheus (issue 12): `invoke backtest`.

history.py synthesizes seeded history with labelled incidents (or reads a real Prometheus's raw series),
engine.py evaluates the rendered rule files with the Prometheus image, score.py scores the alerts against the
incidents, report.py writes backtests/<id>/ (report.md, timeline.png, results.json), run.py ties them together.
"""
