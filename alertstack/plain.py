"""Plain Python data from what Ansible hands a filter (lazy containers, tagged scalars), and walks over it."""
from __future__ import annotations

from collections.abc import Iterator, Mapping


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


def strings(value, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every string inside nested mappings and lists; paths read `.key[index].key`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from strings(v, f"{path}[{i}]")


def file_references(value, directory: str) -> list[str]:
    """Names of the files under `directory` that a config references through its *_file fields, sorted."""
    prefix = directory.rstrip("/") + "/"
    found = set()

    def walk(node):
        if isinstance(node, Mapping):
            for key, item in node.items():
                if str(key).endswith("_file") and isinstance(item, str) and item.startswith(prefix):
                    found.add(item[len(prefix):])
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(value)
    return sorted(found)
