"""Alertmanager routing: consistency checks and the routing matrix of the policy document.

The policy lives in roles/alertmanager/defaults/main/policy.yml (variables alertmanager_route, alertmanager_receivers,
alertmanager_inhibit_rules, alertmanager_time_intervals) and the inventories; Ansible assembles alertmanager.yml from
them (roles/alertmanager/templates/alertmanager-config.j2). Everything here takes that rendered configuration as a
dict: from the role (preflight), or read back by alertstack.rendered.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from alertstack.plain import file_references

SECRETS_DIR = "/etc/alertmanager/secrets"

# Fields that would hold a secret in clear text, and the *_file field to use instead.
CLEAR_SECRETS = {
    "slack_api_url": "slack_api_url_file", "api_url": "api_url_file", "routing_key": "routing_key_file",
    "service_key": "service_key_file", "auth_password": "auth_password_file",
    "smtp_auth_password": "smtp_auth_password_file", "url": "url_file", "api_key": "api_key_file",
    "opsgenie_api_key": "opsgenie_api_key_file",
}
# api_url is Slack's secret webhook URL; Opsgenie's api_url is only the API's base address.
_SECRET_API_URL = ("global", "slack_configs")
_INTEGRATIONS = ("slack_configs", "pagerduty_configs", "email_configs", "webhook_configs", "opsgenie_configs",
                 "msteams_configs", "telegram_configs", "pushover_configs", "victorops_configs", "wechat_configs",
                 "sns_configs", "webex_configs", "discord_configs", "msteamsv2_configs", "jira_configs",
                 "rocketchat_configs", "incidentio_configs")


class RoutingError(ValueError):
    """A policy that cannot be rendered (e.g. a variable it needs is undefined) or documented."""


def secret_files(config: dict) -> list[str]:
    """Names of the files under SECRETS_DIR that the config references through *_file fields."""
    return file_references(config, SECRETS_DIR)


# ---------------------------------------------------------------------------------------------------------------
# Checks

def iter_routes(route: dict, path: str = "route") -> Iterator[tuple[str, dict, int]]:
    """(path, route, depth) of the route and all its children, depth-first in evaluation order."""
    yield path, route, path.count(".routes[")
    for i, child in enumerate(route.get("routes") or []):
        yield from iter_routes(child, f"{path}.routes[{i}]")


def _matchers(route: dict) -> list[str]:
    out = list(route.get("matchers") or [])
    out += [f'{k}="{v}"' for k, v in (route.get("match") or {}).items()]
    out += [f'{k}=~"{v}"' for k, v in (route.get("match_re") or {}).items()]
    return out


def routing_errors(config: dict) -> list[str]:
    """Problems of an alertmanager.yml (as a dict) that amtool does not report or reports late, as sentences.

    Receivers referenced by routes that do not exist, duplicate receiver names, time intervals referenced but not
    defined, inhibit rules without source or target, secrets in clear text instead of *_file fields,
    environment-variable placeholders, and time-restricted routes that end the search.
    """
    errors: list[str] = []
    if not isinstance(config, dict):
        return [f"the Alertmanager configuration must be a mapping, got {type(config).__name__}"]
    receivers = config.get("receivers") or []
    names = [r.get("name") for r in receivers if isinstance(r, dict)]
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(f"receiver {name!r} is defined {names.count(name)} times")
    defined = set(names)
    intervals = {t.get("name") for key in ("time_intervals", "mute_time_intervals")
                 for t in (config.get(key) or []) if isinstance(t, dict)}
    route = config.get("route")
    if not isinstance(route, dict):
        errors.append("route is missing")
        route = {}
    elif not route.get("receiver"):
        errors.append("route (the root) has no receiver: it is the default for unmatched alerts")
    used: set[str] = set()
    for path, r, _ in iter_routes(route):
        rec = r.get("receiver")
        if rec:
            used.add(rec)
            if rec not in defined:
                errors.append(f"{path}: receiver {rec!r} is not defined (defined: {', '.join(sorted(defined))})")
        for key in ("active_time_intervals", "mute_time_intervals"):
            for name in r.get(key) or []:
                if name not in intervals:
                    errors.append(f"{path}: {key} references {name!r}, which is not defined in time_intervals")
        if path != "route" and (r.get("active_time_intervals") or r.get("mute_time_intervals")) \
                and not r.get("continue"):
            errors.append(f"{path}: a route with active/mute_time_intervals still matches when muted and ends the "
                          f"search, so the alert is sent nowhere at those times; set continue: true and deliver "
                          f"through another route")
    for name in sorted(defined - used):
        errors.append(f"receiver {name!r} is defined but no route uses it")
    for i, rule in enumerate(config.get("inhibit_rules") or []):
        if not (rule.get("source_matchers") or rule.get("source_match") or rule.get("source_match_re")):
            errors.append(f"inhibit_rules[{i}] has no source matchers (it would let any alert inhibit)")
        if not (rule.get("target_matchers") or rule.get("target_match") or rule.get("target_match_re")):
            errors.append(f"inhibit_rules[{i}] has no target matchers (it would inhibit every alert)")
    for section, node in [("global", config.get("global") or {})] + \
            [(f"receiver {r.get('name')!r} {kind}[{j}]", c) for r in receivers if isinstance(r, dict)
             for kind in _INTEGRATIONS for j, c in enumerate(r.get(kind) or [])]:
        for key, value in (node or {}).items():
            if key == "api_url" and not section.startswith(_SECRET_API_URL) and "slack_configs" not in section:
                continue
            if key in CLEAR_SECRETS and key != "url" or (key == "url" and "webhook_configs" in section):
                errors.append(f"{section}: {key} holds a secret in clear text; use {CLEAR_SECRETS[key]} "
                              f"pointing at a file in {SECRETS_DIR}")
        basic_auth = ((node or {}).get("http_config") or {}).get("basic_auth") or {}
        if basic_auth.get("password"):
            errors.append(f"{section}: http_config.basic_auth.password holds a secret in clear text; use "
                          f"password_file pointing at a file in {SECRETS_DIR}")
    for path, value in _strings(config):
        if re.search(r"\$\{?[A-Z_][A-Z0-9_]*\}?", value) and "{{" not in value:
            errors.append(f"{path}: {value!r} looks like an environment variable; Alertmanager does not expand "
                          f"them (use a *_file field)")
    return errors


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


# ---------------------------------------------------------------------------------------------------------------
# The routing matrix of docs/alerting-policy.md

def receiver_targets(receiver: dict) -> list[str]:
    """Human-readable destinations of a receiver: Slack channels, PagerDuty, e-mail, webhooks."""
    out = []
    for c in receiver.get("slack_configs") or []:
        out.append(f"Slack {c.get('channel', '(default channel)')}")
    for _ in receiver.get("pagerduty_configs") or []:
        out.append("PagerDuty (Events v2)")
    for c in receiver.get("email_configs") or []:
        out.append(f"e-mail {c.get('to')}")
    for c in receiver.get("webhook_configs") or []:
        name = (c.get("url_file") or c.get("url") or "").rsplit("/", 1)[-1]
        auth = " with basic auth" if (c.get("http_config") or {}).get("basic_auth") else ""
        out.append(f"webhook ({name}){auth}")
    for c in receiver.get("opsgenie_configs") or []:
        who = ", ".join(f"{r.get('type')} {r.get('name') or r.get('username') or r.get('id')}"
                        for r in c.get("responders") or [])
        out.append(f"Opsgenie ({who or 'no responders'})")
    return out


def routing_matrix(config: dict) -> str:
    """Markdown table of the routing tree in evaluation order: what each route matches, where it delivers,
    whether the search continues, and when it is active. Generated from the config, so the document cannot drift.
    """
    receivers = {r["name"]: r for r in config.get("receivers") or []}
    lines = ["| # | matches | receiver | delivers to | then | when |",
             "|---|---|---|---|---|---|"]
    for path, route, _ in iter_routes(config["route"]):
        lines.append(_row(_route_cells(path, route, receivers)))
    return "\n".join(lines) + "\n"


def _route_cells(path: str, route: dict, receivers: dict[str, dict]) -> list[str]:
    """[number, matches, receiver, delivers to, then, when] of one route of the tree."""
    if path == "route":
        match = "anything no route below matches (default)"
    else:
        match = ", ".join(f"`{m}`" for m in _matchers(route)) or "everything"
    rec = route.get("receiver", "(inherited)")
    targets = "; ".join(receiver_targets(receivers.get(rec, {}))) or "-"
    then = "-" if path == "route" else ("continue" if route.get("continue") else "stop")
    when = []
    if route.get("active_time_intervals"):
        when.append("only during " + ", ".join(route["active_time_intervals"]))
    if route.get("mute_time_intervals"):
        when.append("muted during " + ", ".join(route["mute_time_intervals"]))
    number = "root" if path == "route" else ".".join(re.findall(r"\[(\d+)\]", path))
    return [number, match, rec, targets, then, "; ".join(when) or "always"]


def platform_routes(configs: dict[str, dict], base: dict) -> str:
    """Markdown table of the routes each environment's alertmanager.yml (as `invoke render` wrote it) has beyond
    the role's policy `base` (the incident platforms, and any receiver an inventory adds), in evaluation order."""
    known = {r["name"] for r in base.get("receivers") or []}
    lines = ["| environment | # | matches | receiver | delivers to | then |", "|---|---|---|---|---|---|"]
    for env, config in configs.items():
        receivers = {r["name"]: r for r in config.get("receivers") or []}
        rows = [_route_cells(path, route, receivers)[:5] for path, route, _ in iter_routes(config["route"])
                if path != "route" and route.get("receiver") not in known]
        for cells in rows or [["-", "none: the role's policy only", "-", "-", "-"]]:
            lines.append(_row([env, *cells]))
    return "\n".join(lines) + "\n"


