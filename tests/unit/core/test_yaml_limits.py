"""core/yaml_limits.py on composed node graphs (PyYAML's and ruamel.yaml's): the alias count,
the expansion bound on its boundary, self-containing anchors, the exact messages and lines."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from gitops_release.core.yaml_limits import (
    ANCHORS_FIX,
    MAX_ALIAS_NODES,
    MAX_ALIASES,
    AliasLimitError,
    _about,
    check_expansion,
    count_alias,
)


def pyyaml_nodes(text: str) -> Any:
    return yaml.compose(text, Loader=yaml.SafeLoader)


def ruamel_nodes(text: str) -> Any:
    return YAML(typ="rt").compose(io.StringIO(text))


COMPOSERS = [pytest.param(pyyaml_nodes, id="pyyaml"), pytest.param(ruamel_nodes, id="ruamel")]


def anchored(n: int, k: int) -> str:
    """One anchor of ``n`` scalars (a sequence node and n scalars), aliased ``k`` times: the
    aliases stand for k * (n + 1) values beyond the distinct nodes."""
    return "a: &a [" + ",".join(["x"] * n) + "]\nb: [" + ",".join(["*a"] * k) + "]\n"


# -- count_alias -------------------------------------------------------------------------------


def test_count_alias_counts_one_more_up_to_the_bound() -> None:
    assert count_alias(0, None) == 1
    assert count_alias(41, None) == 42
    assert count_alias(MAX_ALIASES - 1, None) == MAX_ALIASES  # the bound itself is accepted


def test_count_alias_refuses_one_beyond_the_bound_with_the_line_of_the_mark() -> None:
    with pytest.raises(AliasLimitError) as info:
        count_alias(MAX_ALIASES, SimpleNamespace(line=6))
    assert info.value.problem == f"uses more than {MAX_ALIASES} YAML aliases"
    assert str(info.value) == info.value.problem
    assert info.value.line == 7  # marks count from 0, messages from 1
    assert MAX_ALIASES == 100


@pytest.mark.parametrize(
    "mark", [None, SimpleNamespace(), SimpleNamespace(line="3"), SimpleNamespace(line=None)]
)
def test_count_alias_without_a_usable_mark_has_no_line(mark: object) -> None:
    with pytest.raises(AliasLimitError) as info:
        count_alias(MAX_ALIASES, mark)
    assert info.value.line is None


def test_a_line_0_mark_is_line_1() -> None:
    with pytest.raises(AliasLimitError) as info:
        count_alias(MAX_ALIASES, SimpleNamespace(line=0))
    assert info.value.line == 1


def test_the_error_defaults_to_no_line_and_the_fix_names_anchors_and_aliases() -> None:
    error = AliasLimitError("p")
    assert (error.problem, error.line, str(error)) == ("p", None, "p")
    assert isinstance(error, ValueError)
    assert ANCHORS_FIX == "write the values out instead of using YAML anchors and aliases (&name / *name)"


# -- check_expansion: the bound ----------------------------------------------------------------


def test_nothing_to_check_for_an_empty_document() -> None:
    check_expansion(None)
    assert pyyaml_nodes("# only a comment\n") is None


@pytest.mark.parametrize("compose", COMPOSERS)
def test_exactly_the_bound_is_accepted_one_more_is_refused(compose: Any) -> None:
    assert MAX_ALIAS_NODES == 10_000
    check_expansion(compose(anchored(99, 100)))  # 100 * 100 = MAX_ALIAS_NODES
    check_expansion(compose(anchored(9_999, 1)))  # one alias of 10,000 values
    with pytest.raises(AliasLimitError) as info:
        check_expansion(compose(anchored(10_000, 1)))  # 10,001
    assert info.value.problem == "has YAML aliases standing for 10,001 values (at most 10,000 are accepted)"
    assert info.value.line is None


@pytest.mark.parametrize("compose", COMPOSERS)
def test_the_count_is_exact(compose: Any) -> None:
    with pytest.raises(AliasLimitError) as info:
        check_expansion(compose(anchored(100, 100)))
    assert info.value.problem == "has YAML aliases standing for 10,100 values (at most 10,000 are accepted)"


@pytest.mark.parametrize("compose", COMPOSERS)
def test_aliases_in_mapping_keys_and_values_are_counted(compose: Any) -> None:
    # A mapping anchor of 5,000 pairs (10,001 nodes with itself), aliased as a value once and
    # inside a sequence once: 20,002 values beyond the distinct ones.
    pairs = ", ".join(f"k{i}: v" for i in range(5_000))
    text = f"a: &a {{{pairs}}}\nb: *a\nc: [*a]\n"
    with pytest.raises(AliasLimitError, match=r"standing for 20,002 values"):
        check_expansion(compose(text))
    # The same anchor aliased once: 10,001 beyond.
    with pytest.raises(AliasLimitError, match=r"standing for 10,001 values"):
        check_expansion(compose(f"a: &a {{{pairs}}}\nb: *a\n"))


@pytest.mark.parametrize("compose", COMPOSERS)
def test_nested_aliases_multiply(compose: Any) -> None:
    # a is 101 nodes; b's 50 aliases of a stand for 50 * 101 = 5,050 values, c's two aliases of
    # b for 2 * (1 + 5,050) = 10,102: 15,152 in all.
    text = "a: &a [" + ",".join(["x"] * 100) + "]\nb: &b [" + ",".join(["*a"] * 50) + "]\nc: [*b, *b]\n"
    with pytest.raises(AliasLimitError) as info:
        check_expansion(compose(text))
    assert info.value.problem == "has YAML aliases standing for 15,152 values (at most 10,000 are accepted)"


@pytest.mark.parametrize("compose", COMPOSERS)
def test_a_shared_node_is_visited_once_and_aliases_of_scalars_count_one_each(compose: Any) -> None:
    check_expansion(compose("a: &a x\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"))
    check_expansion(compose("plain: [1, 2, {x: y}]\n"))


def test_a_huge_expansion_is_written_as_a_power_of_ten() -> None:
    depth, width = 9, 9
    parts = ["&a0 [" + ",".join(["x"] * width) + "]"]
    parts += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth + 1)]
    with pytest.raises(AliasLimitError) as info:
        check_expansion(pyyaml_nodes("c: [" + ", ".join(parts) + "]\n"))
    assert info.value.problem == (
        "has YAML aliases standing for about 10^9 values (at most 10,000 are accepted)"
    )


@pytest.mark.parametrize(
    ("count", "written"),
    [
        (0, "0"),
        (10_001, "10,001"),
        (999_999_999, "999,999,999"),
        (10**9, "about 10^9"),
        (10**9 + 1, "about 10^9"),
        (10**10 - 1, "about 10^9"),
        (10**10, "about 10^10"),
        (387_420_489, "387,420,489"),
    ],
)
def test_about(count: int, written: str) -> None:
    assert _about(count) == written


# -- check_expansion: a node inside itself -----------------------------------------------------


@pytest.mark.parametrize("compose", COMPOSERS)
@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: &a [x, *a]\n", 1),  # a sequence that holds itself
        ("top:\n  a: &a\n    - x\n    - y: *a\n", 2),  # deeper: named at the anchor's line
        ("top:\n\n  a: &a {k: *a}\n", 3),  # a mapping value
        ("a: &a {? *a : v}\n", 1),  # a mapping key
        ("x: 1\na: &a [[[*a]]]\n", 2),  # three levels down
    ],
)
def test_an_alias_inside_the_node_its_anchor_names_is_refused_with_the_anchors_line(
    compose: Any, text: str, line: int
) -> None:
    with pytest.raises(AliasLimitError) as info:
        check_expansion(compose(text))
    assert info.value.problem == "has a YAML alias inside the node its anchor names"
    assert info.value.line == line


@pytest.mark.parametrize("compose", COMPOSERS)
def test_the_same_anchor_in_two_branches_is_no_cycle(compose: Any) -> None:
    # a is reached twice through different parents: shared, not inside itself.
    check_expansion(compose("a: &a [x]\nb: &b [*a, [*a]]\nc: [*b, *a]\n"))


def test_a_root_that_holds_itself_is_refused() -> None:
    with pytest.raises(AliasLimitError) as info:
        check_expansion(pyyaml_nodes("&r [x, *r]\n"))
    assert (info.value.problem, info.value.line) == ("has a YAML alias inside the node its anchor names", 1)


def test_a_node_graph_built_by_hand_with_no_marks_has_no_line() -> None:
    # Nodes that are not from a file (no line in their marks) still get the one-line problem.
    node = yaml.SequenceNode("tag:yaml.org,2002:seq", [], start_mark=None)
    node.value.append(node)
    with pytest.raises(AliasLimitError) as info:
        check_expansion(node)
    assert info.value.line is None


def test_parse_error_words_an_alias_limit_and_a_syntax_error_with_their_lines() -> None:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from gitops_release.core.yaml_limits import ANCHORS_FIX, AliasLimitError, parse_error

    limit = parse_error("a.yaml", AliasLimitError("uses more than 100 YAML aliases", 7))
    assert (limit.message, limit.fix) == ("a.yaml: uses more than 100 YAML aliases (line 7)", ANCHORS_FIX)
    assert parse_error("a.yaml", AliasLimitError("too many")).message == "a.yaml: too many"
    try:
        YAML().load("a: [\nb: c\n")
    except YAMLError as exc:
        syntax = parse_error("b.yaml", exc)
    assert syntax.message.startswith("b.yaml: is not valid YAML at line ")
    assert syntax.fix == "fix the YAML syntax"
    assert parse_error("c.yaml", YAMLError("no mark")).message == "c.yaml: is not valid YAML"
