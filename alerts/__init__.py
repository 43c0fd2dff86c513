"""Alerts: rules over evaluated windows, an alert state machine, notifiers, retraining webhooks.

    config.py      the `alerts:` config section (rules, receivers, retraining, delivery)
    defaults.py    the default rule set (mirrored by driftline.alerts.yml for Prometheus)
    rules.py       results → observations per alert key (rule, model, version, feature)
    state.py       the pure state machine: inactive → pending → firing → resolved
    engine.py      the ResultSink: rules + state machine → durable outbox, in one transaction
    documents.py   notification documents, the API snapshot, delivery targets
    outbox.py      outbox entries, backoff with jitter, the bound
    delivery.py    the delivery thread: send, retry, delete
    notifiers.py   webhook, Slack, Alertmanager v2 and log receivers
    signing.py     HMAC-SHA256 signatures and `verify_signature` for receivers
    retraining.py  the retraining trigger policy and payload
    receiver.py    a small signed-webhook receiver (the demo's and the tests')
    cli.py         `driftline alerts test`

Also here: driftline.alerts.yml (Prometheus alerting rules), driftline.alerts.test.yml (their
promtool unit tests) and alertmanager.example.yml.
"""
