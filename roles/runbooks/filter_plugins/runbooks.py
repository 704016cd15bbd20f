"""Jinja filters of the runbooks role: thin wrappers over alertstack.runbooks (rendering and page checks)."""
from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from ansible.errors import AnsibleFilterError  # noqa: E402

from alertstack import runbooks  # noqa: E402


def _source(source_dir) -> Path:
    return Path(source_dir) if source_dir else runbooks.RUNBOOKS_DIR


def html_pages(source_dir=""):
    """<slug>.html -> HTML of every page (index included) under `source_dir` (empty: the repository's runbooks/)."""
    try:
        return runbooks.render_pages(_source(source_dir))
    except (OSError, ValueError) as exc:
        raise AnsibleFilterError(f"runbooks: cannot render {_source(source_dir)}: {exc}") from exc


def problems(source_dir=""):
    """Pages missing a required section, and catalogue alerts without a page naming them; [] when all is well."""
    from alertstack.catalog import RUNBOOK_SLUGS

    try:
        pages = runbooks.load_runbooks(_source(source_dir))
    except OSError as exc:
        return [str(exc)]
    found = [f"{slug}.md lacks {', '.join(missing)}" for slug, page in pages.items()
             if (missing := runbooks.missing_sections(page))]
    return found + runbooks.coverage_problems(pages, RUNBOOK_SLUGS)


class FilterModule:
    def filters(self):
        return {"runbooks_html_pages": html_pages, "runbooks_problems": problems}
