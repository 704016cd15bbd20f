"""Strict format checks for the Grafana, Loki and Promtail files (none of these programs can run here).

Every check returns a list of problems, each naming the file or object and what is wrong; [] means OK.
PromQL is not parsed here: `promql_expressions` collects every PromQL expression (dashboard variables substituted)
and `check_promql` runs them through the real promtool (alertstack.tools, needs Docker).
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from alertstack.grafana.datasources import EXPRESSION_UID
from alertstack.logs import logql
from alertstack.plain import strings
from alertstack.vocabulary import DURATION_RE, SEVERITIES, TEAMS

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DATASOURCE_TYPES = {"prometheus", "loki", "alertmanager"}
PANEL_TYPES = {"row", "timeseries", "stat", "gauge", "bargauge", "table", "text", "logs", "alertGroups", "alertlist",
               "heatmap", "piechart", "state-timeline", "status-history", "barchart", "histogram", "dashlist"}
EXPRESSION_TYPES = {"math", "reduce", "threshold", "classic_conditions", "resample", "sql"}
# Grafana's template variables and the values used to check queries that contain them.
BUILTIN_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__auto": "1m", "__range": "1h",
                     "__range_s": "3600", "__range_ms": "3600000", "__interval_ms": "60000"}

_DS_KEYS = {"name", "type", "uid", "access", "orgId", "url", "user", "database", "basicAuth", "basicAuthUser",
            "withCredentials", "isDefault", "jsonData", "secureJsonData", "version", "editable"}
_PROVIDER_KEYS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion", "allowUiUpdates",
                  "updateIntervalSeconds", "options"}
_GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
_RULE_REQUIRED = {"uid", "title", "condition", "data", "noDataState", "execErrState", "for"}
_RULE_KEYS = _RULE_REQUIRED | {"annotations", "labels", "isPaused", "dashboardUid", "panelId",
                               "notification_settings", "keep_firing_for", "missing_series_evals_to_resolve"}
_QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
_PROM_GROUP_KEYS = {"name", "interval", "rules", "limit", "query_offset", "labels"}
_PROM_RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


def _type_problems(where: str, obj: Mapping, required: Mapping[str, type | tuple]) -> list[str]:
    out = []
    for key, typ in required.items():
        if key not in obj:
            out.append(f"{where}: missing required key '{key}'")
        elif not isinstance(obj[key], typ) or (typ is int and isinstance(obj[key], bool)):
            out.append(f"{where}: '{key}' must be {getattr(typ, '__name__', typ)}, got {type(obj[key]).__name__}")
    return out


def _unknown(where: str, obj: Mapping, allowed: set[str]) -> list[str]:
    return [f"{where}: unknown key '{k}'" for k in obj if k not in allowed]


def _is_str_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _provisioning_top(where: str, prov, list_key: str, version: bool = True) -> tuple[list[str], bool]:
    """The top level of a Grafana provisioning file: a mapping with an int `apiVersion` (1, when `version`) and
    the list `list_key`. Returns (problems, whether the list can be walked)."""
    if not isinstance(prov, dict):
        return [f"{where}: not a mapping"], False
    out = _type_problems(where, prov, {"apiVersion": int, list_key: list})
    if out:
        return out, False
    if version and prov["apiVersion"] != 1:
        out.append(f"{where}: apiVersion must be 1")
    return out, True


# --- datasources and dashboard provider ------------------------------------------------------------------------------

def check_datasources(prov, where: str = "datasources") -> list[str]:
    out, walk = _provisioning_top(where, prov, "datasources")
    if not walk:
        return out
    uids, names, defaults = set(), set(), 0
    for i, ds in enumerate(prov["datasources"]):
        w = f"{where}: datasources[{i}]"
        if not isinstance(ds, dict):
            out.append(f"{w}: not a mapping")
            continue
        probs = _type_problems(w, ds, {"name": str, "type": str, "uid": str, "url": str, "access": str})
        out += probs + _unknown(w, ds, _DS_KEYS)
        if probs:
            continue
        w = f"{where}: datasource {ds['name']!r}"
        if ds["type"] not in DATASOURCE_TYPES:
            out.append(f"{w}: unexpected type {ds['type']!r}")
        if not UID_RE.match(ds["uid"]):
            out.append(f"{w}: uid {ds['uid']!r} is not a valid Grafana uid")
        if ds["uid"] in uids or ds["name"] in names:
            out.append(f"{w}: duplicate uid or name")
        uids.add(ds["uid"])
        names.add(ds["name"])
        if ds["access"] != "proxy":
            out.append(f"{w}: access must be 'proxy' (the browser cannot reach the Docker network)")
        if not re.match(r"^https?://[^\s/]+", ds["url"]):
            out.append(f"{w}: url {ds['url']!r} is not an http(s) URL")
        defaults += bool(ds.get("isDefault"))
        secure = ds.get("secureJsonData", {})
        if not isinstance(secure, dict):
            out.append(f"{w}: secureJsonData must be a mapping")
            secure = {}
        for key, value in secure.items():
            if not (isinstance(value, str) and re.fullmatch(r"\$__(file|env)\{[^}]+\}|\$\{?\w+\}?", value)):
                out.append(f"{w}: secureJsonData.{key} must be a $__file{{…}} or $__env{{…}} reference, "
                           "never a clear-text secret")
        if ds.get("basicAuth") and not (ds.get("basicAuthUser") and "basicAuthPassword" in secure):
            out.append(f"{w}: basicAuth needs basicAuthUser and secureJsonData.basicAuthPassword")
        jd = ds.get("jsonData", {})
        if not isinstance(jd, dict):
            out.append(f"{w}: jsonData must be a mapping")
        elif ds["type"] == "alertmanager":
            if jd.get("implementation") not in ("prometheus", "mimir", "cortex"):
                out.append(f"{w}: jsonData.implementation must be prometheus, mimir or cortex")
            if jd.get("handleGrafanaManagedAlerts") is not True:
                out.append(f"{w}: jsonData.handleGrafanaManagedAlerts must be true (Grafana-managed alerts must "
                           "go to our Alertmanager)")
    if defaults != 1:
        out.append(f"{where}: exactly one datasource must be isDefault, found {defaults}")
    return out


def check_dashboard_provider(prov, where: str = "dashboard provider") -> list[str]:
    out, walk = _provisioning_top(where, prov, "providers", version=False)
    if not walk:
        return out
    for i, p in enumerate(prov["providers"]):
        w = f"{where}: providers[{i}]"
        if not isinstance(p, dict):
            out.append(f"{w}: not a mapping")
            continue
        out += _type_problems(w, p, {"name": str, "type": str, "options": dict}) + _unknown(w, p, _PROVIDER_KEYS)
        if p.get("type") != "file":
            out.append(f"{w}: type must be 'file'")
        path = p.get("options", {}).get("path") if isinstance(p.get("options"), dict) else None
        if not (isinstance(path, str) and path.startswith("/")):
            out.append(f"{w}: options.path must be an absolute path")
        for key in ("disableDeletion", "allowUiUpdates"):
            if key in p and not isinstance(p[key], bool):
                out.append(f"{w}: {key} must be a boolean")
    return out


# --- dashboards -----------------------------------------------------------------------------------------------------

def _variables(model: dict) -> dict[str, str]:
    """name -> the value used to check queries: allValue for multi/all variables, else the current value."""
    out = {}
    for var in model.get("templating", {}).get("list", []):
        cur = var.get("current", {}).get("value")
        value = var.get("allValue") if var.get("includeAll") else (cur[0] if isinstance(cur, list) else cur)
        out[var.get("name", "")] = str(value if value not in (None, "") else var.get("query", ""))
    return out


_VAR_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """Replace Grafana variables by checkable values; returns (expr, names of undefined variables)."""
    undefined = []

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in variables:
            return variables[name]
        if name in BUILTIN_VARIABLES:
            return BUILTIN_VARIABLES[name]
        undefined.append(name)
        return m.group(0)
    return _VAR_REF.sub(repl, expr), undefined


def _all_panels(model: dict) -> Iterable[dict]:
    for panel in model.get("panels", []):
        yield panel
        yield from panel.get("panels", []) if isinstance(panel, dict) else []


def _check_ds_ref(where: str, ref, datasources: Mapping[str, str]) -> list[str]:
    if not isinstance(ref, dict) or not isinstance(ref.get("uid"), str):
        return [f"{where}: datasource must be a {{type, uid}} reference"]
    uid, typ = ref["uid"], ref.get("type")
    if uid not in datasources:
        return [f"{where}: datasource uid {uid!r} is not provisioned (known: {', '.join(sorted(datasources))})"]
    if typ is not None and typ != datasources[uid]:
        return [f"{where}: datasource {uid!r} is of type {datasources[uid]!r}, not {typ!r}"]
    return []


def check_dashboard(model, datasources: Mapping[str, str], dashboard_uids: Iterable[str],
                    where: str | None = None) -> list[str]:
    """A dashboard JSON model: structure, panel grid, datasource uids, links and LogQL targets."""
    if not isinstance(model, dict):
        return [f"{where or 'dashboard'}: not a JSON object"]
    where = where or f"dashboard {model.get('uid')!r}"
    known_uids = set(dashboard_uids)
    out = _type_problems(where, model, {"uid": str, "title": str, "panels": list, "schemaVersion": int,
                                        "templating": dict, "time": dict, "tags": list})
    if out:
        return out
    if not UID_RE.match(model["uid"]):
        out.append(f"{where}: uid {model['uid']!r} is not a valid Grafana uid")
    variables = _variables(model)
    for var in model["templating"].get("list", []):
        if "datasource" in var and var.get("type") == "query":
            out += _check_ds_ref(f"{where}: variable {var.get('name')!r}", var["datasource"], datasources)
    for i, link in enumerate(model.get("links", [])):
        m = re.match(r"^/d/([^/?#]+)", str(link.get("url", ""))) if link.get("type") == "link" else None
        if link.get("type") not in ("link", "dashboards"):
            out.append(f"{where}: links[{i}] has unknown type {link.get('type')!r}")
        elif m and m.group(1) not in known_uids:
            out.append(f"{where}: links[{i}] points to unknown dashboard uid {m.group(1)!r}")
    ids = set()
    for panel in _all_panels(model):
        w = f"{where}: panel {panel.get('title')!r}"
        out += _type_problems(w, panel, {"type": str, "id": int, "gridPos": dict, "title": str})
        if panel.get("type") not in PANEL_TYPES:
            out.append(f"{w}: unknown panel type {panel.get('type')!r}")
        if panel.get("id") in ids:
            out.append(f"{w}: duplicate panel id {panel.get('id')}")
        ids.add(panel.get("id"))
        gp = panel.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in "hwxy") or gp.get("x", 0) + gp.get("w", 0) > 24:
            out.append(f"{w}: gridPos must have integer h, w, x, y with x + w <= 24")
        if panel.get("type") == "row":
            continue
        if panel.get("type") == "alertGroups":
            am = panel.get("options", {}).get("alertmanager")
            if datasources.get(am) != "alertmanager":
                out.append(f"{w}: options.alertmanager {am!r} is not a provisioned Alertmanager datasource")
        if "datasource" in panel:
            out += _check_ds_ref(w, panel["datasource"], datasources)
        refs = set()
        for target in panel.get("targets", []):
            tw = f"{w} target {target.get('refId')!r}"
            if target.get("refId") in refs or not target.get("refId"):
                out.append(f"{tw}: refId missing or duplicated")
            refs.add(target.get("refId"))
            ref = target.get("datasource", panel.get("datasource"))
            probs = _check_ds_ref(tw, ref, datasources)
            out += probs
            if probs:
                continue
            typ = datasources[ref["uid"]]
            expr = target.get("expr")
            if typ in ("prometheus", "loki") and not (isinstance(expr, str) and expr.strip()):
                out.append(f"{tw}: empty query")
                continue
            expr, undefined = substitute(expr, variables) if typ in ("prometheus", "loki") else ("", [])
            out += [f"{tw}: undefined variable ${name}" for name in undefined]
            if typ == "loki":
                out += [f"{tw}: {p}" for p in logql.check(expr, metric=expr.lstrip()[:1] != "{")]
    return out


def promql_expressions(models: Iterable[dict], datasources: Mapping[str, str],
                       alert_provisioning: dict | None = None) -> list[tuple[str, str]]:
    """(where, expr) for every PromQL query of the dashboards and Grafana alert rules, variables substituted."""
    out = []
    for model in models:
        variables = _variables(model)
        for panel in _all_panels(model):
            for target in panel.get("targets", []):
                ref = target.get("datasource", panel.get("datasource")) or {}
                if datasources.get(ref.get("uid")) == "prometheus" and target.get("expr"):
                    expr, _ = substitute(target["expr"], variables)
                    out.append((f"dashboard {model.get('uid')!r} panel {panel.get('title')!r} "
                                f"target {target.get('refId')!r}", expr))
        for var in model.get("templating", {}).get("list", []):
            q = var.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            m = re.match(r"^label_values\((.+),\s*\w+\)$", q or "")
            if m and datasources.get((var.get("datasource") or {}).get("uid")) == "prometheus":
                out.append((f"dashboard {model.get('uid')!r} variable {var.get('name')!r}", m.group(1)))
    for group in (alert_provisioning or {}).get("groups", []):
        for rule in group.get("rules", []):
            for item in rule.get("data", []):
                if datasources.get(item.get("datasourceUid")) == "prometheus":
                    out.append((f"alert rule {rule.get('title')!r} query {item.get('refId')!r}",
                                item.get("model", {}).get("expr", "")))
    return out


def check_promql(expressions: list[tuple[str, str]]) -> list[str]:
    """Parse every expression with the real promtool (`promtool check rules` on one recording rule per group)."""
    from alertstack.tools import promtool  # Docker only when PromQL is actually checked
    if not expressions:
        return []
    groups = [{"name": f"expr-{i}", "rules": [{"record": "check:expr", "expr": expr}]}
              for i, (_, expr) in enumerate(expressions)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "exprs.yml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        path.chmod(0o644)
        Path(tmp).chmod(0o755)
        result = promtool(["check", "rules", "/w/exprs.yml"], {tmp: "/w"})
    if result.ok:
        return []
    problems = []
    for i, (where, expr) in enumerate(expressions):
        for line in result.output.splitlines():
            if f'"expr-{i}"' in line or f"group expr-{i}," in line or f"expr-{i}\"" in line:
                problems.append(f"{where}: promtool: {line.strip()} in {expr!r}")
    return problems or [f"promtool check rules failed: {result.output}"]


# --- Grafana alert-rule provisioning --------------------------------------------------------------------------------

def _check_contract(where: str, labels, annotations, dashboard_uids) -> list[str]:
    out = []
    if not _is_str_map(labels):
        return [f"{where}: labels must map strings to strings"]
    if not _is_str_map(annotations):
        return [f"{where}: annotations must map strings to strings"]
    if labels.get("severity") not in SEVERITIES:
        out.append(f"{where}: label severity must be one of {sorted(SEVERITIES)}, got {labels.get('severity')!r}")
    if labels.get("team") not in TEAMS:
        out.append(f"{where}: label team must be one of {sorted(TEAMS)}, got {labels.get('team')!r}")
    if not labels.get("service"):
        out.append(f"{where}: label service is missing")
    for bad in [k for k in labels if not LABEL_RE.match(k)]:
        out.append(f"{where}: invalid label name {bad!r}")
    for key in ("summary", "description", "runbook_url", "dashboard_url"):
        if not annotations.get(key):
            out.append(f"{where}: annotation {key} is missing")
    if annotations.get("runbook_url") and not re.match(r"^https?://.+/[a-z0-9-]+\.html$", annotations["runbook_url"]):
        out.append(f"{where}: runbook_url {annotations['runbook_url']!r} is not <base>/<slug>.html")
    m = re.match(r"^https?://.+/d/([^/?#]+)$", annotations.get("dashboard_url", ""))
    if annotations.get("dashboard_url") and not (m and m.group(1) in set(dashboard_uids)):
        out.append(f"{where}: dashboard_url {annotations['dashboard_url']!r} does not point to a known dashboard")
    for key, text in annotations.items():
        if text.count("{{") != text.count("}}"):
            out.append(f"{where}: annotation {key} has unbalanced template braces")
    return out


def _check_expression_model(where: str, model: dict, ref_ids: set[str]) -> list[str]:
    typ = model.get("type")
    if typ not in EXPRESSION_TYPES:
        return [f"{where}: expression type {typ!r} is not one of {sorted(EXPRESSION_TYPES)}"]
    expression = model.get("expression")
    if typ in ("reduce", "threshold", "resample"):
        if expression not in ref_ids:
            return [f"{where}: {typ} expression refers to unknown refId {expression!r}"]
    if typ == "math":
        missing = [r for r in re.findall(r"\$\{?(\w+)\}?", expression or "") if r not in ref_ids]
        if not expression or missing:
            return [f"{where}: math expression {expression!r} refers to unknown refIds {missing}"]
    if typ == "reduce" and model.get("reducer") not in ("sum", "mean", "min", "max", "count", "last", "median"):
        return [f"{where}: unknown reducer {model.get('reducer')!r}"]
    if typ == "threshold":
        conds = model.get("conditions")
        if not (isinstance(conds, list) and conds and all(
                isinstance(c, dict) and isinstance(c.get("evaluator"), dict)
                and c["evaluator"].get("type") in ("gt", "lt", "eq", "ne", "gte", "lte", "within_range",
                                                   "outside_range")
                and isinstance(c["evaluator"].get("params"), list) and c["evaluator"]["params"]
                and all(isinstance(p, (int, float)) for p in c["evaluator"]["params"]) for c in conds)):
            return [f"{where}: threshold conditions must be [{{evaluator: {{type, params: [number]}}}}]"]
    return []


def check_alert_provisioning(prov, datasources: Mapping[str, str], dashboard_uids: Iterable[str],
                             where: str = "alert rules") -> list[str]:
    """Grafana's alert-rule file-provisioning format, plus the project's label/annotation contract."""
    out, walk = _provisioning_top(where, prov, "groups")
    if not walk:
        return out
    out += _unknown(where, prov, {"apiVersion", "groups", "deleteRules"})
    uids, titles, dashboard_uids = set(), set(), list(dashboard_uids)
    for gi, group in enumerate(prov["groups"]):
        gw = f"{where}: groups[{gi}]"
        if not isinstance(group, dict):
            out.append(f"{gw}: not a mapping")
            continue
        probs = _type_problems(gw, group, {"orgId": int, "name": str, "folder": str, "interval": str,
                                           "rules": list})
        out += probs + _unknown(gw, group, _GROUP_KEYS)
        if probs:
            continue
        if not DURATION_RE.match(group["interval"]):
            out.append(f"{gw}: interval {group['interval']!r} is not a duration")
        for ri, rule in enumerate(group["rules"]):
            rw = f"{gw} rule {rule.get('title', ri)!r}" if isinstance(rule, dict) else f"{gw} rules[{ri}]"
            if not isinstance(rule, dict):
                out.append(f"{rw}: not a mapping")
                continue
            missing = sorted(_RULE_REQUIRED - rule.keys())
            out += [f"{rw}: missing required key '{k}'" for k in missing] + _unknown(rw, rule, _RULE_KEYS)
            if missing:
                continue
            if not (isinstance(rule["uid"], str) and UID_RE.match(rule["uid"])):
                out.append(f"{rw}: uid {rule['uid']!r} is not a valid uid (1-40 of A-Z a-z 0-9 - _)")
            if rule["uid"] in uids or rule["title"] in titles:
                out.append(f"{rw}: duplicate uid or title")
            uids.add(rule["uid"])
            titles.add(rule["title"])
            if rule["noDataState"] not in ("Alerting", "NoData", "OK", "KeepLast"):
                out.append(f"{rw}: noDataState {rule['noDataState']!r} is not Alerting, NoData, OK or KeepLast")
            if rule["execErrState"] not in ("Alerting", "Error", "OK", "KeepLast"):
                out.append(f"{rw}: execErrState {rule['execErrState']!r} is not Alerting, Error, OK or KeepLast")
            if not (isinstance(rule["for"], str) and DURATION_RE.match(rule["for"])):
                out.append(f"{rw}: for {rule['for']!r} is not a duration")
            if "isPaused" in rule and not isinstance(rule["isPaused"], bool):
                out.append(f"{rw}: isPaused must be a boolean")
            data = rule["data"]
            if not (isinstance(data, list) and data and all(isinstance(d, dict) for d in data)):
                out.append(f"{rw}: data must be a non-empty list of queries")
                continue
            ref_ids = [d.get("refId") for d in data]
            if len(set(ref_ids)) != len(ref_ids) or not all(isinstance(r, str) and r for r in ref_ids):
                out.append(f"{rw}: data refIds must be unique non-empty strings, got {ref_ids}")
            if rule["condition"] not in ref_ids:
                out.append(f"{rw}: condition {rule['condition']!r} is not one of the data refIds {ref_ids}")
            for item in data:
                qw = f"{rw} query {item.get('refId')!r}"
                out += _type_problems(qw, item, {"refId": str, "datasourceUid": str, "model": dict,
                                                 "relativeTimeRange": dict}) + _unknown(qw, item, _QUERY_KEYS)
                model, ds_uid = item.get("model"), item.get("datasourceUid")
                if not isinstance(model, dict):
                    continue
                if model.get("refId") not in (None, item.get("refId")):
                    out.append(f"{qw}: model.refId {model.get('refId')!r} differs from refId")
                rtr = item.get("relativeTimeRange", {})
                if not (isinstance(rtr, dict) and isinstance(rtr.get("from"), int) and isinstance(rtr.get("to"), int)
                        and rtr["from"] >= rtr["to"] >= 0):
                    out.append(f"{qw}: relativeTimeRange must be {{from, to}} seconds with from >= to >= 0")
                if ds_uid == EXPRESSION_UID:
                    out += _check_expression_model(qw, model, set(ref_ids) - {item.get("refId")})
                    continue
                if ds_uid not in datasources:
                    out.append(f"{qw}: datasourceUid {ds_uid!r} is not provisioned "
                               f"(known: {', '.join(sorted(datasources))}, {EXPRESSION_UID})")
                    continue
                if isinstance(rtr, dict) and rtr.get("from", 0) <= 0:
                    out.append(f"{qw}: a datasource query needs relativeTimeRange.from > 0")
                expr = model.get("expr")
                if not (isinstance(expr, str) and expr.strip()):
                    out.append(f"{qw}: model.expr is empty")
                elif datasources[ds_uid] == "loki":
                    out += [f"{qw}: {p}" for p in logql.check(expr, metric=True)]
            out += _check_contract(rw, rule.get("labels", {}), rule.get("annotations", {}), dashboard_uids)
            out += _check_interpolation(rw, rule)
    return out


_UNESCAPED_DOLLAR = re.compile(r"(?<!\$)\$(?!\$)")


def _check_interpolation(where: str, rule: dict) -> list[str]:
    """Grafana expands $VAR / ${VAR} (environment) in every provisioned rule field except annotations; a literal $
    must be written $$. An unescaped $ in a query or label would silently change it."""
    fields = {k: v for k, v in rule.items() if k != "annotations"}
    return [f"{where}: {path.lstrip('.')} contains an unescaped '$' that Grafana's provisioning expands as an "
            f"environment variable (write $$): {text!r}"
            for path, text in strings(fields, "") if _UNESCAPED_DOLLAR.search(text.replace("$$", ""))]


# --- Loki ruler rule file -------------------------------------------------------------------------------------------

def check_loki_rules(rules, dashboard_uids: Iterable[str], where: str = "loki rules") -> list[str]:
    """A Loki ruler file: Prometheus rule-file structure (rulefmt's keys, strictly) with LogQL expressions."""
    if not isinstance(rules, dict):
        return [f"{where}: not a mapping"]
    out = _unknown(where, rules, {"groups"})
    if not isinstance(rules.get("groups"), list) or not rules["groups"]:
        return out + [f"{where}: 'groups' must be a non-empty list"]
    names, dashboard_uids = set(), list(dashboard_uids)
    for gi, group in enumerate(rules["groups"]):
        gw = f"{where}: groups[{gi}]"
        if not isinstance(group, dict):
            out.append(f"{gw}: not a mapping")
            continue
        out += _unknown(gw, group, _PROM_GROUP_KEYS)
        if not isinstance(group.get("name"), str) or not group["name"]:
            out.append(f"{gw}: group name is missing")
        elif group["name"] in names:
            out.append(f"{gw}: duplicate group name {group['name']!r}")
        names.add(group.get("name"))
        if "interval" in group and not DURATION_RE.match(str(group["interval"])):
            out.append(f"{gw}: interval {group['interval']!r} is not a duration")
        if not isinstance(group.get("rules"), list) or not group["rules"]:
            out.append(f"{gw}: 'rules' must be a non-empty list")
            continue
        for ri, rule in enumerate(group["rules"]):
            rw = f"{gw} rule {rule.get('alert', rule.get('record', ri))!r}" if isinstance(rule, dict) \
                else f"{gw} rules[{ri}]"
            if not isinstance(rule, dict):
                out.append(f"{rw}: not a mapping")
                continue
            out += _unknown(rw, rule, _PROM_RULE_KEYS)
            if ("alert" in rule) == ("record" in rule):
                out.append(f"{rw}: exactly one of 'alert' or 'record' is required")
                continue
            name = rule.get("alert") or rule.get("record")
            if not (isinstance(name, str) and re.match(r"^[A-Za-z_:][A-Za-z0-9_:]*$", name)):
                out.append(f"{rw}: invalid rule name {name!r}")
            for key in ("for", "keep_firing_for"):
                if key in rule and not DURATION_RE.match(str(rule[key])):
                    out.append(f"{rw}: {key} {rule[key]!r} is not a duration")
            out += [f"{rw}: {p}" for p in logql.check(rule.get("expr", ""), metric=True)]
            if "alert" in rule:
                out += _check_contract(rw, rule.get("labels", {}), rule.get("annotations", {}), dashboard_uids)
    return out


# --- files on disk --------------------------------------------------------------------------------------------------

def load(path: Path):
    """Parse a YAML or JSON file; a parse error is reported as a problem by the caller."""
    text = Path(path).read_text()
    return json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)


