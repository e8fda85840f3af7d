"""Property: whatever Application object a server sends (any shape, any value types), and
whatever server URL, run variables and clock readings the command passes, the evidence document
validates against schemas/evidence.schema.json (review 9a #15)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gitops_release.core.argocd import Assessment, Expectation, Transition, Verdict, observe
from gitops_release.core.evidence import RUN_KEYS, app_evidence, evidence_document

SCHEMA = json.loads((resources.files("gitops_release") / "schemas" / "evidence.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
WORDS = st.sampled_from(["Running", "Pending", "Succeeded", "Failed", "Error", "Terminating", "", "0"])
URLS = st.text(max_size=30) | st.builds(
    "{}://{}@{}/{}".format,
    st.sampled_from(["https", "http", "ssh", "file"]),
    st.text(max_size=10),
    st.text(max_size=10),
    st.text(max_size=10),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | JSON


def items(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return maybe(st.lists(maybe(st.fixed_dictionaries({}, optional=fields)), max_size=3))


SOURCE = st.fixed_dictionaries(
    {}, optional={"repoURL": maybe(URLS), "path": JSON, "chart": JSON, "targetRevision": JSON}
)
APPLICATIONS = st.fixed_dictionaries(
    {},
    optional={
        "metadata": maybe(st.fixed_dictionaries({}, optional={"name": JSON, "namespace": JSON})),
        "operation": JSON,
        "spec": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "source": maybe(SOURCE),
                    "sources": maybe(st.lists(maybe(SOURCE), max_size=3)),
                    "project": JSON,
                    "destination": JSON,
                },
            )
        ),
        "status": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "sync": maybe(
                        st.fixed_dictionaries(
                            {}, optional={"status": JSON, "revision": JSON, "revisions": JSON}
                        )
                    ),
                    "health": maybe(st.fixed_dictionaries({}, optional={"status": JSON, "message": JSON})),
                    "operationState": maybe(
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "phase": maybe(WORDS),
                                "message": JSON,
                                "startedAt": JSON,
                                "finishedAt": JSON,
                                "syncResult": maybe(
                                    st.fixed_dictionaries(
                                        {},
                                        optional={
                                            "revision": JSON,
                                            "resources": items(
                                                status=maybe(st.just("SyncFailed")), kind=JSON, message=JSON
                                            ),
                                        },
                                    )
                                ),
                            },
                        )
                    ),
                    "reconciledAt": JSON,
                    "conditions": items(type=JSON, message=JSON),
                    "summary": maybe(st.fixed_dictionaries({}, optional={"images": JSON})),
                    "resources": items(status=JSON, health=JSON, kind=JSON, name=JSON),
                    "history": items(id=JSON, revision=JSON, deployedAt=JSON),
                },
            )
        ),
    },
)
TRANSITIONS = st.lists(
    st.builds(
        Transition,
        at=st.floats(),
        sync=st.text(max_size=10),
        health=st.text(max_size=10),
        phase=st.none() | st.text(max_size=10),
        revision=st.text(max_size=10),
    ),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(
    app=APPLICATIONS,
    expected=st.lists(st.none() | st.text(max_size=12), min_size=1, max_size=3),
    verdict=st.sampled_from(list(Verdict)),
    reason=st.text(max_size=40),
    superseded_by=st.none() | st.text(max_size=12),
    images=st.lists(st.text(max_size=15), max_size=3),
    transitions=TRANSITIONS,
    duration=st.floats(),
    server=URLS,
    run=st.dictionaries(st.sampled_from(sorted(RUN_KEYS)), URLS, max_size=len(RUN_KEYS)),
    took=st.floats(min_value=-1e6, max_value=1e6),
)
def test_evidence_from_any_application_validates(
    app: Any,
    expected: list[str | None],
    verdict: Verdict,
    reason: str,
    superseded_by: str | None,
    images: list[str],
    transitions: list[Transition],
    duration: float,
    server: str,
    run: dict[str, str],
    took: float,
) -> None:
    item = app_evidence(
        observe(app),
        expected=Expectation(tuple(expected)),
        assessment=Assessment(verdict, reason, superseded_by),
        expected_images=images,
        images_source="input",
        transitions=transitions,
        started_at=START,
        duration=duration,
    )
    doc = evidence_document(
        [item],
        mode="wait",
        server=server,
        started_at=START,
        finished_at=START + timedelta(seconds=took),
        outcome="done",
        run=run,
    )
    VALIDATOR.validate(doc)
    json.dumps(doc, allow_nan=False)  # plain JSON: no NaN or Infinity


def test_an_operation_phase_argo_cd_does_not_define_is_unknown_not_invalid() -> None:
    for phase, shown in (("Pending", "Unknown"), (7, "Unknown"), ("Failed", "Failed"), (None, None)):
        app = {"metadata": {"name": "web"}, "status": {"operationState": {"phase": phase}}}
        item = app_evidence(
            observe(app),
            expected=Expectation(("a" * 40,)),
            assessment=Assessment(Verdict.WAITING, "waiting"),
            expected_images=[],
            images_source="none",
            transitions=[],
            started_at=START,
            duration=1.0,
        )
        doc = evidence_document(
            [item], mode="wait", server="argocd", started_at=START, finished_at=START, outcome="done", run={}
        )
        VALIDATOR.validate(doc)
        assert item["operation"]["phase"] == shown


def test_a_userinfo_hidden_behind_a_second_at_or_a_space_is_dropped() -> None:
    for server in ("https://a@b@argocd.example.com/x", "https://a b@argocd.example.com"):
        doc = evidence_document(
            [], mode="wait", server=server, started_at=START, finished_at=START, outcome="done", run={}
        )
        VALIDATOR.validate(doc)
        assert doc["server"].startswith("https://argocd.example.com")
