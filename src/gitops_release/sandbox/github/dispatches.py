"""repository_dispatch: POST /repos/{o}/{r}/dispatches, the recorded events, events_dir and the
/_sandbox events endpoint."""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gitops_release.sandbox.github.model import (
    _R,
    DOCS,
    _error,
    _node_id,
    _Repo,
    _Request,
    _Result,
    _Route,
    _route,
)
from gitops_release.sandbox.github.repos import ReposMixin

ROUTES: tuple[_Route, ...] = (
    _route("POST", f"{_R}/dispatches", "create_dispatch", [("contents", "write")], "check_dispatch"),
)


class DispatchesMixin(ReposMixin):
    """Dispatches and the repository_dispatch webhook payloads they become."""

    def dispatches(self, full_name: str) -> list[dict[str, Any]]:
        """Recorded repository_dispatch events, oldest first: {"event_type", "client_payload"}."""
        with self._lock:
            return [
                {"event_type": d["event_type"], "client_payload": copy.deepcopy(d["client_payload"])}
                for d in self._repo(full_name).dispatches
            ]

    def event_json(self, full_name: str, index: int = -1) -> dict[str, Any]:
        """The repository_dispatch webhook payload GitHub would deliver (for ``act -e event.json``)."""
        with self._lock:
            repo = self._repo(full_name)
            return self._event(repo, repo.dispatches[index])

    def _event(self, repo: _Repo, dispatch: Mapping[str, Any]) -> dict[str, Any]:
        """GitHub's ``repository_dispatch`` webhook payload for one recorded dispatch."""
        event: dict[str, Any] = {
            "action": dispatch["event_type"],
            "branch": repo.default_branch,
            "client_payload": copy.deepcopy(dispatch["client_payload"]),
            "repository": self._repo_json(repo),
            # Sandbox repositories belong to organizations (see _repo_json), so GitHub adds it.
            "organization": self._organization(repo.owner),
            "sender": self._user(dispatch["sender"], dispatch["sender_type"]),
        }
        if dispatch["installation_id"] is not None:
            event["installation"] = {
                "id": dispatch["installation_id"],
                "node_id": _node_id("Installation", dispatch["installation_id"]),
            }
        return event

    def _write_event(self, event: Mapping[str, Any]) -> Path:
        """``event`` as the next ``NNNNNN-<event type>.json`` in ``events_dir``, written atomically
        (a reader never sees a partial file). The event type is the dispatcher's text: only safe
        characters reach the file name."""
        assert self.events_dir is not None
        self._event_number += 1
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", str(event["action"]))[:100].lstrip(".") or "event"
        target = self.events_dir / f"{self._event_number:06d}-{label}.json"
        fd, temp = tempfile.mkstemp(dir=self.events_dir, prefix=".event-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(event, stream, indent=2)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def _serve_events(
        self, headers: Mapping[str, str], owner: str, name: str, which: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """The sandbox's own inspection endpoint (not GitHub's API, so neither validated nor
        recorded): a repository's dispatch events as webhook payloads, oldest first; ``/N``
        (1-based) or ``/latest`` answers one. A token the sandbox accepts for the repository may read them."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, credential = value.strip().partition(" ")
        token = self._tokens.get(credential.strip()) if scheme.lower() in ("token", "bearer") else None
        if token is None:
            return 401, {"message": "Requires authentication", "documentation_url": DOCS}, {}
        full_name = f"{unquote(owner)}/{unquote(name)}".lower()
        repo = self._repos.get(full_name)
        if repo is None or (token.repositories is not None and full_name not in token.repositories):
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        if which is None:
            return 200, [self._event(repo, d) for d in repo.dispatches], {}
        index = len(repo.dispatches) if which == "latest" else int(which)
        if not 1 <= index <= len(repo.dispatches):
            return (
                404,
                {
                    "message": f"No event {which} (there are {len(repo.dispatches)})",
                    "documentation_url": DOCS,
                },
                {},
            )
        return 200, self._event(repo, repo.dispatches[index - 1]), {}

    def _check_dispatch(self, request: _Request, params: Mapping[str, str]) -> None:
        body = self._body(request)
        event_type = body.get("event_type")
        if isinstance(event_type, str) and not 1 <= len(event_type) <= 100:
            raise _error(
                422,
                f"Invalid request.\n\nFor 'properties/event_type', {json.dumps(event_type)} is "
                + (
                    "too long (maximum 100 characters)."
                    if event_type
                    else "too short (minimum 1 characters)."
                ),
            )
        payload = body.get("client_payload")
        if isinstance(payload, dict) and len(payload) > 10:
            raise _error(
                422,
                f"Invalid request.\n\nNo more than 10 properties are allowed; {len(payload)} were supplied.",
            )

    def _create_dispatch(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None and request.identity is not None
        body = self._body(request)
        login, user_type = self._actor(request)
        token = request.identity.token
        dispatch = {
            "event_type": body["event_type"],
            "client_payload": copy.deepcopy(body.get("client_payload") or {}),
            "sender": login,
            "sender_type": user_type,
            "installation_id": token.installation_id if token else None,
        }
        if self.events_dir is not None:
            self._write_event(self._event(repo, dispatch))  # first: a failed write records nothing
        repo.dispatches.append(dispatch)
        return 204, None, {}
