"""Format checks for the Loki and Promtail configuration files (neither program can run here).

The checks follow the upstream configuration reference of Loki 3.x and Promtail 3.6: top-level keys are checked
strictly (Loki and Promtail refuse unknown fields), and the settings this stack depends on are checked for their
values: TSDB schema v13 on filesystem storage, compactor retention, the ruler's local rule storage and Alertmanager
(API v2), no usage reporting; Promtail's Docker discovery, push URL, and its redaction stages (every regular
expression compiled with RE2). `redact` applies the rendered replace stages to a line the way Promtail does, so tests
can show what leaves the host.
"""
from __future__ import annotations

import re
from typing import Mapping

from alertstack.logs.logql import LogQLError, check_regex, compile_re2
from alertstack.plain import strings
from alertstack.vocabulary import DURATION_RE

LOKI_TOP_KEYS = {"target", "auth_enabled", "ballast_bytes", "server", "distributor", "querier", "query_scheduler",
                 "frontend", "query_range", "ruler", "ingester_client", "ingester", "pattern_ingester",
                 "index_gateway", "bloom_build", "bloom_gateway", "storage_config", "chunk_store_config",
                 "schema_config", "compactor", "limits_config", "frontend_worker", "table_manager",
                 "memberlist", "runtime_config", "operational_config", "tracing", "analytics", "common",
                 "shutdown_delay", "metrics_namespace", "kafka_config", "dataobj", "ui", "ingest_limits",
                 "ingest_limits_frontend", "ingest_limits_frontend_client", "block_builder", "block_scheduler",
                 "profiling_config", "query_engine"}
PROMTAIL_TOP_KEYS = {"server", "clients", "positions", "scrape_configs", "limits_config", "target_config",
                     "options", "tracing", "global", "wal"}
PROMTAIL_STAGES = {"docker", "cri", "regex", "json", "logfmt", "replace", "multiline", "template", "match",
                   "timestamp", "output", "labels", "labelallow", "labeldrop", "static_labels", "metrics",
                   "tenant", "drop", "limit", "pack", "decolorize", "sampling", "eventlogmessage",
                   "geoip", "structured_metadata", "luhn"}


def _get(cfg: Mapping, path: str, default=None):
    cur = cfg
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return default
        cur = cur[part]
    return cur


