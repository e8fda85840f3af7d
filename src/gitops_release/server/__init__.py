"""``gitops-release serve``: the release-channel HTTP API over db.json (extra ``server``).

``state`` (the served index, reloads, health; standard library), ``metrics`` (Prometheus text,
standard library), ``access_log`` (one JSON line per request, an ASGI middleware) and ``app``
(the FastAPI application). Only ``app`` imports FastAPI: import it through ``create_app``.
"""
