"""Logs: what each host ships to Loki (Promtail or Alloy), what is redacted on the way, and the log alerts.

- `sources`: the log sources declared per inventory group (`log_collection`) and the labels every line gets;
- `redaction` (+ `redaction.yml`): the redaction rules both shippers apply, their checks, and what they leave;
- `shipping`: where a host's shipper pushes (the Loki push URLs);
- `promtail`: the effective promtail.yml (sources, redaction stages, clients);
- `alloy`: the same shipping as an Alloy configuration, and its checker;
- `validate`: format checks of loki.yml and promtail.yml;
- `alerts`: the log-based alerts, defined once; `loki_rules`: them as a Loki ruler file;
- `logql`: a strict parser for the LogQL subset the project writes.
"""
