"""Test-only action body: INPUT_* in, $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY out via runtime.Console."""

from __future__ import annotations

import sys

from gitops_release.runtime import Console, InputReader, InputSpec

INPUTS = (
    InputSpec("greeting", "Text to greet with.", required=True),
    InputSpec("names", "Names.", kind="list", default=["world"]),
    InputSpec("token", "A secret.", secret=True),
    InputSpec("fail", "Fail with ::error.", kind="bool", default=False),
)


def main() -> int:
    console = Console()
    values = InputReader().read_all(INPUTS)
    if values["fail"]:
        message = "input 'fail' asked this step to fail. Fix: set fail: false"
        console.annotation("error", message, title="Echo failed")
        return 1
    message = f"{values['greeting']}, {' and '.join(values['names'])}"
    console.info(f"echo-inputs: {message} (token {values['token']})")
    # The token goes to the log, an output and the summary on purpose: all must show *** instead.
    console.write_outputs(
        {
            "message": message,
            "names": values["names"],
            "lines": "\n".join(values["names"]),
            "token": values["token"] or "",
        }
    )
    console.write_summary(f"echo-inputs said: {message} (token {values['token']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
