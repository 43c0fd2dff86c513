"""driftline's HTTP API: health, metrics, results, alerts, baseline upload, event ingest,
Evidently reports and the status page, served by one FastAPI app on uvicorn.

    settings.py   the `api:` section of the config (keys, limits); no FastAPI import, so the
                  config tree loads without it
    protocol.py   JSON errors naming the field, API keys, request body limits
    models.py     read endpoints: models, windows, alerts; the green/amber/red state
    ingest.py     write endpoints: baseline upload, events over HTTP
    reports.py    Evidently reports from stored row samples; fetching one for the CLI
    app.py        the app (/healthz, /readyz, /metrics, status page) and `ApiServer`
    static/status.html   the status page: plain HTML + JS over the JSON API
"""