def check_loki_config(cfg, tenant: str = "fake", where: str = "loki.yml") -> list[str]:
    if not isinstance(cfg, Mapping):
        return [f"{where}: not a mapping"]
    out = [f"{where}: unknown top-level key {k!r}" for k in cfg if k not in LOKI_TOP_KEYS]
    if not isinstance(cfg.get("auth_enabled"), bool):
        out.append(f"{where}: auth_enabled must be a boolean")
    elif cfg["auth_enabled"] is False and tenant != "fake":
        out.append(f"{where}: with auth_enabled false the only tenant is 'fake', not {tenant!r}")
    port = _get(cfg, "server.http_listen_port")
    if not isinstance(port, int) or isinstance(port, bool):
        out.append(f"{where}: server.http_listen_port must be an integer, got {port!r}")
    configs = _get(cfg, "schema_config.configs")
    if not (isinstance(configs, list) and configs):
        out.append(f"{where}: schema_config.configs must be a non-empty list")
    else:
        last = configs[-1]
        if not (isinstance(last, Mapping) and last.get("store") == "tsdb" and last.get("schema") == "v13"):
            out.append(f"{where}: the newest schema must be store tsdb, schema v13 (Loki 3 needs it for "
                       "structured metadata)")
        if isinstance(last, Mapping) and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(last.get("from", ""))):
            out.append(f"{where}: schema_config from must be a YYYY-MM-DD date")
        if isinstance(last, Mapping) and last.get("object_store") != "filesystem":
            out.append(f"{where}: object_store must be filesystem (single binary, local disk)")
    if not _get(cfg, "common.storage.filesystem.chunks_directory"):
        out.append(f"{where}: common.storage.filesystem.chunks_directory is required for filesystem storage")
    retention = _get(cfg, "limits_config.retention_period")
    if not (isinstance(retention, str) and DURATION_RE.match(retention)):
        out.append(f"{where}: limits_config.retention_period must be a duration, got {retention!r}")
    if _get(cfg, "compactor.retention_enabled") is not True:
        out.append(f"{where}: compactor.retention_enabled must be true, or retention_period deletes nothing")
    if not _get(cfg, "compactor.delete_request_store"):
        out.append(f"{where}: compactor.delete_request_store is required when retention is enabled")
    if not _get(cfg, "compactor.working_directory"):
        out.append(f"{where}: compactor.working_directory is required")
    am = _get(cfg, "ruler.alertmanager_url")
    if not (isinstance(am, str) and re.match(r"^https?://[^/]+", am)):
        out.append(f"{where}: ruler.alertmanager_url must be an http(s) URL, got {am!r}")
    external = _get(cfg, "ruler.external_url")
    if not (isinstance(external, str) and re.match(r"^https?://[^/]+", external)):
        out.append(f"{where}: ruler.external_url must be an absolute http(s) URL (Grafana's), got {external!r}: "
                   "without it the alerts' generatorURL is relative")
    if _get(cfg, "ruler.enable_alertmanager_v2") is not True:
        out.append(f"{where}: ruler.enable_alertmanager_v2 must be true (Alertmanager 0.27+ has no v1 API)")
    client = _get(cfg, "ruler.alertmanager_client", {}) or {}
    password = client.get("basic_auth_password") if isinstance(client, Mapping) else None
    if password is not None and not re.fullmatch(r"\$\{\w+\}", str(password)):
        out.append(f"{where}: ruler.alertmanager_client.basic_auth_password must be an ${{ENV}} reference "
                   "(expanded by -config.expand-env), never a clear-text secret")
    if password is not None and not client.get("basic_auth_username"):
        out.append(f"{where}: ruler.alertmanager_client.basic_auth_password needs basic_auth_username")
    if _get(cfg, "ruler.storage.type") != "local" or not _get(cfg, "ruler.storage.local.directory"):
        out.append(f"{where}: ruler.storage must be type local with local.directory (rules from files)")
    if not _get(cfg, "ruler.rule_path"):
        out.append(f"{where}: ruler.rule_path (the ruler's scratch directory) is required")
    interval = _get(cfg, "ruler.evaluation_interval", "1m")
    if not DURATION_RE.match(str(interval)):
        out.append(f"{where}: ruler.evaluation_interval must be a duration")
    for path, text in strings(cfg, ""):
        if re.search(r"\$(?!\{\w+\})", text):
            out.append(f"{where}: {path.lstrip('.')} contains a '$' that -config.expand-env would expand: {text!r}")
    if _get(cfg, "analytics.reporting_enabled") is not False:
        out.append(f"{where}: analytics.reporting_enabled must be false (no traffic leaves the stack)")
    return out


def _check_stage(where: str, stage) -> list[str]:
    if not (isinstance(stage, Mapping) and len(stage) == 1):
        return [f"{where}: a pipeline stage must be a mapping with exactly one stage name"]
    (name, body), = stage.items()
    if name not in PROMTAIL_STAGES:
        return [f"{where}: unknown pipeline stage {name!r}"]
    out = []
    if name in ("replace", "regex"):
        expression = body.get("expression") if isinstance(body, Mapping) else None
        if not isinstance(expression, str):
            return [f"{where}: {name} needs an expression"]
        try:
            check_regex(expression)
        except LogQLError as exc:
            out.append(f"{where}: {exc}")
        if name == "replace" and not re.search(r"\((?!\?:)", expression):
            out.append(f"{where}: a replace expression needs a capture group (only captured text is replaced)")
        if name == "replace" and not isinstance(body.get("replace"), str):
            out.append(f"{where}: replace needs a `replace` string")
    if name == "json" and not (isinstance(body, Mapping) and isinstance(body.get("expressions"), Mapping)):
        out.append(f"{where}: json needs an `expressions` mapping")
    if name == "labels" and not isinstance(body, Mapping):
        out.append(f"{where}: labels needs a mapping of label -> extracted key")
    if name == "match":
        if not (isinstance(body, Mapping) and isinstance(body.get("selector"), str)):
            return out + [f"{where}: match needs a selector"]
        for i, inner in enumerate(body.get("stages", [])):
            out += _check_stage(f"{where} stages[{i}]", inner)
    return out


