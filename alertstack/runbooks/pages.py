"""Runbook pages: parse the Markdown (title, `## ` sections, the alerts under `## Alerts`, fenced code blocks and the
queries and commands in them) and render every page to a standalone HTML document."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import markdown
from markdown.extensions.toc import slugify as _default_slugify

from alertstack.paths import REPO_ROOT

RUNBOOKS_DIR = REPO_ROOT / "runbooks"
INDEX_SLUG = "index"
ALERTS_SECTION = "Alerts"
SHELL_LANGS = ("bash", "sh", "shell", "console")

_ALERT_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_FENCE_RE = re.compile(r"^```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")


@dataclass
class CodeBlock:
    lang: str
    code: str
    section: str  # the `## ` section it is in


@dataclass
class Runbook:
    slug: str
    title: str
    text: str
    sections: dict[str, str] = field(default_factory=dict)  # `## ` heading -> body text
    alerts: list[str] = field(default_factory=list)
    code_blocks: list[CodeBlock] = field(default_factory=list)
    path: Path | None = None


def _clean_heading(text: str) -> str:
    return text.strip().strip("`").strip()


def parse_runbook(text: str, slug: str, path: Path | None = None) -> Runbook:
    """Parse one page's Markdown. Headings inside fenced code blocks are ignored."""
    book = Runbook(slug=slug, title="", text=text, path=path)
    section = ""
    in_fence = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        if in_fence or line.startswith("```"):
            if section:
                book.sections[section] += line + "\n"
            continue
        match = _HEADING_RE.match(line)
        if match:
            level, heading = len(match.group(1)), _clean_heading(match.group(2))
            if level == 1 and not book.title:
                book.title = heading
                continue
            if level == 2:
                section = heading
                book.sections.setdefault(section, "")
                continue
            if level == 3 and section == ALERTS_SECTION and _ALERT_NAME_RE.match(heading):
                book.alerts.append(heading)
        if section:
            book.sections[section] += line + "\n"
    for match in _FENCE_RE.finditer(text):
        lang = match.group(1).lower()
        preceding = text[:match.start()]
        headings = re.findall(r"^##[ \t]+(.+?)[ \t]*$", preceding, re.M)
        book.code_blocks.append(CodeBlock(lang, match.group(2), _clean_heading(headings[-1]) if headings else ""))
    return book


def load_runbook(path: str | Path) -> Runbook:
    path = Path(path)
    return parse_runbook(path.read_text(encoding="utf-8"), path.stem, path)


def load_runbooks(directory: str | Path = RUNBOOKS_DIR) -> dict[str, Runbook]:
    """Every runbook page in `directory` by slug (index.md is not a runbook)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"runbooks directory {directory} does not exist")
    return {p.stem: load_runbook(p) for p in sorted(directory.glob("*.md")) if p.stem != INDEX_SLUG}

def code_blocks(page: Runbook, *langs: str) -> list[str]:
    return [b.code for b in page.code_blocks if b.lang in langs]


def _split_queries(code: str) -> list[str]:
    """A block holds one query per paragraph; `#` lines are comments."""
    queries, current = [], []
    for line in code.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if stripped:
            current.append(line.rstrip())
        elif current:
            queries.append("\n".join(current).strip())
            current = []
    return queries


def promql_queries(page: Runbook) -> list[str]:
    """Every PromQL query in ```promql blocks (queries separated by blank lines, `#` comments dropped)."""
    return [q for code in code_blocks(page, "promql") for q in _split_queries(code)]


def logql_queries(page: Runbook) -> list[str]:
    return [q for code in code_blocks(page, "logql") for q in _split_queries(code)]


def shell_commands(page: Runbook) -> list[str]:
    """Every command line in ```bash/```sh blocks: continuation lines joined, comments and prompts dropped."""
    commands = []
    for code in code_blocks(page, *SHELL_LANGS):
        pending = ""
        for raw in code.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.startswith("$ "):
                line = line[2:]
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            commands.append((pending + line).strip())
            pending = ""
        if pending.strip():
            commands.append(pending.strip())
    return commands

# --- HTML ---------------------------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }}
pre {{ background: #f4f4f4; padding: .75rem; overflow-x: auto; }}
code {{ font-family: ui-monospace, monospace; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: .25rem .5rem; }}
nav {{ font-size: .9rem; margin-bottom: 1rem; }}
</style>
</head>
<body>
<nav><a href="index.html">All runbooks</a></nav>
<main>
{body}
</main>
</body>
</html>
"""


def _slugifier(alerts: Iterable[str]):
    """Alert-name headings keep the alert name as their anchor (`#InferenceErrorRateCritical`)."""
    names = set(alerts)

    def slugify(value: str, separator: str) -> str:
        plain = value.strip().strip("`")
        return plain if plain in names else _default_slugify(value, separator)

    return slugify


def render_html(page_text: str, title: str, alerts: Iterable[str] = ()) -> str:
    """One runbook page as a standalone HTML document; `.md` links become `.html`."""
    text = re.sub(r"\]\(([A-Za-z0-9_-]+)\.md(#[^)]*)?\)", lambda m: f"]({m.group(1)}.html{m.group(2) or ''})",
                  page_text)
    body = markdown.markdown(text, extensions=["fenced_code", "tables", "toc", "sane_lists"],
                             extension_configs={"toc": {"slugify": _slugifier(alerts)}})
    return _PAGE.format(title=html.escape(title), body=body)


def render_pages(source: str | Path = RUNBOOKS_DIR) -> dict[str, str]:
    """file name (<slug>.html) -> HTML for every page in `source`, index included."""
    source = Path(source)
    pages = {}
    for path in sorted(source.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        page = parse_runbook(text, path.stem)
        pages[f"{path.stem}.html"] = render_html(text, page.title or path.stem, page.alerts)
    if "index.html" not in pages:
        raise ValueError(f"{source} has no index.md")
    return pages


def render_directory(source: str | Path, dest: str | Path) -> list[Path]:
    """Write every page's HTML into `dest` (created); returns the files written."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render_pages(source).items():
        out = dest / name
        out.write_text(content, encoding="utf-8")
        written.append(out)
    return written


def runbook_url(base_url: str, slug: str) -> str:
    """The runbook_url annotation of an alert whose page is `slug` (alertstack.catalog)."""
    return f"{base_url.rstrip('/')}/{slug}.html"
