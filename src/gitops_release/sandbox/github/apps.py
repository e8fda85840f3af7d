"""GitHub App auth: RS256 app JWTs, the repository installation, installation access tokens; and who
a credential is: ``GET /app`` (the App, with its JWT) and ``GET /user`` (the token's account).

``GET /user`` answers as GitHub does for each kind of token: a user's token (a PAT; a login without
``[bot]``) gets its account (``private-user``); a Bot's token (an App installation token, the
Actions ``GITHUB_TOKEN`` = ``github-actions[bot]``) gets 403 "Resource not accessible by
integration"; no token gets 401. ``GET /app`` needs the App's JWT (401 otherwise) and answers the
App with its ``slug``: its bot account is ``<slug>[bot]``, the author of what its tokens write."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from gitops_release.sandbox.github.model import (
    _ALL_PERMISSIONS,
    _LEVELS,
    _R,
    _App,
    _error,
    _Identity,
    _iso,
    _node_id,
    _not_accessible,
    _Request,
    _Result,
    _Route,
    _route,
    _Token,
)
from gitops_release.sandbox.github.repos import ReposMixin

ROUTES: tuple[_Route, ...] = (
    _route("POST", "/app/installations/{installation_id}/access_tokens", "access_token", None),
    _route("GET", f"{_R}/installation", "repo_installation", None),
    _route("GET", "/app", "authenticated_app", None),
    _route("GET", "/user", "authenticated_user", []),  # any token; no repository permission
)


class AppsMixin(ReposMixin):
    """GitHub Apps: register_app, JWT authentication, installations and their tokens."""

    def register_app(self, app_id: int, public_key_pem: str, *, installations: Mapping[str, int]) -> None:
        """A GitHub App (public key to verify RS256 JWTs) installed as repo full_name -> installation id."""
        with self._lock:
            self._apps[int(app_id)] = _App(
                int(app_id), public_key_pem, {name.lower(): int(i) for name, i in installations.items()}
            )

    def _authenticate_app(self, credential: str) -> _Identity:
        try:
            import jwt
        except ImportError:  # pragma: no cover - PyJWT comes with PyGithub
            raise _error(401, "A JSON web token could not be decoded") from None
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
            app = self._apps.get(int(claims["iss"]))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise _error(401, "A JSON web token could not be decoded") from None
        if app is None:
            raise _error(401, "Integration not found")
        try:
            claims = jwt.decode(
                credential,
                app.public_key_pem,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise _error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                "which the assertion expires",
            ) from None
        except jwt.ImmatureSignatureError:
            raise _error(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
                "was issued",
            ) from None
        except jwt.PyJWTError:
            raise _error(401, "A JSON web token could not be decoded") from None
        if float(claims["exp"]) - float(claims["iat"]) > 600:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future")
        return _Identity("app", f"app-{app.app_id}", app=app)

    def _installation_json(self, app: _App, installation_id: int, account: str) -> dict[str, Any]:
        now = _iso(self._started_at)
        return {
            "id": installation_id,
            "account": self._user(account, "Organization"),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{self.url}/organizations/{account}/settings/installations/{installation_id}",
            "app_id": app.app_id,
            "app_slug": f"sandbox-app-{app.app_id}",
            "target_id": sum(account.encode()) + 1000,
            "target_type": "Organization",
            "permissions": dict(_ALL_PERMISSIONS),
            "events": [],
            "created_at": now,
            "updated_at": now,
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def _repo_installation(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        identity = request.identity
        assert repo is not None and identity is not None and identity.app is not None
        installation_id = identity.app.installations[repo.full_name.lower()]
        return 200, self._installation_json(identity.app, installation_id, repo.owner), {}

    def _access_token(self, request: _Request, params: Mapping[str, str]) -> _Result:
        identity = request.identity
        assert identity is not None and identity.app is not None
        app = identity.app
        installation_id = int(params["installation_id"]) if params["installation_id"].isdigit() else -1
        repos = sorted(name for name, i in app.installations.items() if i == installation_id)
        if not repos:
            raise _error(404, "Not Found")
        body = self._body(request)
        if body.get("repositories"):
            wanted = {f"{repos[0].split('/')[0]}/{name}".lower() for name in body["repositories"]}
            unknown = wanted - set(repos)
            if unknown:
                raise _error(
                    422,
                    f"There is at least one repository that does not exist or is not accessible "
                    f"to the parent installation: {', '.join(sorted(unknown))}",
                )
            repos = sorted(wanted)
        permissions = dict(body.get("permissions") or _ALL_PERMISSIONS)
        for name, level in permissions.items():
            granted = _ALL_PERMISSIONS.get(name)
            if granted is None or _LEVELS.get(level, 9) > _LEVELS[granted]:
                raise _error(422, f"The permissions requested are not granted to this installation: {name}")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
        expires = time.time() + 3600
        self._tokens[token] = _Token(
            permissions=permissions,
            repositories=set(repos),
            login=f"sandbox-app-{app.app_id}[bot]",
            user_type="Bot",
            expires_at=expires,
            installation_id=installation_id,
        )
        return (
            201,
            {
                "token": token,
                "expires_at": _iso(expires),
                "permissions": permissions,
                "repository_selection": "selected",
            },
            {},
        )

    def _authenticated_app(self, request: _Request, params: Mapping[str, str]) -> _Result:
        identity = request.identity
        assert identity is not None and identity.app is not None
        app = identity.app
        slug = f"sandbox-app-{app.app_id}"
        created = _iso(self._started_at)
        return (
            200,
            {
                "id": app.app_id,
                "slug": slug,
                "client_id": f"Iv1.{app.app_id:016x}",
                "node_id": _node_id("Integration", app.app_id),
                "owner": self._user("org", "Organization"),
                "name": f"Sandbox App {app.app_id}",
                "description": None,
                "external_url": f"{self.url}/apps/{slug}",
                "html_url": f"{self.url}/apps/{slug}",
                "created_at": created,
                "updated_at": created,
                "permissions": dict(_ALL_PERMISSIONS),
                "events": [],
                "installations_count": len(set(app.installations.values())),
            },
            {},
        )

    def _authenticated_user(self, request: _Request, params: Mapping[str, str]) -> _Result:
        identity = request.identity
        if identity is None or identity.token is None:
            raise _error(401, "Requires authentication")
        token = identity.token
        if token.user_type == "Bot":
            # An installation token or GITHUB_TOKEN acts for an App, not a user account.
            raise _not_accessible("GET", "/user")
        created = _iso(self._started_at)
        user = self._user(token.login, token.user_type)
        user.update(
            {
                "name": None,
                "company": None,
                "blog": "",
                "location": None,
                "email": None,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": 0,
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": created,
                "updated_at": created,
                "private_gists": 0,
                "total_private_repos": 0,
                "owned_private_repos": 0,
                "disk_usage": 0,
                "collaborators": 0,
                "two_factor_authentication": True,
            }
        )
        return 200, user, {}
