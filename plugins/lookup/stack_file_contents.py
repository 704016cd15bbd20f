"""Lookup `stack_file_contents`: the text files under a controller directory, as {relative path: content}.

    lookup('stack_file_contents', DIR, patterns=['*.py', 'models/*.json'], exclude=['build_*'], prefix='app/x/')

Feeds the `stack_files` module, which writes a whole set in one call: code and templates copied from the
repository reach the host as one task, not one `copy` per file. Patterns are globs relative to DIR; `exclude`
drops matching base names; `prefix` is put before every key (a path under the destination). Contents are read as UTF-8 text, unchanged (no trailing-newline stripping).
"""
from __future__ import annotations

import fnmatch
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: stack_file_contents
short_description: "The text files under a controller directory, as {relative path: content}."
options:
  _terms: {description: The directory., required: true}
  patterns: {description: Globs relative to the directory., type: list, default: ["*"]}
  exclude: {description: Base-name globs to leave out., type: list, default: []}
  prefix: {description: Put before every relative path., type: str, default: ""}
"""


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        patterns = self.get_option("patterns")
        exclude = self.get_option("exclude")
        prefix = self.get_option("prefix")
        results = []
        for term in terms:
            root = Path(term)
            if not root.is_dir():
                raise AnsibleLookupError(f"stack_file_contents: {root} is not a directory")
            found = {}
            for pattern in patterns:
                for path in sorted(root.glob(pattern)):
                    if path.is_file() and not any(fnmatch.fnmatch(path.name, ex) for ex in exclude):
                        found[prefix + str(path.relative_to(root))] = path.read_text(encoding="utf-8")
            if not found:
                raise AnsibleLookupError(f"stack_file_contents: no file under {root} matches {patterns}")
            results.append(found)
        return results
