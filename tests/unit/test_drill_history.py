"""alertstack.drills.history: the raw history it writes and the recorded rules it backfills (the backfill into a
running Prometheus is proven by the e2e drills)."""
from pathlib import Path

from alertstack import rendered
from alertstack.drills import history


def _samples(path: Path) -> dict[str, list[tuple[float, int]]]:
    out: dict[str, list] = {}
    for line in path.read_text().splitlines():
        if line == "# EOF":
            continue
        name, value, t = line.rsplit(" ", 2)
        out.setdefault(name, []).append((float(value), int(t)))
    return out


def test_raw_history_is_in_slo_at_the_given_rate_and_ends_where_asked(tmp_path):
    plan = [{"name": "req_total", "labels": {"status": "200"}, "kind": "good", "share": 1.0},
            {"name": "req_total", "labels": {"status": "500"}, "kind": "bad", "share": 1.0},
            {"name": "dur_bucket", "labels": {"le": "0.3"}, "kind": "bucket_fast", "share": 1.0},
            {"name": "dur_bucket", "labels": {"le": "+Inf"}, "kind": "bucket", "share": 1.0}]
    end = 1_800_000_000
    start = end - 3 * 86400
    n = history.write_raw(tmp_path / "raw.om", plan, rps=5, start=start, end=end)
    series = _samples(tmp_path / "raw.om")
    assert n == 4 * (3 * 1440 + 1) and len(series) == 4
    good, bad = series['req_total{status="200"}'], series['req_total{status="500"}']
    assert good[0][1] == start and good[-1][1] == end
    total = good[-1][0] + bad[-1][0]
    assert abs(total / (3 * 86400 * 5) - 1) < 0.01          # 5 req/s
    assert 0 < bad[-1][0] / total < 0.001                   # in SLO (99.9 %), not spotless
    fast, all_ = series['dur_bucket{le="0.3"}'][-1][0], series['dur_bucket{le="+Inf"}'][-1][0]
    assert 0 < 1 - fast / all_ < 0.001
    assert all(b >= a for (a, _), (b, _) in zip(good, good[1:]))  # counters only grow


def test_the_recorded_rates_the_long_windows_read_are_backfilled():
    files = rendered.for_env("local").rule_files()
    names = {r["rule"]["record"] for r in history.range_read_records(files)}
    assert {"slo:sli_bad:rate5m", "slo:sli_total:rate5m"} <= names
    assert not any(n.startswith("slo:sli_error:ratio_rate") for n in names)  # read at one instant only


def test_the_raw_selectors_are_those_of_the_deployed_slos():
    sels = history.raw_selectors(rendered.for_env("local").slos())
    assert any(s.startswith("inference_requests_total{") for s in sels)
    assert any(s.startswith("inference_request_duration_seconds_bucket{") for s in sels)


def test_model_performance_history_is_healthy_for_the_week_the_rule_compares_with(tmp_path):
    """ModelPerformanceDegraded needs model_performance_metric{metric="auc_roc"} > 0.80 seven days back: the
    backfilled gauge holds the level measured now (at least HEALTHY_AUC), never near 0.80, one sample a minute."""
    series = [{"__name__": "model_performance_metric", "metric": "auc_roc", "model_name": "fraud_detection",
               "job": "inference-gateway", "instance": "inference-gateway:8080"}]
    end = 1_800_000_000
    start = end - 8 * 86400
    n = history.write_gauge(tmp_path / "gauge.om", series, history.HEALTHY_AUC, start, end)
    samples = _samples(tmp_path / "gauge.om")
    assert n == 8 * 1440 + 1 and len(samples) == 1
    (name, values), = samples.items()
    assert name.startswith("model_performance_metric{") and 'metric="auc_roc"' in name
    assert values[0][1] == start and values[-1][1] == end
    assert min(v for v, _ in values) > 0.80 and max(v for v, _ in values) < history.HEALTHY_AUC + 0.02
    assert history.PERFORMANCE.startswith("model_performance_metric{")
