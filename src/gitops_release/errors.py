"""The one exception hierarchy. Only cli.py turns these into exit codes and ::error lines.

Every error carries a one-line ``message`` (what went wrong, naming the input or the cause)
and, where there is one, a ``fix`` (what the user should change). ``title`` becomes the
annotation title. Nothing here prints or exits.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base of every expected failure: the command could not do what was asked."""

    title = "gitops-release failed"
    exit_code = 1
    #: The command's Outputs as far as it got (e.g. await-argocd-sync's per-app state on a failed
    #: or timed-out wait), or None. The CLI writes them (outputs, step summary) before the error.
    outputs: object = None

    def __init__(self, message: str, *, fix: str | None = None, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if title is not None:
            self.title = title

    def one_line(self) -> str:
        """The message and the fix as a single line (newlines folded)."""
        text = self.message if not self.fix else f"{self.message}. Fix: {self.fix}"
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.one_line()


class UsageError(ReleaseError):
    """The command line itself is wrong (unknown command or flag); exit code 2."""

    title = "Usage error"
    exit_code = 2


class InputError(ReleaseError):
    """An input has a bad value or is missing; names the input (kebab-case) in ``field``."""

    def __init__(self, field: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(f"input '{field}': {message}", fix=fix, title=f"Invalid input '{field}'")
        self.field = field


class PolicyError(ReleaseError):
    """The request is well-formed but the repository's policy (.gitops-release.yml) refuses it."""

    title = "Refused by policy"


class RevertConflictError(PolicyError):
    """Reverting a commit does not apply cleanly: later commits (or uncommitted edits) changed the
    same lines of a file since. The message names the commit, the later commit(s) and the file."""

    title = "Cannot revert"


class ConfigError(ReleaseError):
    """A configuration file (policy, db.json, kustomization) is missing, unreadable or invalid."""

    title = "Invalid configuration"


class GitError(ReleaseError):
    """A git command failed; ``rc`` and the (redacted) stderr are kept for the message."""

    title = "git failed"

    def __init__(self, message: str, *, rc: int | None = None, stderr: str = "", fix: str | None = None):
        super().__init__(message, fix=fix)
        self.rc = rc
        self.stderr = stderr


class PushConflictError(GitError):
    """Every push attempt was rejected because other writers kept moving the branch."""

    title = "Push kept being rejected"


class APIError(ReleaseError):
    """An HTTP API (GitHub, Argo CD) answered with an error; ``status`` is the HTTP status."""

    title = "API request failed"

    def __init__(self, message: str, *, status: int | None = None, fix: str | None = None):
        super().__init__(message, fix=fix)
        self.status = status


class GitHubError(APIError):
    """GitHub answered with an error that is not one of the more specific kinds below."""

    title = "GitHub API error"


class GitHubAuthError(GitHubError):
    """401/403: the token or App is missing, wrong, or lacks a permission (named in the message)."""

    title = "GitHub authentication or permission error"


class GitHubNotFoundError(GitHubError):
    """404: the repository or object does not exist, or the token cannot see it."""

    title = "GitHub: not found"


class GitHubValidationError(GitHubError):
    """422: GitHub refused a field; the message names the field and GitHub's reason."""

    title = "GitHub refused a field"


class RateLimitError(GitHubError):
    """Rate limited and the wait GitHub asked for is longer than the bounded total wait."""

    title = "GitHub rate limit"


class RetryExhaustedError(APIError):
    """A transient failure (5xx, connection reset) persisted through every retry."""

    title = "Service kept failing"


class ContractViolationError(ReleaseError):
    """The GitHub sandbox saw requests or sent responses that GitHub's OpenAPI description forbids."""

    title = "GitHub sandbox: OpenAPI violations"


class WaitTimeoutError(ReleaseError):
    """A bounded wait (sync, health, revision) ran out of time; the message says what was seen last."""

    title = "Timed out"


class ArgoCDError(APIError):
    """Argo CD answered with an error that is not one of the more specific kinds below; the
    message keeps Argo CD's own (redacted) message.

    ``permanent`` (False by default; keyword ``permanent=True``, or a subclass default) marks a
    configuration error that retrying cannot fix: a TLS verification failure
    (``ArgoCDTLSError``), a server host name that does not resolve, an answer that is not JSON /
    not the expected shape or is too large. A caller that retries until a deadline must not retry
    a permanent error; ``status`` None alone does not make an error transient."""

    title = "Argo CD API error"
    permanent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        fix: str | None = None,
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message, status=status, fix=fix)
        if permanent is not None:
            self.permanent = permanent


class ArgoCDTLSError(ArgoCDError):
    """TLS with the Argo CD server failed: the certificate does not verify against the system CAs
    or ``ca-file``, names another host, or the server does not speak TLS. Always ``permanent``;
    the fix names ``ca-file`` and ``insecure``."""

    title = "Argo CD TLS verification failed"
    permanent = True


class ArgoCDAuthError(ArgoCDError):
    """401/403: the token is missing, expired or wrong (401; the fix says how to create one), or
    the account lacks an RBAC permission (403; the message names the application and the
    permission, e.g. ``applications, get, <project>/<app>`` or ``applications, sync, ...``)."""

    title = "Argo CD authentication or permission error"


class ArgoCDNotFoundError(ArgoCDError):
    """404: the application does not exist (the message names it and the app-namespace or
    selector hint: apps outside the Argo CD namespace need ``app-namespace``)."""

    title = "Argo CD: application not found"


class ArgoCDStreamError(ArgoCDError):
    """The watch stream ended (EOF, reset, read timeout) or sent an error message; the caller
    reconnects (a GET re-reads the state so no transition is missed) or falls back to polling."""

    title = "Argo CD watch stream ended"


class WaitFailedError(ReleaseError):
    """The wait saw a failure before the deadline: a sync operation Failed or Error for the expected
    revision, Degraded past the grace period, or the application deleted during the wait."""

    title = "Argo CD application not ready"
