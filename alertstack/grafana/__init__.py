"""Grafana configuration as code.

- `datasources`: the provisioned datasources (fixed uids other files refer to);
- `dashboards`: the four dashboards, built with grafana-foundation-sdk;
- `alerts`: the log alerts (alertstack.logs.alerts) in Grafana's alert-rule file-provisioning format;
- `validate`: format checks for every generated Grafana file and the Loki ruler file;
- `rendered`: those checks (and alertstack.logs') over what `invoke render` wrote for one host.
"""
