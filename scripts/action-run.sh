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
#   3. anything else: a venv at "${RUNNER_TEMP:-/tmp}/gitops-release-venv-<version>", filled once
#      per runner from the hashed lock requirements/runtime.lock (`--require-hashes`, wheels
#      only), then the package itself from the checkout with `--no-deps --no-index
#      --no-build-isolation` (nothing resolved at run time; the build backend is in the lock).
#      Installer: uv from PATH; else uv installed into "$venv/.uv" from
#      requirements/uv-bootstrap.lock (hashed) by the bootstrap Python's pip; else the venv's pip.
#      A stamp records the lock's sha256 and the checkout: later steps of the job install nothing,
#      a changed lock reinstalls the dependencies, another checkout only the package. A flock
#      serialises concurrent jobs. docs/benchmarks.md has the costs.
#
# Every Python started here (the command, venv, ensurepip, pip) runs with -I (isolated mode). The working
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
lock="$root/requirements/runtime.lock"
uv_lock="$root/requirements/uv-bootstrap.lock"
[ -f "$lock" ] && [ -f "$uv_lock" ] || fail "$root/requirements/runtime.lock or uv-bootstrap.lock is missing. Fix: use a complete gitops-release checkout (make lock writes them)"
venv="${RUNNER_TEMP:-/tmp}/gitops-release-venv-$version"
stamp="$venv/.gitops-release-root"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
# The stamp names what the venv holds: the lock's hash (dependencies) and the checkout (the
# package). A later step of the job finds it unchanged and installs nothing.
lock_line="lock $(sha256_of "$lock")"
root_line="root $root"
stamp_is_current() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_line"$'\n'"$root_line" ]
}

# Installers (uv, pip, ensurepip) start with no PYTHON* variables and the venv, not the user's
# checkout, as working directory: pip and uv start more Pythons (the build backend, interpreter
# queries) that are not all isolated.
python_vars=()
while IFS= read -r name; do python_vars+=(-u "$name"); done < <(compgen -e | grep '^PYTHON' || true)
clean() {
  (cd "$venv" && env ${python_vars[@]+"${python_vars[@]}"} "$@")
}

# Runs an installer; on failure one ::error line, naming a hash mismatch when that is the cause.
installer_log=""
install_step() {
  local what="$1"
  shift
  # pipefail: the installer's exit status, not tee's.
  clean "$@" 2>&1 | tee "$installer_log" && return 0
  if grep -qiE 'hash mismatch|do not match the hashes|hashes are required|does not match the hash' "$installer_log"; then
    fail "a downloaded file does not match its hash in $what (installer output above): refused, nothing from it was installed. Fix: if you changed requirements/, run make lock; else the package index served a different file than the one locked: report it"
  fi
  fail "installing $what failed (installer output above). Fix: check network access to the package index (PyPI)"
}

# uv: from PATH, else into "$venv/.uv" from requirements/uv-bootstrap.lock (hashed, wheels only)
# with the bootstrap Python's pip (--target skips PEP 668's externally-managed check and needs no
# pip in the venv). Empty when neither works: pip then installs everything.
find_uv() {
  if command -v uv >/dev/null 2>&1; then
    command -v uv
    return
  fi
  if [ ! -x "$venv/.uv/bin/uv" ]; then
    rm -rf "$venv/.uv"
    clean "$bootstrap" -I -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
      --require-hashes --only-binary :all: --target "$venv/.uv" -r "$uv_lock" >&2 || {
      rm -rf "$venv/.uv"
      echo "uv could not be installed from $uv_lock with $bootstrap's pip: installing with pip" >&2
      return
    }
  fi
  [ -x "$venv/.uv/bin/uv" ] && echo "$venv/.uv/bin/uv"
}

install_into_venv() {
  stamp_is_current && return 0
  echo "::group::Installing gitops-release $version into $venv"
  if [ ! -x "$venv/bin/python" ]; then
    "$bootstrap" -I -m venv --without-pip "$venv" || fail "creating the venv $venv failed. Fix: install python3-venv on the runner"
  fi
  installer_log="$(mktemp "${TMPDIR:-/tmp}/gitops-release-install.XXXXXX")"
  old_lock_line="$(head -n 1 "$stamp" 2>/dev/null || true)"
  rm -f "$stamp"
  uv="$(find_uv || true)"
  if [ -n "$uv" ]; then
    if [ "$old_lock_line" != "$lock_line" ]; then
      install_step "$lock" "$uv" pip install --quiet --python "$venv/bin/python" --require-hashes -r "$lock"
    fi
    # The package itself from the checkout: nothing resolved or downloaded (hatchling is locked).
    install_step "$root" "$uv" pip install --quiet --python "$venv/bin/python" --no-deps --no-index \
      --no-build-isolation --reinstall-package gitops-release "$root"
  else
    if ! clean "$venv/bin/python" -I -m pip --version >/dev/null 2>&1; then
      clean "$venv/bin/python" -I -m ensurepip --default-pip >/dev/null || fail "ensurepip failed in $venv. Fix: install python3-venv on the runner, or put uv on PATH"
    fi
    pip=("$venv/bin/python" -I -m pip install --quiet --disable-pip-version-check --no-input)
    if [ "$old_lock_line" != "$lock_line" ]; then
      install_step "$lock" "${pip[@]}" --require-hashes -r "$lock"
    fi
    install_step "$root" "${pip[@]}" --no-deps --no-index --no-build-isolation --force-reinstall "$root"
  fi
  rm -f "$installer_log"
  printf '%s\n%s' "$lock_line" "$root_line" >"$stamp"
  echo "::endgroup::"
}

if ! stamp_is_current; then
  mkdir -p "$(dirname "$venv")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
    install_into_venv # again under the lock: another job may have installed it meanwhile
    flock -u 9
    exec 9>&-
  else
    install_into_venv
  fi
fi

exec "$venv/bin/python" -I -m gitops_release "$@"