def check_promtail_config(cfg, where: str = "promtail.yml") -> list[str]:
    if not isinstance(cfg, Mapping):
        return [f"{where}: not a mapping"]
    out = [f"{where}: unknown top-level key {k!r}" for k in cfg if k not in PROMTAIL_TOP_KEYS]
    clients = cfg.get("clients")
    if not (isinstance(clients, list) and clients):
        out.append(f"{where}: clients must be a non-empty list")
    else:
        for i, c in enumerate(clients):
            if not (isinstance(c, Mapping) and re.match(r"^https?://[^/]+/loki/api/v1/push$", str(c.get("url")))):
                out.append(f"{where}: clients[{i}].url must be Loki's push URL (…/loki/api/v1/push)")
    if not _get(cfg, "positions.filename"):
        out.append(f"{where}: positions.filename is required (where read offsets survive restarts)")
    jobs = cfg.get("scrape_configs")
    if not (isinstance(jobs, list) and jobs):
        return out + [f"{where}: scrape_configs must be a non-empty list"]
    for i, job in enumerate(jobs):
        jw = f"{where}: scrape_configs[{i}]"
        if not isinstance(job, Mapping) or not job.get("job_name"):
            out.append(f"{jw}: job_name is required")
            continue
        for sd in job.get("docker_sd_configs", []):
            if not str(sd.get("host", "")).startswith(("unix://", "tcp://", "http://", "https://")):
                out.append(f"{jw}: docker_sd_configs host must be a unix:// or tcp:// Docker address")
        for j, rc in enumerate(job.get("relabel_configs", [])):
            if isinstance(rc, Mapping) and "regex" in rc:
                try:
                    check_regex(rc["regex"])
                except LogQLError as exc:
                    out.append(f"{jw} relabel_configs[{j}]: {exc}")
        for j, stage in enumerate(job.get("pipeline_stages", [])):
            out += _check_stage(f"{jw} pipeline_stages[{j}]", stage)
    return out


def replace_stages(cfg: Mapping) -> list[tuple[str, str]]:
    """(expression, replacement) of every top-level replace stage acting on the log line, in order."""
    out = []
    for job in cfg.get("scrape_configs", []):
        for stage in job.get("pipeline_stages", []):
            body = stage.get("replace") if isinstance(stage, Mapping) else None
            if isinstance(body, Mapping) and "source" not in body:
                out.append((body["expression"], body["replace"]))
    return out


def redact(line: str, stages: list[tuple[str, str]]) -> str:
    """Apply replace stages the way Promtail's `replace` stage and Alloy's `stage.replace` do, with the RE2 engine:
    for every match, every participating capture group is replaced (a group starting before the end of the previous
    replacement is skipped), the stages one after the other on the result of the previous one."""
    for expression, replacement in stages:
        pattern = compile_re2(expression)
        pieces, pos = [], 0
        for m in pattern.finditer(line):
            for g in range(1, pattern.groups + 1):
                start, end = m.span(g)
                if start < 0 or (pos and start < pos):
                    continue
                pieces.append(line[pos:start])
                pieces.append(replacement)
                pos = end
        pieces.append(line[pos:])
        line = "".join(pieces)
    return line
