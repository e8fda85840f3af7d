#!/usr/bin/env bash
# Release data prep (seed 000, step 2): .github/workflows/release-data-prep.yml runs this script
# from the checkout on every push to main and every pull request, unless the repository variable
# RELEASE_DATA_PREP_COMMAND names another command. It gets no token. Replace the example step with
# yours: validate metadata, run ETL pipelines, generate derived manifests, upload artifacts. A
# non-zero exit makes the commit status "failure"; exit 0 makes it "success".
#
# Rows written to $RELEASE_DATA_PREP_RESULTS (a JSON array of {"name", "result", "details"?,
# "url"?}) become the pull request comment's table when RELEASE_DATA_PREP_COMMENT is "true".
set -euo pipefail

# Example step: the release database update-db writes must parse and list its releases, so a
# hand edit that breaks it fails here, on its pull request, not in the next release's update-db.
python3 - db/db.json <<'PY'
import json
import os
import sys

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as handle:
        db = json.load(handle)
    releases = db["releases"] if isinstance(db, dict) else None
    if not isinstance(releases, list):
        raise ValueError("no releases list")
    row = {"name": path, "result": "pass", "details": f"{len(releases)} release(s)"}
except (OSError, ValueError, KeyError) as exc:
    row = {"name": path, "result": "fail", "details": str(exc)}
results = os.environ.get("RELEASE_DATA_PREP_RESULTS")
if results:
    with open(results, "w", encoding="utf-8") as handle:
        json.dump([row], handle)
print(f"{row['name']}: {row['result']} ({row['details']})")
sys.exit(0 if row["result"] == "pass" else 1)
PY
