#!/usr/bin/env bash
# Static gates for GitHub Actions files (filled in by the foundation work).
set -euo pipefail
