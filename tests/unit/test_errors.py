from __future__ import annotations

import inspect

from gitops_release import errors
from gitops_release.errors import InputError, ReleaseError, UsageError


def test_every_error_has_a_docstring_and_derives_from_release_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, Exception)]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, ReleaseError), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls


def test_one_line_folds_newlines_and_appends_fix():
    error = ReleaseError("first\nsecond", fix="do\nthis")
    assert error.one_line() == "first second. Fix: do this"
    assert str(error) == error.one_line()


def test_input_error_names_field_in_title_and_message():
    error = InputError("tag", "'latest' is mutable", fix="use sha-<8 hex>")
    assert error.title == "Invalid input 'tag'"
    assert error.one_line() == "input 'tag': 'latest' is mutable. Fix: use sha-<8 hex>"
    assert error.exit_code == 1


def test_usage_error_exits_2():
    assert UsageError("x").exit_code == 2
