#!/usr/bin/env bash
# action-run.sh <command> [args...]: the single step of every composite action under actions/.
#
# Inputs reach the command ONLY through env (INPUT_<NAME>, as GitHub names action inputs), never
# through ${{ }} in the script: composite actions do not export INPUT_* themselves (act does, GitHub
# does not), and expressions inside run: are a script-injection hole. Copy this step:
#
#   runs:
#     using: composite
#     steps:
#       - id: <command>
#         shell: bash
#         env:
#           GITOPS_RELEASE_ROOT: ${{ github.action_path }}/../..
#           INPUT_<NAME>: ${{ inputs.<name> }}          # one line per declared input
#         run: bash "$GITOPS_RELEASE_ROOT/scripts/action-run.sh" <command>
#
# and map each output with `value: ${{ steps.<command>.outputs.<name> }}`.
#
# Which Python runs the command:
#   1. GITOPS_RELEASE_PYTHON, when set: "$GITOPS_RELEASE_PYTHON" -m gitops_release (tests, the
#      container image, self-hosted runners with the package preinstalled);
#   2. dispatch-update: the runner's python3 straight from "$GITOPS_RELEASE_ROOT/src" (standard
#      library only, nothing installed);
#   3. anything else: a venv at "${RUNNER_TEMP:-/tmp}/gitops-release-venv-<version>", created and
#      filled with `pip install "$GITOPS_RELEASE_ROOT"` once per runner (a lock serialises
#      concurrent jobs; a different checkout of the same version is reinstalled over it).
set -euo pipefail

fail() {
  # One ::error line, like the CLI's own failures; exit code 2 is a usage/setup error.
  printf '::error title=gitops-release action setup::%s\n' "$1"
  exit 2
}

[ "$#" -ge 1 ] || fail "action-run.sh needs the command name as its first argument. Fix: run: bash \"\$GITOPS_RELEASE_ROOT/scripts/action-run.sh\" <command>"
command_name="$1"

root="${GITOPS_RELEASE_ROOT:-}"
[ -n "$root" ] || fail "GITOPS_RELEASE_ROOT is not set. Fix: add GITOPS_RELEASE_ROOT: \${{ github.action_path }}/../.. to the step's env"
[ -f "$root/src/gitops_release/__init__.py" ] || fail "GITOPS_RELEASE_ROOT='$root' does not contain src/gitops_release. Fix: point it at the gitops-release checkout (\${{ github.action_path }}/../..)"
root="$(cd "$root" && pwd -P)"

if [ -n "${GITOPS_RELEASE_PYTHON:-}" ]; then
  exec "$GITOPS_RELEASE_PYTHON" -m gitops_release "$@"
fi

bootstrap="${GITOPS_RELEASE_BOOTSTRAP_PYTHON:-python3}"
command -v "$bootstrap" >/dev/null 2>&1 || fail "'$bootstrap' was not found on PATH. Fix: use a runner with Python >= 3.10 or add actions/setup-python before this step"

if [ "$command_name" = "dispatch-update" ]; then
  # Zero-install path: this command imports only the standard library.
  export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONDONTWRITEBYTECODE=1
  # -S: nothing from site-packages is needed, so nothing the runner installed there can break
  # it, and the interpreter starts faster (docs/benchmarks.md).
  exec "$bootstrap" -S -m gitops_release "$@"
fi

version="$(sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' "$root/src/gitops_release/__init__.py")"
[ -n "$version" ] || fail "cannot read __version__ from $root/src/gitops_release/__init__.py. Fix: restore the version line"
venv="${RUNNER_TEMP:-/tmp}/gitops-release-venv-$version"
stamp="$venv/.gitops-release-root"

install_into_venv() {
  if [ ! -x "$venv/bin/python" ]; then
    "$bootstrap" -m venv "$venv" || fail "creating the venv $venv failed. Fix: install python3-venv on the runner"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$root" ]; then
    echo "::group::Installing gitops-release $version into $venv"
    reinstall=()
    if [ -f "$stamp" ]; then
      reinstall=(--force-reinstall --no-deps)
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
      ${reinstall[@]+"${reinstall[@]}"} "$root" ||
      fail "pip install $root failed (see the log above). Fix: check network access to the package index"
    printf '%s' "$root" >"$stamp"
    echo "::endgroup::"
  fi
}

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$root" ]; then
  mkdir -p "$(dirname "$venv")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
    install_into_venv
    flock -u 9
    exec 9>&-
  else
    install_into_venv
  fi
fi

exec "$venv/bin/python" -m gitops_release "$@"
