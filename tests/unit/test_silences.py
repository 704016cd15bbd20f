"""alertstack.silences: input validation (no HTTP at all), then a real Alertmanager round trip."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml

from alertstack import silences
from alertstack.images import OFFLINE
from alertstack.silences import SilenceError

USER, PASSWORD = "drill", "s3cret-" + uuid.uuid4().hex[:8]


@pytest.fixture
def no_http(monkeypatch):
    """Any HTTP call fails the test: validation must happen before the request."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"an HTTP call was made: {args}")
    monkeypatch.setattr(requests, "request", refuse)


# --- validation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("alertname=InferenceErrorRateCritical",
     {"name": "alertname", "value": "InferenceErrorRateCritical", "isRegex": False, "isEqual": True}),
    ("service!=gpu", {"name": "service", "value": "gpu", "isRegex": False, "isEqual": False}),
    ("alertname=~Inference.*", {"name": "alertname", "value": "Inference.*", "isRegex": True, "isEqual": True}),
    ('severity!~"warning|info"', {"name": "severity", "value": "warning|info", "isRegex": True, "isEqual": False}),
    (" team = ml-platform ", {"name": "team", "value": "ml-platform", "isRegex": False, "isEqual": True}),
])
def test_parse_matcher(text, expected):
    assert silences.parse_matcher(text) == expected


@pytest.mark.parametrize("text, message", [
    ("alertname", "no operator"),
    ("", "empty"),
    ("1abc=foo", "label name '1abc' is invalid"),
    ("alertname=~(unclosed", "does not compile"),
])
def test_parse_matcher_rejects(text, message):
    with pytest.raises(SilenceError, match=message):
        silences.parse_matcher(text)


@pytest.mark.parametrize("matchers, message", [
    ([], "at least one matcher"),
    (["alertname=~.*"], "silence every alert"),
    (["service!=x-that-never-exists", "team=~.*"], "silence every alert"),
    (["service=gpu", "service=gpu"], "given twice"),
])
def test_validate_matchers_rejects(matchers, message):
    with pytest.raises(SilenceError, match=message):
        silences.validate_matchers(matchers)


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400),
                                           ("1w", 604800), ("90s", 90)])
def test_parse_duration(text, seconds):
    assert silences.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text, message", [("", "required"), ("30", "not valid"), ("2 hours", "not valid"),
                                           ("h", "not valid"), ("10s", "shorter than"), ("31d", "longer than"),
                                           ("5w", "longer than"), ("-1h", "not valid")])
def test_parse_duration_rejects(text, message):
    with pytest.raises(SilenceError, match=message):
        silences.parse_duration(text)


@pytest.mark.parametrize("kwargs, message", [
    ({"matchers": []}, "at least one matcher"),
    ({"duration": "forever"}, "duration 'forever' is not valid"),
    ({"comment": "  "}, "comment is required"),
    ({"author": ""}, "author is required"),
    ({"alertmanager_url": "alertmanager:9093"}, "must start with http"),
])
def test_add_validates_before_any_http_call(no_http, kwargs, message):
    args = {"alertmanager_url": "http://127.0.0.1:9", "matchers": ["service=gpu"], "duration": "1h",
            "comment": "disk swap", "author": "alice"}
    args.update(kwargs)
    with pytest.raises(SilenceError, match=message):
        silences.add(**args)


def test_expire_and_maintenance_validate_before_any_http_call(no_http):
    with pytest.raises(SilenceError, match="not a silence id"):
        silences.expire("http://127.0.0.1:9", "abc")
    with pytest.raises(SilenceError, match="plain label value"):
        silences.maintenance("http://127.0.0.1:9", "gpu,team=x", "1h", "alice")
    with pytest.raises(SilenceError, match="service is required"):
        silences.maintenance("http://127.0.0.1:9", "", "1h", "alice")
    with pytest.raises(SilenceError, match="longer than"):
        silences.maintenance("http://127.0.0.1:9", "gpu", "60d", "alice")


def test_build_silence_body():
    start = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    body = silences.build_silence(["service=gpu"], "2h", "driver upgrade", "alice", starts_at=start)
    assert body == {"matchers": [{"name": "service", "value": "gpu", "isRegex": False, "isEqual": True}],
                    "startsAt": "2026-01-02T03:04:05.000Z", "endsAt": "2026-01-02T05:04:05.000Z",
                    "createdBy": "alice", "comment": "driver upgrade"}


# --- desired_silences_diff -----------------------------------------------------------------------------------

def _existing(sid, matchers, comment, created_by=silences.ANSIBLE_CREATED_BY, state="active"):
    return {"id": sid, "status": {"state": state}, "comment": comment, "createdBy": created_by,
            "matchers": [silences.parse_matcher(m) for m in matchers]}


