"""What the log shipper collects on each host (`log_collection`, per inventory group): validation, the generated
Promtail scrape jobs and Alloy components, and every environment's inventory - production's inference and GPU hosts
ship their workloads' logs, with the labels of the same service on the Prometheus side."""
from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import jinja2
import pytest
import yaml

from alertstack import ansible
from alertstack.logs import alloy, redaction
from alertstack.logs import sources as log_sources
from alertstack.logs import validate as validate_logs

REPO = Path(__file__).resolve().parents[2]
PROJECT_LABEL = "__meta_docker_container_label_com_docker_compose_project"
SERVICE_LABEL = "__meta_docker_container_label_com_docker_compose_service"


@lru_cache(maxsize=None)
def inventory(env: str) -> dict:
    return ansible.inventory_vars(env)


def groups(env: str) -> dict[str, list[str]]:
    inv = inventory(env)
    return {g: list(body.get("hosts", [])) for g, body in inv.items() if g != "_meta"}


def host_collection(env: str, host: str) -> tuple[dict, list[str]]:
    """The host's log_collection with its Jinja rendered from its hostvars, and its groups."""
    hostvars = inventory(env)["_meta"]["hostvars"][host]
    text = jinja2.Template(yaml.safe_dump(hostvars["log_collection"])).render(**hostvars)
    return yaml.safe_load(text), [g for g, hosts in groups(env).items() if host in hosts and g != "all"]


def container(name: str, project: str | None = None, service: str | None = None) -> dict:
    labels = {"__meta_docker_container_name": f"/{name}", "__meta_docker_container_id": "0123abcd"}
    if project:
        labels |= {PROJECT_LABEL: project, SERVICE_LABEL: service}
    return labels


def docker_job(sources, host="h1", env="production") -> dict:
    jobs = {j["job_name"]: j for j in log_sources.promtail_scrape_configs(sources, host, env)}
    return jobs["docker"]


def prometheus_services(group: str) -> set[str]:
    jobs = yaml.safe_load((REPO / "roles/prometheus/defaults/main/main.yml").read_text())["prometheus_scrape_jobs"]
    return {j["job_name"] for j in jobs if j["hosts_group"] == group}


# --- the declaration ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env", ["local", "staging", "production"])
def test_every_environment_declares_valid_sources_and_both_shippers_get_a_valid_config(env):
    """Promtail and Alloy configurations for every host of every environment, from the same sources and rules."""
    rules = redaction.rules()
    for host in inventory(env)["_meta"]["hostvars"]:
        collection, names = host_collection(env, host)
        assert log_sources.collection_problems(collection, groups(env)) == []
        sources = log_sources.host_sources(collection, names)
        jobs = log_sources.promtail_scrape_configs(sources, host, env)
        for job in jobs:
            job["pipeline_stages"] += [{"replace": {"expression": r["expression"], "replace": r["replace"]}}
                                       for r in rules]
        cfg = {"server": {"http_listen_port": 9080}, "positions": {"filename": "/p.yml"},
               "clients": [{"url": "http://loki:3100/loki/api/v1/push"}], "scrape_configs": jobs}
        assert validate_logs.check_promtail_config(cfg) == [], host
        text = alloy.config(["http://loki:3100/loki/api/v1/push"], rules, sources, host, env)
        assert alloy.check(text) == [], host
        assert f'"host" = "{host}"' in text or f'replacement   = "{host}"' in text


def test_a_host_group_with_nothing_to_collect_fails_naming_the_group_and_hosts():
    collection, _ = host_collection("production", "prd-gpu-01")
    del collection["gpu"]
    problems = log_sources.collection_problems(collection, groups("production"))
    assert len(problems) == 1
    assert "host group 'gpu'" in problems[0] and "prd-gpu-01, prd-gpu-02" in problems[0]
    collection["gpu"] = []
    assert log_sources.collection_problems(collection, groups("production")) == problems


@pytest.mark.parametrize("source,expected", [
    ({"docker": {"name": "x"}}, "needs a service"),
    ({"service": "x", "docker": {"name": "x", "label": "a=b"}}, "exactly one of"),
    ({"service": "x", "docker": {"label": "novalue"}}, "KEY=VALUE"),
    ({"service": "x", "docker": {"name_regex": "(?<=a)b"}}, "look-around"),
    ({"service": "x", "journald": {"units": []}}, "non-empty list"),
    ({"service": "x", "journald": {"units": ["sshd"]}}, "systemd unit names"),
    ({"service": "x", "file": {"paths": ["relative/*.log"]}}, "absolute"),
    ({"service": "Inference Gateway", "docker": {"name": "x"}}, "label value"),
    ({"service": "x", "kubernetes": {}}, "unknown key"),
    ({"service": "x"}, "exactly one of docker, journald, file"),
])
def test_malformed_sources_are_named(source, expected):
    problems = log_sources.collection_problems({"inference": [source]}, {"inference": ["h1"]})
    assert any(expected in p and "log_collection.inference[0]" in p for p in problems), problems


# --- what the shipper does with it ---------------------------------------------------------------------------------

