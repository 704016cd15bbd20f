"""Incident drills: scenarios, the runner, predicted MTTD bounds and the timeline."""