def test_diff_creates_keeps_and_expires_only_its_own():
    declared = [{"matchers": ["service=gpu"], "duration": "2h", "comment": "driver upgrade"},
                {"matchers": ["team=data", "severity=~warning|info"], "duration": "1d", "comment": "migration"}]
    existing = [
        _existing("k1", ["severity=~warning|info", "team=data"], "migration"),        # same set, other order: keep
        _existing("old", ["service=feature-store"], "no longer declared"),            # ours, undeclared: expire
        _existing("human", ["service=feature-store"], "by hand", created_by="bob"),   # not ours: untouched
        _existing("gone", ["service=gpu"], "driver upgrade", state="expired"),        # expired: does not count
    ]
    diff = silences.desired_silences_diff(existing, declared)
    assert diff["keep"] == ["k1"]
    assert diff["expire"] == ["old"]
    assert len(diff["create"]) == 1
    body = diff["create"][0]
    assert body["createdBy"] == silences.ANSIBLE_CREATED_BY
    assert body["comment"] == "driver upgrade"
    assert body["matchers"] == [{"name": "service", "value": "gpu", "isRegex": False, "isEqual": True}]


def test_diff_is_empty_when_everything_is_in_place():
    declared = [{"matchers": ["service=gpu"], "duration": "2h", "comment": "driver upgrade"}]
    diff = silences.desired_silences_diff([_existing("a", ["service=gpu"], "driver upgrade")], declared)
    assert diff == {"create": [], "keep": ["a"], "expire": []}


@pytest.mark.parametrize("declared, message", [
    ({"matchers": ["a=b"]}, "must be a list"),
    ([{"matchers": ["service=gpu"], "duration": "2h"}], r"alertmanager_silences\[0\] is missing 'comment'"),
    ([{"matchers": ["service=gpu"], "duration": "2h", "comment": "x", "until": "y"}], "unknown keys"),
    ([{"matchers": ["service"], "duration": "2h", "comment": "x"}], r"\[0\]: matcher 'service' has no operator"),
    ([{"matchers": ["a=b"], "duration": "2h", "comment": "x"}, {"matchers": ["a=b"], "duration": "1h",
                                                                "comment": "x"}], "same matchers and comment"),
])
def test_diff_rejects_bad_declarations(declared, message):
    with pytest.raises(SilenceError, match=message):
        silences.desired_silences_diff([], declared)


# --- a real Alertmanager -------------------------------------------------------------------------------------

