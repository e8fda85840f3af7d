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
#   3. anything else: a venv at "$RUNNER_TEMP/gitops-release-venv-<version>" (without RUNNER_TEMP:
#      "${XDG_CACHE_HOME:-$HOME/.cache}/gitops-release/venv-<version>", private to the user, never a
#      shared /tmp path someone else could create first), filled once
#      per runner from the hashed lock requirements/runtime.lock (`--require-hashes`, wheels
#      only), then the package itself from the checkout with `--no-deps --no-index
#      --no-build-isolation` (nothing resolved at run time; the build backend is in the lock).
#      Installer: uv from PATH (not one inside the workspace); else uv put into "$venv/.uv" from
#      requirements/uv-bootstrap.lock (hashed): scripts/uv_fetch.py fetches the locked wheel from
#      the index and checks its sha256 (~1 s), else the bootstrap Python's pip installs it; else
#      the venv's pip. A stamp records the lock's sha256 and the checkout: later steps of the job
#      install nothing, a changed lock reinstalls the dependencies, another checkout only the
#      package. The venv directory, its cache directory and the lock file must not be symbolic
#      links, must be the user's and not writable by group or others (else: refused). With flock
#      (Linux): the stamp is checked under a shared lock that the command
#      keeps while it runs, an install takes it exclusively, so a concurrent job never runs a
#      half-reinstalled venv (a reinstall waits for running commands). docs/benchmarks.md has
#      the costs.
#
# Every Python started here (the command, venv, ensurepip, pip) runs with -I (isolated mode). The working
# directory is the user's checkout, and `python -m` / `-c` put it first on sys.path: a json.py,
# re.py, pip/ or gitops_release/ in the checkout would be imported instead of ours, run with
# INPUT_TOKEN in the environment, and a harmless top-level re.py would break the action. -I keeps
# the working directory off sys.path on every Python >= 3.10 (-P / PYTHONSAFEPATH exist only from
# 3.11) and ignores PYTHON* variables, so a PYTHONPATH the workflow sets for its own steps (often
# `.` or the workspace) cannot bring the checkout back either. Nothing is exported: later steps
# see the environment as it was. tests/integration/test_action_run_safe_path.py proves it.
#
# Nothing is run from the workspace ($GITHUB_WORKSPACE, the working directory): workflows put
# checkout directories on PATH (./bin, node_modules/.bin, a venv), where a pull request can commit
# a `uv` or `python3`. A uv found there is skipped (uv is bootstrapped from the lock instead); a
# bootstrap Python there is refused. The installers (venv, uv, pip, ensurepip, the build) run
# without the action's inputs (INPUT_*) or GitHub's tokens in their environment.
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

# The workspace: the user's checkout. A workspace of / would contain everything: not checked.
workspaces=()
for dir in "${GITHUB_WORKSPACE:-}" "$PWD"; do
  [ -n "$dir" ] && [ -d "$dir" ] || continue
  dir="$(cd "$dir" && pwd -P)"
  [ "$dir" = / ] || workspaces+=("$dir")
