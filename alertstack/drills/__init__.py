"""Incident drills: scenarios, the runner, predicted MTTD bounds, the timeline and the incident report."""
