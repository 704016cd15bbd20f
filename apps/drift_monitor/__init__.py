"""Drift monitor: PSI of live features and predictions against the stored training reference."""
