"""What every command the package runs to completion returns: its exit status, and whether it succeeded."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Finished:
    """A finished command; subclasses add what they keep of its output."""
    returncode: int

    @property
    def ok(self) -> bool:
        return self.returncode == 0
