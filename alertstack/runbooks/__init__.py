"""Runbooks: the Markdown pages under runbooks/, what is rendered from them, and the checks of what they tell on-call.

- `pages`: parse a page (title, sections, alerts, code blocks and the queries and commands in them) and render the
  pages to HTML (the runbooks role serves them; alerts link to them through runbook_url);
- `lint`: the checks of the pages: required sections, format, every catalogue alert named on its page, PromQL over
  existing metrics and parsed by promtool, LogQL parsed, and the shell commands (`commands`) existing in this
  deployment. `invoke lint` runs them all (`lint.lint_runbooks`);
- `commands`: the check of the shell commands (invoke tasks and options, playbooks, inventories, tags, Compose
  services, containers; no Kubernetes tooling).

A runbook page (runbooks/<slug>.md) has
- one `# ` title,
- one `## ` section per required section (lint.REQUIRED_SECTIONS; a heading matches when it starts with the name,
  so "## Triage (≤ 5 minutes)" is the Triage section),
- under `## Alerts`, one `### <AlertName>` heading per alert the page covers (the HTML anchor is the alert name),
- fenced code blocks tagged with their language: ```promql, ```logql, ```bash / ```sh.
"""
