"""Plain Python data from what Ansible hands a filter (lazy containers, tagged scalars)."""
from __future__ import annotations


def plain(value):
    """Plain dicts, lists and scalars: Ansible 2.19 tags scalars with subclasses that YAML dumpers refuse."""
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value
