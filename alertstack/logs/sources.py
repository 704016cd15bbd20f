"""What the log shipper collects on each host, declared per inventory group (`log_collection`), and the Promtail
scrape jobs and Alloy components that follow it.

A declaration maps an inventory group to a list of sources; a host collects the sources of `all` and of every group
it belongs to. A source is one of:

    {docker: {compose_project: NAME}, service: S?}   containers of a Compose project (service = Compose service name
                                                      unless `service` is given)
    {docker: {label: "KEY=VALUE"}, service: S}       containers carrying a Docker label
    {docker: {name: NAME}, service: S}               containers named NAME as Compose or `docker run` name them
                                                      (NAME, PROJECT-NAME-1, PROJECT_NAME_1)
    {docker: {name_regex: RE2}, service: S}          containers whose whole name matches an RE2 expression
    {journald: {units: [UNIT, ...]}, service: S}     journald entries of systemd units
    {file: {paths: [GLOB, ...]}, service: S}         log files (absolute paths, globs allowed)

Every line gets the labels `service`, `host` (inventory hostname), `env` (stack_env) - the values of the Prometheus
labels of the same service and host - `job` (docker | journal | file), and `level` when the line carries one of a
fixed set of levels. Nothing unbounded (request ids, container ids, paths, container names) becomes a label.
Containers matching several Docker sources are discovered once (one discovery, ordered relabel rules; the last
matching source names the service), so nothing is shipped twice.
"""
from __future__ import annotations

import posixpath
import re
from typing import Any

from alertstack.logs.logql import LogQLError, check_regex

KINDS = ("docker", "journald", "file")
DOCKER_SELECTORS = ("compose_project", "label", "name", "name_regex")
SERVICE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.-]+=.+$")
# Levels that may become the `level` label (bounded); matched case-insensitively, written in lower case.
LEVELS = "trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|panic|emerg|alert"
LEVEL_EXPRESSION = r'(?i)"?\blevel"?\s*[=:]\s*"?(?P<level>' + LEVELS + r')\b'
LEVEL_TEMPLATE = "{{ ToLower .Value }}"
JOURNAL_MOUNTS = ["/var/log/journal", "/run/log/journal", "/etc/machine-id"]
# Groups that are Ansible's own, not host groups of the inventory.
IMPLICIT_GROUPS = ("all", "ungrouped")


def container_name_regex(name: str) -> str:
    """An anchored container-name expression matching `name` as Compose or `docker run` names it:
    name, project-name-1, project_name_1."""
    return rf"(?:.+[-_])?{_escape_value(name)}(?:[-_]\d+)?"


def effective_collection(collection: dict | None, project: str) -> dict:
    """The inventory's `log_collection`, or the built-in default when it declares none."""
    return collection if collection else default_collection(project)


def default_collection(project: str) -> dict:
    """What a host collects when the inventory declares no `log_collection`: the stack's own containers on every
    host, and the inference gateway and feature store (by container name) wherever they run; GPU hosts add the
    NVIDIA driver daemons' journal."""
    workloads = [{"service": s, "docker": {"name": s}} for s in ("inference-gateway", "feature-store")]
    return {
        "all": [{"docker": {"compose_project": project}}] + workloads,
        "monitoring": [{"docker": {"compose_project": project}}],
        "inference": list(workloads),
        "gpu": [{"service": "gpu", "journald": {"units": ["nvidia-persistenced.service",
                                                          "nvidia-fabricmanager.service"]}}],
    }


def source_problems(source: Any, where: str) -> list[str]:
    if not isinstance(source, dict):
        return [f"{where}: a source must be a mapping, got {source!r}"]
    kinds = [k for k in KINDS if k in source]
    unknown = sorted(set(source) - set(KINDS) - {"service"})
    out = [f"{where}: unknown key(s) {unknown} (allowed: service, {', '.join(KINDS)})"] if unknown else []
    if len(kinds) != 1:
        return out + [f"{where}: needs exactly one of {', '.join(KINDS)}, has {kinds or 'none'}"]
    kind, body = kinds[0], source[kinds[0]]
    service = source.get("service")
    if service is not None and not (isinstance(service, str) and SERVICE_RE.match(service)):
        out.append(f"{where}: service {service!r} must be a label value like inference-gateway (the Prometheus "
                   "service/job name)")
    if not isinstance(body, dict):
        return out + [f"{where}: {kind} must be a mapping"]
    if kind == "docker":
        selectors = [k for k in body if k in DOCKER_SELECTORS]
        if len(selectors) != 1 or len(body) != 1:
            return out + [f"{where}: docker needs exactly one of {', '.join(DOCKER_SELECTORS)}, got {sorted(body)}"]
        key, value = selectors[0], body[selectors[0]]
        if not (isinstance(value, str) and value):
            out.append(f"{where}: docker.{key} must be a non-empty string")
        elif key == "label" and not LABEL_RE.match(value):
            out.append(f"{where}: docker.label must be KEY=VALUE, got {value!r}")
        elif key == "name_regex":
            try:
                check_regex(value)
            except LogQLError as exc:
                out.append(f"{where}: docker.name_regex: {exc}")
        if key != "compose_project" and service is None:
            out.append(f"{where}: a docker {key} source needs a service (only compose_project takes the Compose "
                       "service name)")
    else:
        field = "units" if kind == "journald" else "paths"
        values = body.get(field)
        if set(body) != {field}:
            out.append(f"{where}: {kind} takes only `{field}`, got {sorted(body)}")
        if not (isinstance(values, list) and values and all(isinstance(v, str) and v for v in values)):
            out.append(f"{where}: {kind}.{field} must be a non-empty list of strings")
        elif kind == "file" and not all(v.startswith("/") for v in values):
            out.append(f"{where}: file.paths must be absolute, got {values}")
        elif kind == "file" and any(_file_directory(v) == "/" for v in values):
            out.append(f"{where}: file.paths {values}: files directly under / would mount the whole host root into "
                       "the shipper; name their directory")
        elif kind == "journald" and not all(re.match(r"^[\w@.:-]+\.(service|socket|scope|timer)$", v)
                                            for v in values):
            out.append(f"{where}: journald.units must be systemd unit names like ollama.service, got {values}")
        if service is None:
            out.append(f"{where}: a {kind} source needs a service")
    return out


