"""The Alertmanager policy, checked by Alertmanager's own tools.

alertmanager.yml is the one Ansible renders from the role defaults (policy.yml; alertstack.rendered.role_policy),
with placeholder secret files mounted at /etc/alertmanager/secrets and the notification templates at
/etc/alertmanager/templates. Then:
- `amtool check-config` accepts it;
- `amtool config routes test` sends every alert the rules define to exactly the receivers the policy promises;
- a real Alertmanager (no network) applies the inhibitions the policy promises;
- `amtool template render` shows summary, value, service, runbook and dashboard in each message template.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from alertstack import rendered, routing
from alertstack.catalog import alert_rules
from alertstack.defaults import NOTIFICATION_TEMPLATES
from alertstack.images import OFFLINE
from alertstack.tools import amtool, run_in_image

pytestmark = pytest.mark.docker

# What the policy promises, alert by alert (docs/alerting-policy.md). Every alert except Watchdog also goes to the
# events-webhook stream; that is added below, and is never enough on its own.
PAGE = {"pagerduty-critical", "slack-incidents"}
HIGH = {"email-oncall", "slack-urgent"}
WARN = {"slack-alerts"}
ML = {"slack-ml-platform"}
PLATFORM = {"slack-platform"}
AIINFRA = {"slack-ai-infra"}
PROMISED: dict[str, set[str]] = {
    "InferenceErrorRateCritical": PAGE,
    "InferenceLatencyBurnRateCritical": PAGE,
    "InferenceErrorBudgetBurnHigh": HIGH,
    "InferenceLatencyBurnRateHigh": HIGH,
    "InferenceErrorBudgetBurnSlow": WARN,
    "InferenceLatencyBudgetBurnSlow": WARN,
    "ErrorBudgetExhaustionProjected": WARN,  # the forecast ticket: exhaustion projected within 7 days
    "InferenceErrorRateHigh": WARN,
    "InferenceLatencyElevated": WARN,
    "InferenceRequestRateAnomalous": WARN,
    "InputValidationFailuresHigh": WARN,
    "ModelLoadFailure": HIGH | ML,
    "FeatureStoreDown": HIGH,
    "FeatureStoreErrorsHigh": HIGH,
    "MissingFeaturesHigh": WARN,
    # GPUs (DCGM) and hosts (node_exporter): hardware goes to ai-infra; GPU memory pressure also to ml-platform.
    "GPUUtilizationLow": WARN | AIINFRA,
    "GPUMemoryHigh": HIGH | AIINFRA | ML,
    "GPUXidError": HIGH | AIINFRA,
    "GPUEccDoubleBitErrors": HIGH | AIINFRA,
    "GPURowRemapFailure": HIGH | AIINFRA,
    "GPUTemperatureHigh": WARN | AIINFRA,
    "GPUThrottling": WARN | AIINFRA,
    "GPUNVLinkErrors": WARN | AIINFRA,
    "GPUMissing": HIGH | AIINFRA,
    "HostDown": HIGH | AIINFRA,
    "HostFilesystemFillingUp": WARN | AIINFRA,
    "HostFilesystemAlmostFull": HIGH | AIINFRA,
    "HostFilesystemReadOnly": HIGH | AIINFRA,
    "HostMemoryMajorPageFaults": WARN | AIINFRA,
    "HostOOMKill": WARN | AIINFRA,
    "HostClockSkew": WARN | AIINFRA,
    "HostClockNotSynchronising": WARN | AIINFRA,
    "HostNetworkReceiveErrors": WARN | AIINFRA,
    "HostNetworkTransmitErrors": WARN | AIINFRA,
    "FeatureDriftDetected": HIGH | ML,
    "PredictionDriftDetected": HIGH | ML,
    "ModelPerformanceDegraded": HIGH | ML,
    "ModelFairnessViolation": HIGH | ML,
    "PrometheusScrapeFailure": WARN | PLATFORM,
    "PrometheusRuleEvaluationFailures": HIGH | PLATFORM,
    "PrometheusNotConnectedToAlertmanagers": HIGH | PLATFORM,
    "AlertmanagerNotificationsFailing": HIGH | PLATFORM,
    "AlertmanagerClusterMembersMissing": WARN | PLATFORM,
    "Watchdog": {"heartbeat"},
}


def write_config(directory: Path, config: dict | None = None) -> dict:
    """alertmanager.yml, templates/ and secrets/ (placeholders) in directory; returns the config."""
    config = config or rendered.role_policy()
    (directory / "templates").mkdir(exist_ok=True)
    (directory / "templates" / NOTIFICATION_TEMPLATES.name).write_text(NOTIFICATION_TEMPLATES.read_text())
    (directory / "secrets").mkdir(exist_ok=True)
    for name in routing.secret_files(config):
        value = "http://127.0.0.1:9/placeholder" if name.endswith("_url") else "placeholder-secret"
        (directory / "secrets" / name).write_text(value)
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def mounts(directory: Path) -> dict:
    return {directory / "alertmanager.yml": "/etc/alertmanager/alertmanager.yml",
            directory / "templates": "/etc/alertmanager/templates",
            directory / "secrets": "/etc/alertmanager/secrets"}


@pytest.fixture(scope="module")
def am_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("alertmanager")
    write_config(directory)
    return directory


def test_amtool_check_config_accepts_the_policy(am_dir):
    result = amtool(["check-config", "/etc/alertmanager/alertmanager.yml"], mounts(am_dir))
    assert result.ok, result.output
    assert "SUCCESS" in result.output


def test_amtool_check_config_rejects_environment_variables(tmp_path):
    """Defect 1: `${SLACK_WEBHOOK_URL}` is not expanded; the checker the role uses refuses it."""
    config = rendered.role_policy()
    config["global"]["slack_api_url"] = "${SLACK_WEBHOOK_URL}"
    write_config(tmp_path, config)
    result = amtool(["check-config", "/etc/alertmanager/alertmanager.yml"], mounts(tmp_path))
    assert not result.ok
    assert any("environment variable" in e for e in routing.routing_errors(config))


def _labels(rule: dict) -> dict:
    labels = {"alertname": rule["alert"], **rule["labels"]}
    labels.setdefault("instance", "host:9100")
    return labels


def test_the_promise_covers_every_alert():
    assert set(PROMISED) == {r["alert"] for r in alert_rules()}


def test_every_alert_reaches_exactly_the_promised_receivers(am_dir):
    rules = alert_rules()
    script = []
    for rule in rules:
        args = " ".join(shlex.quote(f"{k}={v}") for k, v in _labels(rule).items())
        script.append(f"echo '### {rule['alert']}'; /bin/amtool config routes test "
                      f"--config.file=/etc/alertmanager/alertmanager.yml {args} 2>/dev/null; echo")
    result = run_in_image(OFFLINE["alertmanager"], "/bin/sh", ["-c", "\n".join(script)], mounts(am_dir))
    got: dict[str, set[str]] = {}
    for block in result.stdout.split("### ")[1:]:
        name, _, receivers = block.partition("\n")
        got[name.strip()] = {r.strip() for r in receivers.strip().split(",") if r.strip()}
    assert len(got) == len(rules), result.output
    mismatches = {}
    for rule in rules:
        name = rule["alert"]
        expected = PROMISED[name] | ({"events-webhook"} if name != "Watchdog" else set())
        if got[name] != expected:
            mismatches[name] = {"expected": sorted(expected), "got": sorted(got[name])}
        assert "fallback" not in got[name], f"{name} reaches only the default route"
        assert got[name] - {"events-webhook"}, f"{name} reaches no human channel"
    assert mismatches == {}


def test_high_is_delivered_by_email_at_any_time():
    """Defects 6 and 7: the e-mail route for high has email_configs and no time restriction; the time-restricted
    Slack route continues, so it cannot swallow the alert at night."""
    config = rendered.role_policy()
    receivers = {r["name"]: r for r in config["receivers"]}
    high = [r for r in config["route"]["routes"] if r.get("matchers") == ['severity="high"']]
    always = [r for r in high if not r.get("active_time_intervals") and not r.get("mute_time_intervals")]
    assert any(receivers[r["receiver"]].get("email_configs") for r in always)
    assert all(r.get("continue") for r in high)


# --- inhibitions, applied by a real Alertmanager -----------------------------------------------------------------

@pytest.fixture(scope="module")
def alertmanager(am_dir):
    """A real Alertmanager with the policy, without network; driven with amtool through docker exec."""
    name = f"alertstack-routing-test-{uuid.uuid4().hex[:8]}"
    cmd = ["docker", "run", "-d", "--rm", "--name", name, "--network", "none", "--user", "0"]
    for host, container in mounts(am_dir).items():
        cmd += ["-v", f"{host}:{container}:ro"]
    cmd += [OFFLINE["alertmanager"], "--config.file=/etc/alertmanager/alertmanager.yml",
            "--storage.path=/tmp/am", "--cluster.listen-address="]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        for _ in range(60):
            ready = subprocess.run(["docker", "exec", name, "/bin/amtool", "--alertmanager.url=http://127.0.0.1:9093",
                                    "config", "show"], capture_output=True, text=True)
            if ready.returncode == 0:
                break
            time.sleep(0.5)
        else:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            pytest.fail(f"Alertmanager did not start: {logs.stdout}{logs.stderr}")
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def _alert(name: str, **extra: str) -> dict:
    rule = next(r for r in alert_rules() if r["alert"] == name)
    return {"alertname": name, **rule["labels"], **extra}


INHIBITION_CASES = [
    # (source alert, target alert, inhibited?)
    (_alert("InferenceErrorRateCritical"), _alert("InferenceErrorBudgetBurnHigh"), True),
    (_alert("InferenceErrorRateCritical"), _alert("InferenceErrorRateHigh"), True),
    (_alert("InferenceLatencyBurnRateCritical"), _alert("InferenceLatencyElevated"), True),
    (_alert("InferenceErrorRateCritical"), _alert("InferenceLatencyElevated"), False),      # other family
    (_alert("InferenceErrorBudgetBurnHigh"), _alert("InferenceErrorBudgetBurnSlow"), True),
    (_alert("FeatureStoreDown", instance="feature-store:8081"), _alert("FeatureStoreErrorsHigh"), True),
    (_alert("FeatureStoreDown", instance="feature-store:8081"), _alert("MissingFeaturesHigh", feature="age"), True),
    (_alert("FeatureStoreDown", instance="feature-store:8081"), _alert("GPUMemoryHigh", instance="gpu:8080"), False),
    (_alert("PrometheusScrapeFailure", instance="gpu:8080"), _alert("GPUMemoryHigh", instance="gpu:8080"), True),
    (_alert("PrometheusScrapeFailure", instance="other:8080"), _alert("GPUMemoryHigh", instance="gpu:8080"), False),
    (_alert("PrometheusScrapeFailure", instance="feature-store:8081"),
     _alert("FeatureStoreDown", instance="feature-store:8081"), False),
    # A host that is down hides everything else about that host, and only that host.
    (_alert("HostDown", host="gpu-1", instance="10.0.0.1:9100"), _alert("GPUXidError", host="gpu-1", gpu="0"), True),
    (_alert("HostDown", host="gpu-1", instance="10.0.0.1:9100"), _alert("GPUXidError", host="gpu-2", gpu="0"), False),
    # ... including the scrape failure of its node_exporter, which must not inhibit HostDown back (the test also
    # checks that the source is not inhibited: mutual inhibition would silence both).
    (_alert("HostDown", host="gpu-1", instance="10.0.0.1:9100"),
     _alert("PrometheusScrapeFailure", host="gpu-1", instance="10.0.0.1:9100"), True),
    # A missing GPU hides the other GPU alerts of its host, not its host alerts nor other hosts' GPUs.
    (_alert("GPUMissing", host="gpu-1"), _alert("GPUUtilizationLow", host="gpu-1", gpu="1"), True),
    (_alert("GPUMissing", host="gpu-1"), _alert("GPUXidError", host="gpu-2", gpu="0"), False),
    (_alert("GPUMissing", host="gpu-1"), _alert("HostFilesystemAlmostFull", host="gpu-1", mountpoint="/"), False),
    # Severity inhibition within a family stays on one host.
    (_alert("HostFilesystemAlmostFull", host="gpu-1", mountpoint="/"),
     _alert("HostFilesystemFillingUp", host="gpu-1", mountpoint="/data"), True),
    (_alert("HostFilesystemAlmostFull", host="gpu-1", mountpoint="/"),
     _alert("HostFilesystemFillingUp", host="gpu-2", mountpoint="/"), False),
]


@pytest.mark.parametrize("source,target,expected", INHIBITION_CASES,
                         ids=[f"{s['alertname']}-{t['alertname']}-{e}" for s, t, e in INHIBITION_CASES])
def test_inhibitions(alertmanager, source, target, expected):
    """Each case alone (its alerts are resolved afterwards): the target is inhibited exactly when the policy says."""
    amtool_cmd = "/bin/amtool --alertmanager.url=http://127.0.0.1:9093"
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    add = [" ".join([amtool_cmd, "alert", "add", *[shlex.quote(f"{k}={v}") for k, v in labels.items()],
                     "--annotation=summary=test"]) for labels in (source, target)]
    script = " && ".join([*add, "sleep 1", f"{amtool_cmd} alert query --active --inhibited -o json",
                          *[f"{a} --end={past} >/dev/null" for a in add]])
    proc = subprocess.run(["docker", "exec", alertmanager, "/bin/sh", "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    alerts = json.loads(proc.stdout)
    names = {a["labels"]["alertname"] for a in alerts}
    assert {source["alertname"], target["alertname"]} <= names, proc.stdout
    inhibited = {a["labels"]["alertname"] for a in alerts if a["status"]["inhibitedBy"]}
    assert (target["alertname"] in inhibited) is expected
    assert source["alertname"] not in inhibited, "the source alert itself was inhibited"


def test_templates_show_summary_value_service_runbook_and_dashboard(am_dir):
    """`amtool template render` with a realistic alert: every message template shows what on-call needs."""
    data = {"receiver": "slack-incidents", "status": "firing", "alerts": [{
        "status": "firing", "labels": {"alertname": "InferenceErrorRateCritical", "severity": "critical",
                                        "service": "inference-gateway", "team": "ml-platform"},
        "annotations": {"summary": "SUMMARY-TEXT", "description": "VALUE 50.43% of requests failed",
                        "runbook_url": "https://runbooks.test/inference-errors.html",
                        "dashboard_url": "https://grafana.test/d/slo-overview"},
        "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": "x"}],
        "groupLabels": {"alertname": "InferenceErrorRateCritical"},
        "commonLabels": {"alertname": "InferenceErrorRateCritical", "severity": "critical",
                         "service": "inference-gateway"},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093"}
    (am_dir / "data.json").write_text(json.dumps(data))
    for template in ("ai.slack.text", "ai.email.text", "ai.email.html"):
        result = amtool(["template", "render", "--template.glob=/etc/alertmanager/templates/*.tmpl",
                         "--template.data=/w/data.json", f'--template.text={{{{ template "{template}" . }}}}'],
                        {**mounts(am_dir), am_dir / "data.json": "/w/data.json"})
        assert result.ok, result.output
        for needle in ("SUMMARY-TEXT", "VALUE 50.43%", "inference-gateway",
                       "https://runbooks.test/inference-errors.html", "https://grafana.test/d/slo-overview"):
            assert needle in result.stdout, f"{template} lacks {needle}: {result.stdout}"
    result = amtool(["template", "render", "--template.glob=/etc/alertmanager/templates/*.tmpl",
                     "--template.data=/w/data.json",
                     '--template.text={{ template "ai.title" . }} {{ template "ai.pagerduty.description" . }}'],
                    {**mounts(am_dir), am_dir / "data.json": "/w/data.json"})
    assert result.ok, result.output
    assert "[FIRING:1] InferenceErrorRateCritical (critical, inference-gateway)" in result.stdout
    assert "SUMMARY-TEXT" in result.stdout
