"""Fetch every runbook page of the catalogue from the running server; print {"pages": n, "problems": [...]} as JSON.

Usage: check_pages.py <base_url>   (run with the venv's Python: alertstack is installed there)
"""
import json
import sys
import urllib.error
import urllib.request

from alertstack.catalog import RUNBOOK_SLUGS


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def main(base):
    problems = []
    by_slug = {}
    for alert, slug in RUNBOOK_SLUGS.items():
        by_slug.setdefault(slug, []).append(alert)
    for slug, alerts in sorted(by_slug.items()):
        status, text = fetch(f"{base}/{slug}.html")
        if status != 200:
            problems.append(f"{slug}.html: HTTP {status}")
            continue
        problems += [f"{slug}.html does not name {a}" for a in alerts if a not in text]
    status, text = fetch(f"{base}/index.html")
    if status != 200:
        problems.append(f"index.html: HTTP {status}")
    else:
        problems += [f"index.html does not link {s}.html" for s in by_slug if f"{s}.html" not in text]
    status, _ = fetch(f"{base}/no-such-runbook.html")
    if status != 404:
        problems.append(f"no-such-runbook.html: HTTP {status}, expected 404")
    print(json.dumps({"pages": len(by_slug), "problems": problems}))


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/"))
