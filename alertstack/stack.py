"""Bring environments up and down with the real playbook, and time deployments."""
from __future__ import annotations

import subprocess

from alertstack import ansible, endpoints, smoke
from alertstack.progress import say

LOCAL = "local"


def deploy(env: str, args: list[str] | None = None, silence: str | None = None,
           author: str | None = None) -> ansible.PlaybookRun:
    """ansible-playbook -i inventories/<env> site.yml, streaming its output. With `silence` (a margin such as 10m),
    the services the deploy touches are silenced while the play runs, critical alerts excepted
    (alertstack.deploy_silence), and the silence is expired when it ends, also on failure."""
    if silence is not None:
        from alertstack import deploy_silence
        with deploy_silence.for_env(env, silence, author):
            return deploy(env, args)
    say(f"Deploying {env} with site.yml")
    run = ansible.playbook(env, args=args)
    say(f"deploy {env}: exit {run.returncode} after {run.seconds:.1f}s")
    return run


def urls(env: str = LOCAL) -> dict[str, str]:
    """Where a person reaches the services of an environment."""
    hv = endpoints.monitoring_hostvars(env)
    found = {
        "Prometheus": hv.get("prometheus_external_url"),
        "Alertmanager": hv.get("alertmanager_external_url"),
        "Runbooks": hv.get("runbooks_base_url"),
        "Grafana": hv.get("grafana_external_url") if hv.get("images_mode") != "offline" else None,
        "Notification sink": hv.get("notification_sink_url") if hv.get("notification_sink_enabled") else None,
        "Inference gateway": hv.get("demo_gateway_url") if hv.get("demo_platform_enabled") else None,
    }
    return {k: v for k, v in found.items() if v}


def up() -> int:
    """Deploy the local environment, smoke-check it and print its URLs; the exit code of the whole job."""
    run = deploy(LOCAL)
    if not run.ok:
        return run.returncode
    report = smoke.smoke(endpoints.for_env(LOCAL))
    say("\nThe local stack:")
    for name, url in urls(LOCAL).items():
        say(f"  {name:18} {url}")
    return 0 if report.ok else 1


def down(project: str = "ai-alerting", volumes: bool = False) -> int:
    """Stop and remove every container of the local Compose project (named volumes kept unless `volumes`)."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
                         capture_output=True, text=True, check=True).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], check=True, capture_output=True)
    say(f"removed {len(ids)} containers of project {project}")
    if volumes:
        vols = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
                              capture_output=True, text=True, check=True).stdout.split()
        if vols:
            subprocess.run(["docker", "volume", "rm", *vols], check=True, capture_output=True)
        say(f"removed {len(vols)} volumes")
    return 0
