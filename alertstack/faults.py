"""Faults of the drill scenarios, applied the way they happen in life, and their mitigations.

- latency, errors, gpu-oom, logging-outage: a bad release of the inference gateway is deployed (a new release.yml
  with the version bumped; the running one is kept as release.previous.yml) and the gateway reloads it (SIGHUP; it
  also notices the file change within a second). Mitigation: roll back to release.previous.yml; for gpu-oom also
  restart the gateway, since leaked GPU memory only comes back with the process.
- feature-store: the feature store container is stopped (a dependency goes away). Mitigation: start it.
- drift: a background load generator sends traffic whose user_age is drawn from a shifted distribution.
  Mitigation: stop it (traffic back to normal).
- model-performance: concept drift. The demo world's fraud pattern changes: a second group of users (a container of
  the demo traffic's own image, on the stack's network, `TRAFFIC_CONCEPT=shifted`) sends ordinary inputs
  (user_age from the training distribution: no feature drift) and posts outcomes labelled by the new concept (fraud
  among older users) to the gateway's /feedback, four times faster than the steady traffic posts its own. The live
  AUC-ROC on the feedback window falls below 0.75; the model, its inputs and its latency are unchanged.
  Mitigation: stop the shifted source (what retraining on the new concept achieves in production: the measured
  outcomes follow what the served model ranks again; the runbook says both). Removed with `docker rm -f`.
- network-latency: the network degrades instead of the application (what Chaos Mesh's NetworkChaos does): a
  `tc netem` delay (and optional loss) qdisc on the feature store container's interface, set inside the container's
  own network namespace (`nsenter -t <pid> -n tc ...` from the host, iproute2). Every feature lookup of the gateway
  waits for it, so /predict slows down. Mitigation: delete the qdisc (the runner does it on Ctrl-C too).

inject() and mitigate() return quickly, are idempotent, and return a dict saying what they did ("changed").
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from alertstack.localstack import LocalStack

SCENARIOS = ("latency", "errors", "feature-store", "drift", "gpu-oom", "logging-outage", "network-latency",
             "model-performance")

# What each bad release changes (the gateway's release keys; see apps/inference_gateway/release.py).
BAD_RELEASES = {
    "latency": {"added_latency_ms": 600.0, "change": "enable ensemble re-ranking (a second model pass per request)"},
    "errors": {"error_ratio": 0.6, "change": "upgrade the feature preprocessing library"},
    "gpu-oom": {"gpu_memory_leak_mb_per_s": 128.0, "change": "cache embeddings on the GPU"},
    "logging-outage": {"log_output": "none", "change": "switch the logging backend"},
}

MITIGATION_COMMANDS = {
    "latency": "invoke fault rollback --scenario latency",
    "errors": "invoke fault rollback --scenario errors",
    "gpu-oom": "invoke fault rollback --scenario gpu-oom",
    "logging-outage": "invoke fault rollback --scenario logging-outage",
    "feature-store": "invoke fault mitigate --scenario feature-store",
    "drift": "invoke fault mitigate --scenario drift",
    "network-latency": "invoke fault mitigate --scenario network-latency",
    "model-performance": "invoke fault mitigate --scenario model-performance",
}

MITIGATION_ACTIONS = {
    "latency": "roll the inference gateway back to the previous release",
    "errors": "roll the inference gateway back to the previous release",
    "gpu-oom": "roll the inference gateway back to the previous release, then restart it to free GPU memory",
    "logging-outage": "roll the inference gateway back to the previous release",
    "feature-store": "start the feature store container again",
    "drift": "stop the drifted traffic (switch inputs back to the normal source)",
    "network-latency": "remove the netem qdisc from the feature store's interface (network back to normal)",
    "model-performance": "stop the outcomes labelled by the shifted concept (the stand-in for rolling out a model "
                         "retrained on it): the feedback window measures the served model on its own concept again",
}

# The network fault: netem on the feature store's interface (the gateway's feature lookups cross it).
NETWORK = {"container": "feature-store", "dev": "eth0", "delay_ms": 500, "loss_percent": 0.0}

# The concept-drift fault: a container of the steady traffic's image, its outcomes labelled by the shifted concept.
CONCEPT_SHIFT = {"container": "concept-shift", "source": "demo-traffic", "rps": 20, "max_s": 1800}
CONCEPT_SHIFT_LABEL = "ai-alerting.fault=model-performance"

DRIFT_RPS = 10
DRIFT_DURATION_S = 1800
GATEWAY = "inference-gateway"
FEATURE_STORE = "feature-store"


class FaultError(RuntimeError):
    pass


def _check(scenario: str) -> None:
    if scenario not in SCENARIOS:
        raise FaultError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")


def _docker(*args: str, timeout: int = 60) -> str:
    try:
        proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FaultError(f"docker {' '.join(args)}: {exc}") from exc
    if proc.returncode != 0:
        raise FaultError(f"docker {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def _on_host(stack: LocalStack, *args: str) -> str:
    """`docker ARGS` where the stack's containers run: this machine, or the environment's hosts when the stack
    reaches them itself (alertstack.labstack.LabStack.docker: every inference host of the lab, over SSH)."""
    remote = getattr(stack, "docker", None)
    if remote is None:
        return _docker(*args)
    try:
        return remote(*args)
    except RuntimeError as exc:
        raise FaultError(str(exc)) from exc


def _container_running(name: str) -> bool:
    return _docker("inspect", "--format", "{{.State.Running}}", name) == "true"


# --- releases ----------------------------------------------------------------------------------------------------

def read_release(path: Path, stack: LocalStack | None = None) -> dict:
    try:
        data = yaml.safe_load(stack.read_file(path) if stack else Path(path).read_text())
    except FileNotFoundError:
        raise FaultError(f"no release deployed at {path}: deploy the demo platform first") from None
    if not isinstance(data, dict):
        raise FaultError(f"{path}: release config must be a mapping")
    return data


def _write_atomic(path: Path, data: dict, stack: LocalStack | None = None) -> None:
    text = ("# written by alertstack.faults at " + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            + "\n" + yaml.safe_dump(data, sort_keys=False))
    (stack or LocalStack()).write_file(path, text)  # a new inode: the gateway's directory mount sees it at once


def bump_version(version) -> str:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", str(version))
    if match:
        major, minor, patch = (int(g) for g in match.groups())
        return f"{major}.{minor}.{patch + 1}"
    return f"{version}.1"


def gateway_health(stack: LocalStack, timeout_s: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{stack.gateway_url.rstrip('/')}/healthz", timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def reload_gateway(stack: LocalStack, version: str, wait_s: float = 15.0, signal_container: bool = True) -> dict:
    """SIGHUP the gateway container, then wait until it reports `version`."""
    if signal_container:
        _on_host(stack, "kill", "--signal", "HUP", stack.container(GATEWAY))
    deadline = time.monotonic() + wait_s
    health = None
    while time.monotonic() < deadline:
        health = gateway_health(stack)
        if health and health.get("version") == version:
            return {"reloaded": True, "gateway_version": version}
        time.sleep(0.25)
    raise FaultError(f"the gateway did not report release {version} within {wait_s:.0f}s "
                     f"(it reports {health.get('version') if health else 'nothing: unreachable'})")


def deploy_bad_release(scenario: str, stack: LocalStack, reload: bool = True) -> dict:
    """Deploy the bad release of `scenario` (no-op when its changes are already live)."""
    bad = BAD_RELEASES[scenario]
    current = read_release(stack.release_file, stack)
    knobs = {k: v for k, v in bad.items() if k != "change"}
    if all(current.get(k) == v for k, v in knobs.items()):
        return {"changed": False, "version": str(current.get("version")),
                "detail": f"release {current.get('version')} already has {knobs}"}
    if not stack.file_exists(stack.previous_release_file):  # keep the last good release, even when faults stack up
        _write_atomic(stack.previous_release_file, current, stack)
    new = {**current, **bad, "version": bump_version(current.get("version", "1.0.0"))}
    _write_atomic(stack.release_file, new, stack)
    result = {"changed": True, "version": new["version"], "previous_version": str(current.get("version")),
              "detail": f"deployed release {new['version']} ({bad['change']})"}
    if reload:
        result.update(reload_gateway(stack, new["version"]))
    return result


def rollback_release(stack: LocalStack, reload: bool = True) -> dict:
    """Restore release.previous.yml (no-op when there is nothing to roll back)."""
    if not stack.file_exists(stack.previous_release_file):
        current = read_release(stack.release_file, stack)
        return {"changed": False, "version": str(current.get("version")), "detail": "nothing to roll back"}
    bad_version = str(read_release(stack.release_file, stack).get("version"))
    good = read_release(stack.previous_release_file, stack)
    stack.move_file(stack.previous_release_file, stack.release_file)
    result = {"changed": True, "version": str(good.get("version")), "rolled_back_from": bad_version,
              "detail": f"rolled back from {bad_version} to {good.get('version')}"}
    if reload:
        result.update(reload_gateway(stack, str(good.get("version"))))
    return result


def restart_gateway(stack: LocalStack, wait_s: float = 30.0) -> dict:
    _on_host(stack, "restart", "--time", "5", stack.container(GATEWAY))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        health = gateway_health(stack)
        if health and health.get("status") == "ok":
            return {"restarted": True}
        time.sleep(0.5)
    raise FaultError(f"the gateway was restarted but is not healthy after {wait_s:.0f}s")


# --- drifted traffic ----------------------------------------------------------------------------------------------

def _pidfile(stack: LocalStack) -> Path:
    return stack.state_dir / "drift-loadgen.pid"


def _our_loadgen(pid: int) -> bool:
    """True when pid is alive and is the load generator this module started."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"alertstack.loadgen" in cmdline and b"--drift" in cmdline