done
# in_workspace FILE [linked]: true when the file FILE finally links to lies in the workspace; and
# unless "linked" is given, also when FILE itself does (a venv's bin/python is a link out of the
# workspace, yet it reads the pyvenv.cfg and site-packages beside it). uv reads nothing beside
# itself: only where it links to counts.
in_workspace() {
  local found="$1" real target ws
  [ -e "$found" ] || return 1
  real="$(cd "$(dirname "$found")" && pwd -P)/$(basename "$found")"
  target="$(realpath "$found" 2>/dev/null || readlink -f "$found" 2>/dev/null || printf '%s' "$real")"
  [ "${2:-}" = linked ] && real="$target"
  for ws in ${workspaces[@]+"${workspaces[@]}"}; do
    case "$real/" in "$ws"/*) return 0 ;; esac
    case "$target/" in "$ws"/*) return 0 ;; esac
  done
  return 1
}

bootstrap="${GITOPS_RELEASE_BOOTSTRAP_PYTHON:-python3}"
bootstrap_path="$(command -v "$bootstrap" 2>/dev/null)" || fail "'$bootstrap' was not found on PATH. Fix: use a runner with Python >= 3.10 or add actions/setup-python before this step"
if in_workspace "$bootstrap_path"; then
  fail "'$bootstrap' resolves to $bootstrap_path, inside the workspace (the checkout): refused, files there may come from a pull request. Fix: put a Python outside the checkout first on PATH (actions/setup-python), or set GITOPS_RELEASE_BOOTSTRAP_PYTHON to one"
fi
bootstrap="$bootstrap_path"

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
# private PATH WHAT: PATH must be a real directory (not a symbolic link), this user's, and not
# writable by group or others; else one ::error line naming the path and the fix. Someone who
# can write there, or point it elsewhere, could swap the venv's bin/python, run with the inputs.
private() {
  local path="$1" what="$2"
  if [ -L "$path" ]; then
    fail "the $what $path is a symbolic link: refused, it may point at files that are not ours. Fix: remove the link (rm $path) and re-run"
  fi
  if [ ! -d "$path" ] || [ ! -O "$path" ] || [ -n "$(find "$path" -maxdepth 0 \( -perm -020 -o -perm -002 \) -print)" ]; then
    fail "the $what $path is not owned by this user or is writable by group or others: refused, its contents may not be ours. Fix: remove it (rm -rf $path) and re-run"
  fi
}
if [ -n "${RUNNER_TEMP:-}" ]; then
  venv="$RUNNER_TEMP/gitops-release-venv-$version"
  mkdir -p "$RUNNER_TEMP"
else
  # Not a shared /tmp path: another user could create it first, with a bin/python of their own.
  cache="${XDG_CACHE_HOME:-}"
  case "$cache" in /*) ;; *) cache="${HOME:-}/.cache" ;; esac # XDG: a relative value is ignored
  [ -n "${HOME:-}" ] || [ -n "${XDG_CACHE_HOME:-}" ] || fail "neither RUNNER_TEMP nor HOME is set: no private place for the venv. Fix: set RUNNER_TEMP (or HOME) to a directory only this user can write"
  mkdir -p "$cache"
  [ -L "$cache/gitops-release" ] || mkdir -m 700 "$cache/gitops-release" 2>/dev/null || true
  private "$cache/gitops-release" "venv cache directory"
  venv="$cache/gitops-release/venv-$version"
fi
# Created private; an existing one must be this user's and writable by nobody else, or its
# bin/python (run with the inputs) could be someone else's.
[ -L "$venv" ] || mkdir -m 700 "$venv" 2>/dev/null || true
private "$venv" "venv directory"
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

# Installers (venv, uv, pip, ensurepip, the build) start with no PYTHON* variables and the venv,
# not the user's checkout, as working directory: pip and uv start more Pythons (the build
# backend, interpreter queries) that are not all isolated. None of them needs the action's inputs
# (INPUT_TOKEN, an App key) or GitHub's tokens: removed from their environment.
unset_vars=()
while IFS= read -r name; do unset_vars+=(-u "$name"); done < <(
  compgen -e | grep -E '^(PYTHON|INPUT_)|^(GITHUB_TOKEN|GH_TOKEN|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN)$' || true
)
clean() {
  (cd "$venv" && env ${unset_vars[@]+"${unset_vars[@]}"} "$@")
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

# uv: from PATH, else into "$venv/.uv" from requirements/uv-bootstrap.lock (hashed, wheels only):
# first scripts/uv_fetch.py (the locked wheel for this platform straight from the index's JSON
# API, its sha256 checked before use, only the uv binary extracted: ~1 s), then, when that fails,
# the bootstrap Python's pip (~2.5 to 4 s; --target skips PEP 668's externally-managed check and
# needs no pip in the venv). Empty when neither works: pip then installs everything.
find_uv() {
  local on_path why
  if on_path="$(command -v uv 2>/dev/null)"; then
    if ! in_workspace "$on_path" linked; then
      echo "$on_path"
      return
    fi
    echo "skipping $on_path: it is inside the workspace (the checkout); bootstrapping uv from $uv_lock" >&2
  fi
  if [ ! -x "$venv/.uv/bin/uv" ]; then
    rm -rf "$venv/.uv"
    # -S: the standard library only; the script is the action's own, never the workspace's.
    if why="$(clean "$bootstrap" -I -S -B "$root/scripts/uv_fetch.py" "$uv_lock" "$venv/.uv/bin/uv" 2>&1)"; then
      echo "$why" >&2
    else
      rm -rf "$venv/.uv"
      echo "fetching uv directly failed (${why##*$'\n'}): installing uv with $bootstrap's pip" >&2
    fi
  fi
  if [ ! -x "$venv/.uv/bin/uv" ]; then
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
    clean "$bootstrap" -I -m venv --without-pip "$venv" || fail "creating the venv $venv failed. Fix: install python3-venv on the runner"
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

if command -v flock >/dev/null 2>&1; then
  # In the private venv directory (not beside it in a shared directory: no symlink tricks); not
  # .lock, which uv itself locks while it installs into the venv.
  # Shared while checking and while the command runs (fd 9 stays open across exec); exclusive
  # to install, so a reinstall never swaps the package under a running command.
  # An existing lock file must be a plain file of ours: `exec 9>` follows a symbolic link and
  # truncates what it points at.
  lock_file="$venv/.gitops-release.lock"
  if [ -L "$lock_file" ] || { [ -e "$lock_file" ] && { [ ! -f "$lock_file" ] || [ ! -O "$lock_file" ] ||
    [ -n "$(find "$lock_file" -maxdepth 0 \( -perm -020 -o -perm -002 \) -print)" ]; }; }; then
    fail "the venv lock file $lock_file is a symbolic link, not a plain file of this user, or writable by group or others: refused. Fix: remove it (rm -f $lock_file) and re-run"
  fi
  exec 9>"$lock_file"
  flock -s 9
  while ! stamp_is_current; do
    flock 9 # converts to exclusive: waits for commands running from this venv
    install_into_venv # again under the lock: another job may have installed it meanwhile
    flock -s 9
  done
else
  install_into_venv
fi

exec "$venv/bin/python" -I -m gitops_release "$@"