def collection_problems(collection: Any, groups: dict[str, list]) -> list[str]:
    """Problems with a `log_collection` declaration for an inventory ([] = OK): malformed sources, and any host
    group of the inventory that declares nothing to collect."""
    if not isinstance(collection, dict):
        return [f"log_collection must map inventory groups to lists of sources, got {collection!r}"]
    out = []
    for group, sources in collection.items():
        if not isinstance(sources, list):
            out.append(f"log_collection.{group} must be a list of sources")
            continue
        for i, s in enumerate(sources):
            out += source_problems(s, f"log_collection.{group}[{i}]")
    for group, hosts in sorted(groups.items()):
        if group in IMPLICIT_GROUPS or not hosts:
            continue
        if not collection.get(group):
            out.append(f"log_collection declares nothing to collect for host group {group!r} "
                       f"(hosts {', '.join(sorted(hosts))}): list its workloads' containers, journald units or "
                       "files, or its logs never reach Loki")
    return out


def host_sources(collection: dict, group_names: list[str]) -> list[dict]:
    """The sources of one host: those of `all`, then of each of its groups; duplicates removed."""
    out = []
    for group in ["all"] + [g for g in group_names if g != "all"]:
        for s in collection.get(group) or []:
            if s not in out:
                out.append(s)
    return out


def _by_kind(sources: list[dict], kind: str) -> list[dict]:
    return [s for s in sources if kind in s]


def _file_directory(path: str) -> str:
    """The directory holding the files of a glob: its static part up to the last '/'."""
    static = re.split(r"[*?\[{]", path, maxsplit=1)[0]
    return posixpath.normpath(static.rsplit("/", 1)[0] or "/")


def host_mounts(sources: list[dict], docker_socket: str | None = None) -> list[str]:
    """Host paths the shipper's container must read, each mounted read-only at the same path (the generated
    configurations name host paths): the Docker socket when containers are collected (their logs are read through the
    Docker API, so the container log directory is not needed), the journal (persistent and volatile) and
    /etc/machine-id for journald sources, the directory of every file glob. Deduplicated: a path already mounted, or
    under another mounted directory (Docker's bind mounts are recursive), is left out."""
    wanted = [posixpath.normpath(docker_socket)] if docker_socket and _by_kind(sources, "docker") else []
    wanted += list(JOURNAL_MOUNTS) if _by_kind(sources, "journald") else []
    wanted += [_file_directory(path) for s in _by_kind(sources, "file") for path in s["file"]["paths"]]
    mounts = []
    for path in wanted:
        covered = any(other != path and path.startswith(other.rstrip("/") + "/") for other in wanted)
        if path not in mounts and not covered:
            mounts.append(path)
    return mounts