def test_docker_sources_select_by_project_name_and_label_and_name_the_service():
    sources = [{"docker": {"compose_project": "ai-alerting"}},
               {"service": "inference-gateway", "docker": {"name": "inference-gateway"}},
               {"service": "model-server", "docker": {"label": "ai.alerting/service=model-server"}},
               {"service": "vllm", "docker": {"name_regex": "vllm-[0-9]+"}}]
    rules = docker_job(sources)["relabel_configs"]
    ship = lambda labels: log_sources.shipped_labels(labels, rules)  # noqa: E731
    base = {"job": "docker", "host": "h1", "env": "production"}
    assert ship(container("ai-alerting-prometheus", "ai-alerting", "prometheus")) == base | {"service": "prometheus"}
    for name in ("inference-gateway", "serving-inference-gateway-1", "serving_inference-gateway_2"):
        assert ship(container(name)) == base | {"service": "inference-gateway"}, name
    labelled = container("anything") | {"__meta_docker_container_label_ai_alerting_service": "model-server"}
    assert ship(labelled) == base | {"service": "model-server"}
    assert ship(container("vllm-3")) == base | {"service": "vllm"}
    for other in ("redis", "inference-gateway-proxy", "vllm-x", "my-ai-alerting"):
        assert ship(container(other)) is None, other
    assert ship(container("cache", "other-project", "cache")) is None


def test_a_container_matched_twice_is_discovered_once_with_one_service():
    """The local demo platform is in the stack's project and declared by name: one target, shipped once."""
    sources = [{"docker": {"compose_project": "ai-alerting"}},
               {"service": "inference-gateway", "docker": {"name": "inference-gateway"}}]
    jobs = log_sources.promtail_scrape_configs(sources, "localhost", "local")
    assert [j["job_name"] for j in jobs] == ["docker"] and len(jobs[0]["docker_sd_configs"]) == 1
    shipped = log_sources.shipped_labels(container("ai-alerting-inference-gateway", "ai-alerting",
                                                   "inference-gateway"), jobs[0]["relabel_configs"])
    assert shipped == {"job": "docker", "host": "localhost", "env": "local", "service": "inference-gateway"}


def test_journald_and_file_sources():
    sources = [{"service": "gpu", "journald": {"units": ["nvidia-persistenced.service"]}},
               {"service": "model-server", "file": {"paths": ["/var/log/model/*.log", "/srv/app/app.log"]}}]
    jobs = {j["job_name"]: j for j in log_sources.promtail_scrape_configs(sources, "g1", "production")}
    assert set(jobs) == {"journal", "file"}
    rules = jobs["journal"]["relabel_configs"]
    entry = {"__journal__systemd_unit": "nvidia-persistenced.service", "__journal_priority_keyword": "err"}
    assert log_sources.shipped_labels(entry, rules) == {"job": "journal", "host": "g1", "env": "production",
                                                        "level": "err", "service": "gpu"}
    assert log_sources.shipped_labels(entry | {"__journal__systemd_unit": "sshd.service"}, rules) is None
    assert [t["labels"] for t in jobs["file"]["static_configs"]] == [
        {"__path__": p, "service": "model-server", "job": "file", "host": "g1", "env": "production"}
        for p in ("/var/log/model/*.log", "/srv/app/app.log")]
    assert log_sources.host_mounts(sources) == log_sources.JOURNAL_MOUNTS + ["/var/log/model", "/srv/app"]


def test_the_shipper_mounts_what_the_sources_need_once_each():
    """The Compose file mounts (read-only, same path): the Docker socket only when containers are collected, the
    journal and machine-id for journald, each file directory once; nothing under an already mounted directory."""
    docker = {"docker": {"compose_project": "ai-alerting"}}
    journal = {"service": "gpu", "journald": {"units": ["nvidia-persistenced.service"]}}
    files = {"service": "app", "file": {"paths": ["/srv/app/*.log", "/srv/app/b/*.log", "/srv/app/x.log"]}}
    sock = "/var/run/docker.sock"
    assert log_sources.host_mounts([docker], sock) == [sock]
    assert log_sources.host_mounts([journal, files], sock) == log_sources.JOURNAL_MOUNTS + ["/srv/app"]
    assert log_sources.host_mounts([docker, journal, journal, files], sock) == (
        [sock] + log_sources.JOURNAL_MOUNTS + ["/srv/app"])
    # /var/log covers the persistent journal and /var/log/nginx; /var/run covers the socket.
    wide = {"service": "sys", "file": {"paths": ["/var/log/nginx/*.log", "/var/log/*.log", "/var/run/app/*.log",
                                                 "/var/run/*.log"]}}
    assert log_sources.host_mounts([docker, journal, wide], sock) == [
        "/run/log/journal", "/etc/machine-id", "/var/log", "/var/run"]


def test_files_directly_under_the_root_are_refused():
    """Their directory would be / : the whole host mounted into the shipper."""
    problems = log_sources.source_problems({"service": "x", "file": {"paths": ["/*.log"]}}, "log_collection.all[0]")
    assert problems and "whole host root" in problems[0] and "log_collection.all[0]" in problems[0]
    assert log_sources.source_problems({"service": "x", "file": {"paths": ["/x/*.log"]}}, "w") == []


