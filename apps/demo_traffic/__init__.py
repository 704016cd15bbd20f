"""Steady user traffic for the demo inference gateway (the users a production gateway always has)."""
