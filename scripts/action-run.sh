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
#   1. GITOPS_RELEASE_PYTHON, when set: "$GITOPS_RELEASE_PYTHON" -I -m gitops_release (tests,
#      self-hosted runners with the package preinstalled in that Python's site-packages);
#   2. dispatch-update: the runner's python3 straight from "$GITOPS_RELEASE_ROOT/src" (standard
#      library only, nothing installed);
#   3. anything else: a venv at "${RUNNER_TEMP:-/tmp}/gitops-release-venv-<version>", created and
#      filled with `pip install "$GITOPS_RELEASE_ROOT"` once per runner (a lock serialises
#      concurrent jobs; a different checkout of the same version is reinstalled over it).
#
# Every Python started here (the command, venv, pip) runs with -I (isolated mode). The working
# directory is the user's checkout, and `python -m` / `-c` put it first on sys.path: a json.py,
# re.py, pip/ or gitops_release/ in the checkout would be imported instead of ours, run with
# INPUT_TOKEN in the environment, and a harmless top-level re.py would break the action. -I keeps
# the working directory off sys.path on every Python >= 3.10 (-P / PYTHONSAFEPATH exist only from
# 3.11) and ignores PYTHON* variables, so a PYTHONPATH the workflow sets for its own steps (often
# `.` or the workspace) cannot bring the checkout back either. Nothing is exported: later steps
# see the environment as it was. tests/integration/test_action_run_safe_path.py proves it.
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
  exec "$GITOPS_RELEASE_PYTHON" -I -m gitops_release "$@"
fi

bootstrap="${GITOPS_RELEASE_BOOTSTRAP_PYTHON:-python3}"
command -v "$bootstrap" >/dev/null 2>&1 || fail "'$bootstrap' was not found on PATH. Fix: use a runner with Python >= 3.10 or add actions/setup-python before this step"

if [ "$command_name" = "dispatch-update" ]; then
  # Zero-install path: this command imports only the standard library. -I ignores PYTHONPATH,
  # so the bootstrap puts "$root/src" (its first argument, never spliced into the code) in front
  # of sys.path itself. -S: nothing from site-packages is needed, so nothing the runner installed
  # there can break it, and the interpreter starts faster (docs/benchmarks.md). -B: no .pyc
  # files in the action's checkout.
  dispatch_main='import sys; sys.path.insert(0, sys.argv.pop(1)); from gitops_release.cli import main; sys.exit(main())'
  exec "$bootstrap" -I -S -B -c "$dispatch_main" "$root/src" "$@"
fi

version="$(sed -n 's/^__version__ = "\([^"]*\)".*/\1/p' "$root/src/gitops_release/__init__.py")"
[ -n "$version" ] || fail "cannot read __version__ from $root/src/gitops_release/__init__.py. Fix: restore the version line"
venv="${RUNNER_TEMP:-/tmp}/gitops-release-venv-$version"
stamp="$venv/.gitops-release-root"

install_into_venv() {
  if [ ! -x "$venv/bin/python" ]; then
    "$bootstrap" -I -m venv "$venv" || fail "creating the venv $venv failed. Fix: install python3-venv on the runner"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$root" ]; then
    echo "::group::Installing gitops-release $version into $venv"
    reinstall=()
    if [ -f "$stamp" ]; then
      reinstall=(--force-reinstall --no-deps)
    fi
    # pip starts more Pythons (build backend, build-dependency installs) without -I: they get no
    # PYTHON* variables and the venv, not the checkout, as working directory.
    python_vars=()
    while IFS= read -r name; do python_vars+=(-u "$name"); done < <(compgen -e | grep '^PYTHON' || true)
    (cd "$venv" && env ${python_vars[@]+"${python_vars[@]}"} "$venv/bin/python" -I -m pip install \
      --quiet --disable-pip-version-check --no-input ${reinstall[@]+"${reinstall[@]}"} "$root") ||
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

exec "$venv/bin/python" -I -m gitops_release "$@"