AM_CONFIG = """\
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/ready", auth=(USER, PASSWORD), timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"Alertmanager at {url} did not become ready in {timeout}s")


@pytest.fixture(scope="module")
def alertmanager():
    """A real Alertmanager (offline image) with basic auth, on a random 127.0.0.1 port; removed afterwards."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not available")
    workdir = Path(tempfile.mkdtemp(prefix="am-silences-"))
    os.chmod(workdir, 0o755)
    (workdir / "alertmanager.yml").write_text(AM_CONFIG)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (workdir / "web.yml").write_text(f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    for f in workdir.iterdir():
        os.chmod(f, 0o644)
    name = f"ai-alerting-test-silences-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "-d", "--name", name, "-p", "127.0.0.1::9093",
                    "-v", f"{workdir}:/etc/alertmanager:ro", OFFLINE["alertmanager"],
                    "--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                    "--web.config.file=/etc/alertmanager/web.yml", "--cluster.listen-address="],
                   check=True, capture_output=True, text=True)
    try:
        port = subprocess.run(["docker", "port", name, "9093/tcp"], check=True, capture_output=True,
                              text=True).stdout.split("\n")[0].rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
        except RuntimeError:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            raise RuntimeError(f"Alertmanager did not start: {logs.stdout}{logs.stderr}") from None
        yield url
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.docker
def test_round_trip_add_list_expire(alertmanager):
    auth = (USER, PASSWORD)
    sid = silences.add(alertmanager, ["alertname=InferenceErrorRateCritical", "service=~inference-.*"], "30m",
                       "drill: checking silences", "pytest", auth=auth)
    active = silences.list(alertmanager, auth=auth)
    mine = [s for s in active if s["id"] == sid]
    assert len(mine) == 1
    s = mine[0]
    assert s["createdBy"] == "pytest" and s["comment"] == "drill: checking silences"
    assert {(m["name"], m["value"], m["isRegex"]) for m in s["matchers"]} == {
        ("alertname", "InferenceErrorRateCritical", False), ("service", "inference-.*", True)}
    ends = datetime.fromisoformat(s["endsAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < ends - datetime.now(timezone.utc) <= timedelta(minutes=30)
    assert sid in silences.format_silence(s)

    silences.expire(alertmanager, sid, auth=auth)
    assert sid not in [x["id"] for x in silences.list(alertmanager, auth=auth)]
    assert sid in [x["id"] for x in silences.list(alertmanager, auth=auth, state="expired")]


@pytest.mark.docker
def test_maintenance_silences_the_service(alertmanager):
    auth = (USER, PASSWORD)
    sid = silences.maintenance(alertmanager, "feature-store", "2h", "pytest", auth=auth)
    try:
        s = next(x for x in silences.list(alertmanager, auth=auth) if x["id"] == sid)
        assert s["comment"] == "scheduled maintenance"
        assert s["matchers"] == [{"name": "service", "value": "feature-store", "isRegex": False, "isEqual": True}]
    finally:
        silences.expire(alertmanager, sid, auth=auth)


@pytest.mark.docker
def test_wrong_credentials_and_unknown_id_are_clear_errors(alertmanager):
    with pytest.raises(SilenceError, match="refused the credentials"):
        silences.list(alertmanager, auth=(USER, "wrong"))
    with pytest.raises(SilenceError, match="refused the credentials"):
        silences.add(alertmanager, ["service=gpu"], "1h", "x", "pytest")
    with pytest.raises(SilenceError, match="answered 404"):
        silences.expire(alertmanager, str(uuid.uuid4()), auth=(USER, PASSWORD))


@pytest.mark.docker
def test_unreachable_alertmanager_is_a_clear_error():
    with pytest.raises(SilenceError, match="unreachable"):
        silences.list("http://127.0.0.1:9", auth=(USER, PASSWORD))


# --- the Ansible role, against the same real Alertmanager ----------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: silences
"""


def _apply_role(tmp_path: Path, url: str, declared: list, password: str = PASSWORD) -> tuple[int, int, str]:
    """Run the silences role once; returns (changed tasks, failed tasks, output) from the play recap."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "alertmanager_silences": declared, "silences_alertmanager_url": url, "silences_api_user": USER,
        "silences_api_password": password, "stack_render_only": False,
        "ansible_python_interpreter": sys.executable}))
    (tmp_path / "ansible.cfg").write_text(f"[defaults]\nroles_path = {REPO / 'roles'}\n"
                                          f"filter_plugins = {REPO / 'filter_plugins'}\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "play.yml",
                           "-e", "@vars.yml"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    out = proc.stdout + proc.stderr
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    assert recap, out
    return int(recap.group(1)), int(recap.group(2)), out


def _ours(url):
    return sorted((s["comment"], s["id"]) for s in silences.list(url, auth=(USER, PASSWORD))
                  if s["createdBy"] == silences.ANSIBLE_CREATED_BY)


@pytest.mark.docker
def test_role_applies_declared_silences_idempotently(alertmanager, tmp_path):
    human = silences.add(alertmanager, ["service=feature-store"], "1h", "by hand", "bob", auth=(USER, PASSWORD))
    declared = [{"matchers": ["service=gpu"], "duration": "2h", "comment": "driver upgrade"},
                {"matchers": ["team=data", "severity=~warning|info"], "duration": "1d", "comment": "migration"}]
    try:
        changed, failed, out = _apply_role(tmp_path, alertmanager, declared)
        assert (changed, failed) == (1, 0), out          # one task changed (it created both)
        first = _ours(alertmanager)
        assert [c for c, _ in first] == ["driver upgrade", "migration"]

        changed, failed, out = _apply_role(tmp_path, alertmanager, declared)
        assert (changed, failed) == (0, 0), out          # re-run: nothing to do
        assert _ours(alertmanager) == first              # the same silences, not new ones

        changed, failed, out = _apply_role(tmp_path, alertmanager, declared[:1])
        assert (changed, failed) == (1, 0), out          # "migration" no longer declared: expired
        assert [c for c, _ in _ours(alertmanager)] == ["driver upgrade"]
        assert human in [s["id"] for s in silences.list(alertmanager, auth=(USER, PASSWORD))]  # never touched
    finally:
        for s in silences.list(alertmanager, auth=(USER, PASSWORD)):
            silences.expire(alertmanager, s["id"], auth=(USER, PASSWORD))


@pytest.mark.docker
def test_role_refuses_a_bad_declaration_before_calling_the_api(alertmanager, tmp_path):
    changed, failed, out = _apply_role(tmp_path, alertmanager,
                                       [{"matchers": ["alertname=~.*"], "duration": "2h", "comment": "all"}],
                                       password="wrong")
    assert failed == 1
    assert "alertmanager_silences[0]: these matchers would silence every alert" in out
    assert "401" not in out  # stopped in preflight, before any API call