def start_drift(stack: LocalStack, rps: float = DRIFT_RPS, duration_s: float = DRIFT_DURATION_S) -> dict:
    pidfile = _pidfile(stack)
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid and _our_loadgen(pid):
            return {"changed": False, "pid": pid, "detail": "drifted traffic already running"}
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    from alertstack.loadgen import check_target
    url = f"{stack.gateway_url.rstrip('/')}/predict"
    check_target(url, rps, duration_s)
    log = (stack.state_dir / "drift-loadgen.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "alertstack.loadgen", "--url", url, "--rps", str(rps),
                             "--duration", str(duration_s), "--drift"], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    # Until the child has exec'd, /proc/<pid>/cmdline is still this process's: wait for it to be the load generator,
    # so that drift_running() and a second inject() see it at once (they used to race with the exec).
    deadline = time.monotonic() + 5
    while not _our_loadgen(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        raise FaultError(f"the drifted load generator exited at once (exit {proc.returncode}); "
                         f"see {stack.state_dir / 'drift-loadgen.log'}")
    pidfile.write_text(f"{proc.pid}\n")
    return {"changed": True, "pid": proc.pid,
            "detail": f"drifted traffic started: {rps} req/s, user_age ~ N(50, 15), at most {duration_s:.0f}s"}


def stop_drift(stack: LocalStack, wait_s: float = 10.0) -> dict:
    pidfile = _pidfile(stack)
    if not pidfile.exists():
        return {"changed": False, "detail": "no drifted traffic running"}
    pid = int(pidfile.read_text().strip() or 0)
    changed = False
    if pid and _our_loadgen(pid):
        os.kill(pid, signal.SIGTERM)
        changed = True
        deadline = time.monotonic() + wait_s
        while _our_loadgen(pid) and time.monotonic() < deadline:
            try:  # reap it when it is our child
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return {"changed": changed, "pid": pid,
            "detail": "drifted traffic stopped" if changed else "drifted traffic had already ended"}


def drift_running(stack: LocalStack) -> bool:
    pidfile = _pidfile(stack)
    return pidfile.exists() and _our_loadgen(int(pidfile.read_text().strip() or 0))


# --- concept drift (a container of the demo traffic's image, labelling outcomes with the shifted concept) --------

def concept_shift_running(stack: LocalStack) -> bool:
    name = stack.container(CONCEPT_SHIFT["container"])
    out = _on_host(stack, "ps", "--all", "--filter", f"name=^{name}$", "--format", "{{.State}}")
    return out.strip() == "running"


def start_concept_shift(stack: LocalStack, rps: float = CONCEPT_SHIFT["rps"],
                        max_s: float = CONCEPT_SHIFT["max_s"]) -> dict:
    """Run the shifted concept's labelling: the steady traffic's container (image, network, app mount, target)
    again, with TRAFFIC_CONCEPT=shifted and TRAFFIC_FEEDBACK_ONLY=1: labelled outcomes of ordinary inputs, no
    prediction requests (the SLOs' traffic stays the steady users'), at `rps` for at most `max_s` (then it exits
    and is removed: --rm)."""
    name = stack.container(CONCEPT_SHIFT["container"])
    if concept_shift_running(stack):
        return {"changed": False, "container": name, "detail": f"{name} already sends shifted-concept outcomes"}
    source = stack.container(CONCEPT_SHIFT["source"])
    try:
        spec = json.loads(_on_host(stack, "inspect", "--type", "container", source))[0]
    except (ValueError, IndexError, TypeError) as exc:
        raise FaultError(f"cannot read the container {source}: {exc}") from None
    except FaultError as exc:
        raise FaultError(f"the model-performance fault runs the steady traffic's container again, and {source} "
                         f"is not there (demo_platform_traffic_rps: 0?): {exc}") from None
    config = spec.get("Config") or {}
    env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
    if not env.get("TRAFFIC_URL"):
        raise FaultError(f"{source} has no TRAFFIC_URL: not the demo traffic")
    env.update(TRAFFIC_RPS=f"{rps:g}", TRAFFIC_MAX_S=f"{max_s:g}", TRAFFIC_CONCEPT="shifted",
               TRAFFIC_FEEDBACK_SHARE="1", TRAFFIC_FEEDBACK_ONLY="1")
    networks = list(((spec.get("NetworkSettings") or {}).get("Networks") or {}))
    args = ["run", "--detach", "--rm", "--name", name, "--label", CONCEPT_SHIFT_LABEL]
    if networks:
        args += ["--network", networks[0]]
    if config.get("User"):
        args += ["--user", config["User"]]
    if config.get("WorkingDir"):
        args += ["--workdir", config["WorkingDir"]]
    for mount in spec.get("Mounts") or []:
        if mount.get("Type") == "bind":
            args += ["--volume", f"{mount['Source']}:{mount['Destination']}:ro"]
    for key in ("TRAFFIC_URL", "TRAFFIC_RPS", "TRAFFIC_MAX_S", "TRAFFIC_CONCEPT", "TRAFFIC_FEEDBACK_SHARE",
                "TRAFFIC_FEEDBACK_ONLY", "TRAFFIC_ALLOWED_HOSTS"):
        if key in env:
            args += ["--env", f"{key}={env[key]}"]
    args += [config.get("Image") or spec.get("Image"), *(config.get("Cmd") or ["python3", "-m", "demo_traffic"])]
    _on_host(stack, "rm", "--force", name)  # a stopped one of an earlier run (normally none: --rm)
    _on_host(stack, *args)
    return {"changed": True, "container": name,
            "detail": f"started {name}: {rps:g}/s labelled outcomes of ordinary inputs (no predictions) from "
                      f"{source}'s image, labelled by the shifted concept (fraud among older users), at most "
                      f"{max_s:.0f}s"}


def stop_concept_shift(stack: LocalStack) -> dict:
    name = stack.container(CONCEPT_SHIFT["container"])
    exists = bool(_on_host(stack, "ps", "--all", "--quiet", "--filter", f"name=^{name}$").strip())
    if exists:
        _on_host(stack, "rm", "--force", name)
    return {"changed": exists, "container": name,
            "detail": f"removed {name}: outcomes follow the trained concept again" if exists
            else f"no {name} container: no shifted-concept outcomes"}


# --- network (tc netem in the container's network namespace) -----------------------------------------------------

def _netns_tc(stack: LocalStack, *args: str) -> subprocess.CompletedProcess:
    """`tc ARGS` inside the network namespace of the NETWORK container (nsenter into its pid's netns)."""
    name = stack.container(NETWORK["container"])
    pid = _docker("inspect", "--format", "{{.State.Pid}}", name)
    if not pid or pid == "0":
        raise FaultError(f"{name} is not running: no network namespace to degrade")
    try:
        return subprocess.run(["nsenter", "-t", pid, "-n", "tc", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise FaultError(f"{exc.filename} not found: the network fault needs nsenter (util-linux) and tc "
                         f"(iproute2) on the host, and root") from None


def netem_supported() -> str | None:
    """None when this host's kernel has the netem qdisc; else why not. Probed in a throwaway network namespace
    (`unshare -n`), so nothing of the stack is touched."""
    try:
        proc = subprocess.run(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
                              capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return f"cannot probe netem: {exc}"
    if proc.returncode != 0:
        return (f"the kernel has no netem qdisc (sch_netem): `tc qdisc add ... netem` says "
                f"{proc.stderr.strip() or proc.returncode!r}")
    return None


def netem_active(stack: LocalStack) -> bool:
    proc = _netns_tc(stack, "qdisc", "show", "dev", NETWORK["dev"])
    return proc.returncode == 0 and " netem " in f" {proc.stdout} "


def add_netem(stack: LocalStack, delay_ms: float = NETWORK["delay_ms"], loss_percent: float = NETWORK["loss_percent"]
              ) -> dict:
    if netem_active(stack):
        return {"changed": False, "detail": f"netem already on {NETWORK['container']} {NETWORK['dev']}"}
    missing = netem_supported()
    if missing:
        raise FaultError(f"the network fault cannot run on this host: {missing}")
    args = ["qdisc", "add", "dev", NETWORK["dev"], "root", "netem", "delay", f"{delay_ms:g}ms"]
    if loss_percent:
        args += ["loss", f"{loss_percent:g}%"]
    proc = _netns_tc(stack, *args)
    if proc.returncode != 0:
        raise FaultError(f"tc {' '.join(args)} failed in {stack.container(NETWORK['container'])}'s network "
                         f"namespace: {proc.stderr.strip()}")
    return {"changed": True, "detail": f"netem delay {delay_ms:g}ms" + (f" loss {loss_percent:g}%" if loss_percent
                                                                            else "")
            + f" on {stack.container(NETWORK['container'])} {NETWORK['dev']} (tc in its network namespace)"}


def remove_netem(stack: LocalStack) -> dict:
    if not netem_active(stack):
        return {"changed": False, "detail": f"no netem qdisc on {NETWORK['container']} {NETWORK['dev']}"}
    proc = _netns_tc(stack, "qdisc", "del", "dev", NETWORK["dev"], "root")
    if proc.returncode != 0 and netem_active(stack):
        raise FaultError(f"tc qdisc del dev {NETWORK['dev']} root failed: {proc.stderr.strip()}")
    return {"changed": True, "detail": f"netem qdisc removed from {stack.container(NETWORK['container'])} "
                                       f"{NETWORK['dev']}"}


# --- the two entry points -----------------------------------------------------------------------------------------


def stop_feature_store(stack: LocalStack) -> dict:
    """The feature-store fault: its container stopped (the gateway then answers 503 FeatureNotFound)."""
    name = stack.container(FEATURE_STORE)
    running = _container_running(name)
    if running:
        _docker("stop", "--time", "5", name)
    return {"changed": running, "detail": f"stopped container {name}" if running else f"{name} already stopped"}


def start_feature_store(stack: LocalStack) -> dict:
    name = stack.container(FEATURE_STORE)
    running = _container_running(name)
    if not running:
        _docker("start", name)
    return {"changed": not running, "detail": f"{name} already running" if running else f"started container {name}"}


# The faults that are not a bad release: scenario -> (inject, mitigate).
_INJECT = {"feature-store": stop_feature_store, "network-latency": add_netem,
           "model-performance": start_concept_shift, "drift": start_drift}
_MITIGATE = {"feature-store": start_feature_store, "network-latency": remove_netem,
             "model-performance": stop_concept_shift, "drift": stop_drift}

def inject(scenario: str, stack: LocalStack) -> dict:
    _check(scenario)
    if scenario in BAD_RELEASES:
        result = deploy_bad_release(scenario, stack)
    else:
        result = _INJECT[scenario](stack)
    return {"scenario": scenario, "action": "inject", "at": time.time(),
            "mitigation_command": MITIGATION_COMMANDS[scenario], **result}


def mitigate(scenario: str, stack: LocalStack) -> dict:
    _check(scenario)
    if scenario in BAD_RELEASES:
        result = rollback_release(stack)
        if scenario == "gpu-oom":
            result.update(restart_gateway(stack))
    else:
        result = _MITIGATE[scenario](stack)
    return {"scenario": scenario, "action": "mitigate", "at": time.time(), "command": MITIGATION_COMMANDS[scenario],
            "description": MITIGATION_ACTIONS[scenario], **result}