def _row(cells: list[str]) -> str:
    """A Markdown table row; `|` inside a cell (regex alternations) is escaped."""
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def inhibition_table(config: dict) -> str:
    """Markdown table of the inhibit rules."""
    lines = ["| source (firing) | suppresses | when equal |", "|---|---|---|"]
    for rule in config.get("inhibit_rules") or []:
        src = ", ".join(f"`{m}`" for m in rule.get("source_matchers") or [])
        tgt = ", ".join(f"`{m}`" for m in rule.get("target_matchers") or [])
        lines.append(_row([src, tgt, ", ".join(rule.get("equal") or []) or "-"]))
    return "\n".join(lines) + "\n"


def update_document(text: str, config: dict, environments: dict[str, dict] | None = None) -> str:
    """`text` (docs/alerting-policy.md) with its generated blocks (routing-matrix, inhibitions) replaced from config
    (the role's policy), and with `environments` ({env: its rendered alertmanager.yml}) the block
    incident-platforms (platform_routes).

    A block is `<!-- BEGIN name (comment) -->` ... `<!-- END name -->`; the tests compare them with the configs.
    """
    blocks = {"routing-matrix": routing_matrix(config), "inhibitions": inhibition_table(config)}
    if environments is not None:
        blocks["incident-platforms"] = platform_routes(environments, config)
    for name, body in blocks.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} .*?-->\n)(.*?)(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            raise RoutingError(f"the document has no block <!-- BEGIN {name} ... --> ... <!-- END {name} -->")
        text = pattern.sub(lambda m: m.group(1) + body + m.group(3), text)
    return text
