"""Grafana, Loki and Promtail configuration as code.

- `datasources`: the provisioned datasources (fixed uids other files refer to);
- `dashboards`: the four dashboards, built with grafana-foundation-sdk;
- `log_alerts`: the log-based alerts, defined once;
- `alerts`: those alerts in Grafana's alert-rule file-provisioning format;
- `loki_rules`: the same alerts as a Loki ruler (Prometheus rule-file format, LogQL) file;
- `logql`: a strict parser for the LogQL subset the project uses;
- `validate`: format checks for every generated file.
"""
