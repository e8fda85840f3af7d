"""core/secrets.py: no secret values or private keys in desired state."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_release.core.secrets import private_key_findings, secret_findings, string_key_findings

TAIL = (
    ": secret values must not be in desired state; reference them "
    "(ExternalSecret, SealedSecret, a Secret made in the cluster)"
)
KEY_TAIL = ": keys must not be in desired state; keep them in a secret store and reference them"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def secret(**fields: object) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "app"}, **fields}


def test_a_secret_with_data_or_string_data_is_a_finding_naming_keys_not_values() -> None:
    findings = secret_findings(
        [secret(data={"password": "c2VjcmV0", "empty": ""}, stringData={"token": "hunter2", "none": None})],
        shown="apps/x/overlays/dev",
    )
    assert findings == [
        "apps/x/overlays/dev: renders Secret 'app/db' with values ('data.password', 'stringData.token')"
        + TAIL
    ]
    assert "c2VjcmV0" not in findings[0] and "hunter2" not in findings[0]


@pytest.mark.parametrize(
    "resource",
    [
        secret(),
        secret(data={}),
        secret(data={"a": ""}, stringData={"b": None}),
        secret(data=None),
        secret(data=["not", "a", "mapping"]),
        secret(type="kubernetes.io/service-account-token"),
        {"kind": "SealedSecret", "spec": {"encryptedData": {"password": "AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq"}}},
        {"kind": "ExternalSecret", "spec": {"data": [{"secretKey": "password"}]}},
        {"kind": "ConfigMap", "data": {"a": "b"}},
        {"kind": "secret", "data": {"a": "b"}},
        {"data": {"a": "b"}},
        "not a mapping",
    ],
)
def test_what_is_not_a_finding(resource: object) -> None:
    assert secret_findings([resource], shown="o") == []  # type: ignore[list-item]


def test_names_without_namespace_and_odd_metadata() -> None:
    assert secret_findings(
        [{"kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "b"}}], shown="o"
    ) == [f"o: renders Secret 'x' with values ('data.a'){TAIL}"]
    assert secret_findings([{"kind": "Secret", "metadata": "odd", "data": {"a": "b"}}], shown="o") == [
        f"o: renders Secret 'None' with values ('data.a'){TAIL}"
    ]
    assert secret_findings(
        [{"kind": "Secret", "metadata": {"name": "x", "namespace": ""}, "data": {"a": "b"}}], shown="o"
    )[0].startswith("o: renders Secret 'x' ")


def test_many_keys_are_cut_and_hostile_names_escaped() -> None:
    data = {f"k{i}": "v" for i in range(7)}
    (finding,) = secret_findings([secret(data=data)], shown="o")
    assert "('data.k0', 'data.k1', 'data.k2', 'data.k3', 'data.k4' and 2 more)" in finding
    (finding,) = secret_findings(
        [{"kind": "Secret", "metadata": {"name": "a\x1b[2Jb"}, "data": {"\n": "v"}}], shown="o"
    )
    assert finding == f"o: renders Secret 'a\\x1b[2Jb' with values ('data.\\n'){TAIL}"


def test_items_of_a_rendered_list_are_searched_to_a_bound() -> None:
    inner = {"kind": "List", "items": [secret(data={"a": "b"}), {"kind": "ConfigMap"}]}
    assert (
        len(
            secret_findings(
                [{"kind": "SecretList", "items": [inner, secret(stringData={"b": "c"})]}], shown="o"
            )
        )
        == 2
    )
    deep: dict[str, object] = secret(data={"a": "b"})
    for _ in range(9):  # MAX_LIST_DEPTH lists are searched, a ninth is not
        deep = {"kind": "List", "items": [deep]}
    assert secret_findings([deep], shown="o") == []
    deep = secret(data={"a": "b"})
    for _ in range(8):
        deep = {"kind": "List", "items": [deep]}
    assert len(secret_findings([deep], shown="o")) == 1
    assert secret_findings([{"kind": "List", "items": "x"}], shown="o") == []


def test_several_resources_give_findings_in_order() -> None:
    resources = [
        secret(data={"a": "b"}),
        {"kind": "Deployment"},
        {"kind": "Secret", "metadata": {"name": "z"}, "data": {"c": "d"}},
    ]
    findings = secret_findings(resources, shown="o")
    assert [f.split(" with")[0] for f in findings] == ["o: renders Secret 'app/db'", "o: renders Secret 'z'"]


# -- private keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "-----BEGIN PRIVATE KEY-----",
        "-----BEGIN RSA PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----",
        "-----BEGIN DSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    ],
)
def test_private_key_blocks_written_out(header: str) -> None:
    text = f"apiVersion: v1\nkind: Secret\nstringData:\n  key: |\n    {header}\n    abc\n"
    assert private_key_findings(text, shown="s.yaml") == [
        f"s.yaml: line 5 holds a private key ({header}){KEY_TAIL}"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "-----BEGIN PUBLIC KEY-----\n",
        "-----BEGIN RSA PUBLIC KEY-----\n",
        "# our private keys live in Vault: PRIVATE KEY\n",
        "-----BEGIN private KEY-----\n",
        base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIBxTCCAWugAwIBAgIU\n").decode(),
        base64.b64encode(
            b"-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n"
        ).decode(),
        "LS0tLS1CRUdJTiBQ",  # the start of an encoded header, cut short
        "",
    ],
)
def test_what_is_not_a_private_key(text: str) -> None:
    assert private_key_findings(text, shown="s") == []


def test_several_blocks_each_with_its_line() -> None:
    text = f"a: |\n  {PEM}b: |\n  -----BEGIN RSA PRIVATE KEY-----\n"
    assert private_key_findings(text, shown="s") == [
        f"s: line 2 holds a private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}",
        f"s: line 6 holds a private key (-----BEGIN RSA PRIVATE KEY-----){KEY_TAIL}",
    ]


@pytest.mark.parametrize(
    "prefix", ["", "x", "xy", "xyz", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]
)
def test_a_base64_encoded_key_at_any_byte_offset(prefix: str) -> None:
    encoded = base64.b64encode((prefix + PEM).encode()).decode()
    text = f"apiVersion: v1\nkind: Secret\ndata:\n  id_ed25519: {encoded}\n"
    assert private_key_findings(text, shown="s.yaml") == [
        f"s.yaml: line 4 holds a base64-encoded private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}"
    ]


@given(
    prefix=st.binary(max_size=40),
    width=st.integers(min_value=1, max_value=80),
    indent=st.sampled_from(["", "  ", "\t", "    "]),
    kind=st.sampled_from(["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "]),
)
def test_a_wrapped_base64_key_is_found_wherever_the_lines_break(
    prefix: bytes, width: int, indent: str, kind: str
) -> None:
    header = f"-----BEGIN {kind}PRIVATE KEY-----"
    encoded = base64.b64encode(prefix + f"{header}\nMIIEvQIBADANBg\n".encode()).decode()
    wrapped = f"\n{indent}".join(encoded[i : i + width] for i in range(0, len(encoded), width))
    findings = private_key_findings(f"data:\n  key: |\n{indent}{wrapped}\n", shown="s")
    # The encoded header is found where its first whole 3-byte group starts.
    group = -(-len(prefix) // 3)
    line = 3 + (group * 4) // width
    assert findings == [f"s: line {line} holds a base64-encoded private key ({header}){KEY_TAIL}"]


def test_a_key_both_written_out_and_encoded_gives_two_findings() -> None:
    encoded = base64.b64encode(PEM.encode()).decode()
    text = f"{PEM}data: {encoded}\n"
    assert private_key_findings(text, shown="s") == [
        f"s: line 1 holds a private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}",
        f"s: line 4 holds a base64-encoded private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}",
    ]


def test_non_utf8_text_does_not_break_the_search() -> None:
    text = "\udcff\ud800 -----BEGIN EC PRIVATE KEY-----"
    assert private_key_findings(text, shown="s") == [
        f"s: line 1 holds a private key (-----BEGIN EC PRIVATE KEY-----){KEY_TAIL}"
    ]


def test_the_line_counts_from_one_also_after_a_leading_blank_line() -> None:
    encoded = base64.b64encode(PEM.encode()).decode()
    assert private_key_findings(f"\n{PEM}", shown="s")[0].startswith("s: line 2 holds a private key")
    assert private_key_findings(f"\n{encoded}", shown="s")[0].startswith("s: line 2 holds a base64-encoded")
    assert private_key_findings(PEM, shown="s")[0].startswith("s: line 1 holds a private key")


def test_several_encoded_keys_each_found_at_its_place() -> None:
    first = base64.b64encode(PEM.encode()).decode()
    second = base64.b64encode(b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n").decode()
    text = f"a: x y {first}\nb: 1\nc: z {first} {second}\n"
    assert private_key_findings(text, shown="s") == [
        f"s: line 1 holds a base64-encoded private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}",
        f"s: line 3 holds a base64-encoded private key (-----BEGIN OPENSSH PRIVATE KEY-----){KEY_TAIL}",
        f"s: line 3 holds a base64-encoded private key (-----BEGIN RSA PRIVATE KEY-----){KEY_TAIL}",
    ]


def test_a_nested_secret_names_the_overlay_and_long_names_are_cut() -> None:
    nested = {
        "kind": "List",
        "items": [{"kind": "Secret", "metadata": {"name": "n" * 100}, "data": {"k" * 50: "v"}}],
    }
    (finding,) = secret_findings([nested], shown="apps/x/overlays/dev")
    name = "'" + "n" * 76 + "..."
    key = "'data." + "k" * 31 + "..."
    assert finding == f"apps/x/overlays/dev: renders Secret {name} with values ({key}){TAIL}"


def test_exactly_five_keys_are_all_named() -> None:
    (finding,) = secret_findings([secret(data={f"k{i}": "v" for i in range(5)})], shown="o")
    assert "('data.k0', 'data.k1', 'data.k2', 'data.k3', 'data.k4')" in finding


def test_string_key_findings_read_decoded_values() -> None:
    # REVIEW8b A: values as YAML decoded them (an escape resolved, folded lines joined)
    encoded = base64.b64encode(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n").decode()
    values = ["short", "-----BEGIN RSA PRIVATE KEY----- MIIE", "a plain, long enough value", encoded]
    assert string_key_findings(values, shown="o") == [
        "o: holds a private key (-----BEGIN RSA PRIVATE KEY-----) in a string value: keys must not be "
        "in desired state; keep them in a secret store and reference them",
        "o: holds a private key (base64-encoded -----BEGIN OPENSSH PRIVATE KEY-----) in a string value: "
        "keys must not be in desired state; keep them in a secret store and reference them",
    ]