def test_the_level_label_is_bounded_and_lower_case():
    from alertstack.logs.logql import compile_re2
    pattern = compile_re2(log_sources.LEVEL_EXPRESSION)
    for line, level in [('{"level":"ERROR","msg":"x"}', "ERROR"), ("level=warning msg=x", "warning"),
                        ('{"level": "info"}', "info"), ("level=verbose-9f1c2d", None), ("loglevel=error", None),
                        ('{"request_id":"abc","message":"ok"}', None)]:
        m = pattern.search(line)
        assert (m.group("level") if m else None) == level, line
    stages = log_sources.level_stages()
    assert stages[1] == {"template": {"source": "level", "template": "{{ ToLower .Value }}"}}
    assert stages[2] == {"labels": {"level": None}}


def test_generated_promtail_jobs_pass_the_promtail_checks():
    collection, names = host_collection("production", "prd-gpu-01")
    sources = log_sources.host_sources(collection, names)
    cfg = {"server": {"http_listen_port": 9080}, "positions": {"filename": "/p.yml"},
           "clients": [{"url": "http://10.30.0.10:3100/loki/api/v1/push"}],
           "scrape_configs": log_sources.promtail_scrape_configs(sources, "prd-gpu-01", "production")}
    for job in cfg["scrape_configs"]:
        job["pipeline_stages"] += [{"replace": {"expression": r["expression"], "replace": r["replace"]}}
                                   for r in redaction.rules()]
    assert validate_logs.check_promtail_config(cfg) == []
    bad = copy.deepcopy(cfg)
    bad["scrape_configs"][0]["relabel_configs"][3]["regex"] = "(?<=x)y"
    assert any("look-around" in p for p in validate_logs.check_promtail_config(bad))


# --- production: every inference and GPU host ships its workloads ------------------------------------------------

def production_hosts(group: str) -> list[str]:
    return groups("production")[group]


@pytest.mark.parametrize("host", sorted(set(production_hosts("inference") + production_hosts("gpu"))))
def test_every_production_inference_and_gpu_host_ships_its_workloads(host):
    collection, names = host_collection("production", host)
    sources = log_sources.host_sources(collection, names)
    print(f"\n{host}:", *log_sources.selectors(sources), sep="\n  ")
    jobs = {j["job_name"]: j for j in log_sources.promtail_scrape_configs(sources, host, "production")}
    rules = jobs["docker"]["relabel_configs"]
    base = {"job": "docker", "host": host, "env": "production"}
    # The user's own model-serving containers, however they were started, and the stack's own containers.
    for name, project, service in [("inference-gateway", None, None), ("serving-inference-gateway-1", "serving",
                                   "inference-gateway"), ("feature-store", None, None),
                                   ("ai-alerting-node-exporter", "ai-alerting", "node-exporter")]:
        expected = service or name.removeprefix("ai-alerting-")
        assert log_sources.shipped_labels(container(name, project, service), rules) == base | {"service": expected}
    assert log_sources.shipped_labels(container("postgres"), rules) is None
    if host in production_hosts("gpu"):
        entry = {"__journal__systemd_unit": "nvidia-fabricmanager.service", "__journal_priority_keyword": "crit"}
        assert log_sources.shipped_labels(entry, jobs["journal"]["relabel_configs"])["service"] == "gpu"
    # The same sources in Alloy, checked.
    text = alloy.config(["http://10.30.0.10:3100/loki/api/v1/push"], redaction.rules(), sources, host, "production")
    assert alloy.check(text) == []
    assert '"inference-gateway"' in text and ("loki.source.journal" in text) == (host in production_hosts("gpu"))


def test_log_labels_are_the_prometheus_labels_of_the_same_service():
    """service = the Prometheus scrape job of the same workload, host = inventory hostname (as on the scrape
    targets), env = stack_env (Prometheus' external label)."""
    collection, names = host_collection("production", "prd-inference-01")
    declared = {s["service"] for s in collection["inference"]}
    assert declared <= prometheus_services("inference"), declared - prometheus_services("inference")
    prom = yaml.safe_load((REPO / "roles/prometheus/defaults/main/main.yml").read_text())
    assert prom["prometheus_external_labels"] == {"env": "{{ stack_env }}"}
    rule_labels = [r.get("labels", {}) for f in sorted((REPO / "alertstack/rules_data").glob("*.yml"))
                   for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    assert {"service": "gpu"} in [{"service": lb.get("service")} for lb in rule_labels]  # the GPU alerts' service


def test_the_default_collection_covers_gateway_and_feature_store_wherever_they_run():
    default = log_sources.default_collection("ai-alerting")
    for group in ("all", "inference"):
        assert {s.get("service") for s in default[group]} >= {"inference-gateway", "feature-store"}
    assert log_sources.collection_problems(default, {"monitoring": ["m"], "inference": ["i"], "gpu": ["g"]}) == []