def check_grafana_tree(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Check a rendered {{ stack_root }}/grafana directory; returns (problems, PromQL expressions to check)."""
    root = Path(root)
    problems, parsed = [], {}
    files = {"datasources": root / "provisioning/datasources/datasources.yml",
             "provider": root / "provisioning/dashboards/ai-alerting.yml",
             "alerts": root / "provisioning/alerting/log-alerts.yml"}
    for key, path in files.items():
        try:
            parsed[key] = load(path)
        except (OSError, yaml.YAMLError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: cannot be read or parsed: {exc}")
    dashboards = {}
    for path in sorted((root / "dashboards").glob("*.json")):
        try:
            dashboards[path] = load(path)
        except (OSError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: cannot be read or parsed: {exc}")
    if "datasources" not in parsed:
        return problems, []
    problems += check_datasources(parsed["datasources"], str(files["datasources"]))
    datasources = {d.get("uid"): d.get("type") for d in parsed["datasources"].get("datasources", [])
                   if isinstance(d, dict)}
    if "provider" in parsed:
        problems += check_dashboard_provider(parsed["provider"], str(files["provider"]))
    uids = [d.get("uid") for d in dashboards.values() if isinstance(d, dict)]
    for path, model in dashboards.items():
        problems += check_dashboard(model, datasources, uids, where=str(path))
        if isinstance(model, dict) and path.stem != model.get("uid"):
            problems.append(f"{path}: file name does not match the dashboard uid {model.get('uid')!r}")
    if "alerts" in parsed:
        problems += check_alert_provisioning(parsed["alerts"], datasources, uids, str(files["alerts"]))
    exprs = promql_expressions([m for m in dashboards.values() if isinstance(m, dict)], datasources,
                               parsed.get("alerts") if isinstance(parsed.get("alerts"), dict) else None)
    return problems, exprs