def _escape_value(value: str) -> str:
    """`value` as a literal in an RE2 expression."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value)


def docker_rules(sources: list[dict]) -> list[dict]:
    """Relabel rules (Prometheus shape) selecting the declared containers and naming their service; the last rule
    keeps only selected containers."""
    rules = []
    for s in _by_kind(sources, "docker"):
        (key, value), = s["docker"].items()
        if key == "compose_project":
            source_labels = ["__meta_docker_container_label_com_docker_compose_project",
                             "__meta_docker_container_label_com_docker_compose_service"]
            regex = f"{_escape_value(value)};(.+)"
            service = s.get("service", "$1")
        elif key == "label":
            name, _, val = value.partition("=")
            source_labels = ["__meta_docker_container_label_" + re.sub(r"[^A-Za-z0-9_]", "_", name)]
            regex, service = _escape_value(val), s["service"]
        else:
            pattern = container_name_regex(value) if key == "name" else value
            source_labels, regex, service = ["__meta_docker_container_name"], f"/?(?:{pattern})", s["service"]
        rules.append({"source_labels": list(source_labels), "regex": regex, "target_label": "service",
                      "replacement": service})
        rules.append({"source_labels": list(source_labels), "regex": regex, "target_label": "__collect",
                      "replacement": "yes"})
    if rules:
        rules.append({"source_labels": ["__collect"], "regex": "yes", "action": "keep"})
    return rules


def journal_rules(sources: list[dict]) -> list[dict]:
    rules = [{"source_labels": ["__journal_priority_keyword"], "target_label": "level"}]
    for s in _by_kind(sources, "journald"):
        regex = "|".join(_escape_value(u) for u in s["journald"]["units"])
        rules.append({"source_labels": ["__journal__systemd_unit"], "regex": regex, "target_label": "service",
                      "replacement": s["service"]})
        rules.append({"source_labels": ["__journal__systemd_unit"], "regex": regex, "target_label": "__collect",
                      "replacement": "yes"})
    rules.append({"source_labels": ["__collect"], "regex": "yes", "action": "keep"})
    return rules


def file_targets(sources: list[dict], host: str, env: str) -> list[dict]:
    return [{"__path__": path, "service": s["service"], "job": "file", "host": host, "env": env}
            for s in _by_kind(sources, "file") for path in s["file"]["paths"]]


def common_labels(job: str, host: str, env: str) -> list[dict]:
    return [{"target_label": "job", "replacement": job}, {"target_label": "host", "replacement": host},
            {"target_label": "env", "replacement": env}]


def level_stages() -> list[dict]:
    """Promtail pipeline stages giving the bounded `level` label (JSON "level": "x" or logfmt level=x)."""
    return [{"regex": {"expression": LEVEL_EXPRESSION}},
            {"template": {"source": "level", "template": LEVEL_TEMPLATE}},
            {"labels": {"level": None}}]


def promtail_scrape_configs(sources: list[dict], host: str, env: str,
                            docker_socket: str = "/var/run/docker.sock") -> list[dict]:
    """Promtail scrape_configs for a host's sources (pipeline stages before redaction)."""
    jobs = []
    if _by_kind(sources, "docker"):
        jobs.append({"job_name": "docker",
                     "docker_sd_configs": [{"host": f"unix://{docker_socket}", "refresh_interval": "10s"}],
                     "relabel_configs": common_labels("docker", host, env) + docker_rules(sources),
                     "pipeline_stages": level_stages()})
    if _by_kind(sources, "journald"):
        jobs.append({"job_name": "journal",
                     # No path: journald's two default directories are read, the persistent /var/log/journal
                     # and the volatile /run/log/journal (hosts without Storage=persistent); both are mounted.
                     "journal": {"max_age": "12h"},
                     "relabel_configs": common_labels("journal", host, env) + journal_rules(sources),
                     "pipeline_stages": level_stages()})
    if _by_kind(sources, "file"):
        jobs.append({"job_name": "file", "static_configs": [{"targets": ["localhost"], "labels": t}
                                                            for t in file_targets(sources, host, env)],
                     "pipeline_stages": level_stages()})
    return jobs


def selectors(sources: list[dict]) -> list[str]:
    """One line per source, for people and tests: what this host ships and under which service."""
    out = []
    for s in sources:
        kind = next(k for k in KINDS if k in s)
        body = s[kind]
        what = ", ".join(f"{k}={v if isinstance(v, str) else ','.join(v)}" for k, v in body.items())
        out.append(f"{kind}({what}) -> service={s.get('service', '<compose service>')}")
    return out


def relabel(labels: dict[str, str], rules: list[dict]) -> dict[str, str] | None:
    """Prometheus/Promtail/Alloy relabelling (actions replace and keep, RE2 anchored) of one target's labels, as the
    shipper applies the rules above; None when the target is dropped. For tests and `what would this host ship`."""
    from alertstack.logs.logql import compile_re2

    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("source_labels", []))
        match = compile_re2(rule.get("regex", "(.*)")).fullmatch(value)
        if rule.get("action", "replace") == "keep":
            if not match:
                return None
            continue
        if match:
            replacement = re.sub(r"\$(?:\{(\w+)\}|(\d+))",
                                 lambda m: match.group(int(m.group(1) or m.group(2))) or "",
                                 rule.get("replacement", "$1"))
            if replacement:
                labels[rule["target_label"]] = replacement
            else:
                labels.pop(rule["target_label"], None)
    return labels


def shipped_labels(labels: dict[str, str], rules: list[dict]) -> dict[str, str] | None:
    """The stream labels a discovered target ends up with (internal `__` labels removed), or None if not shipped."""
    out = relabel(labels, rules)
    return None if out is None else {k: v for k, v in out.items() if not k.startswith("__")}
