"""set_image_entry on generated kustomizations (tests/fixtures/overlay_gen.py): the entry means
exactly the fields set, every byte outside the edited values is the input's, line endings, BOM
and final newline are kept, and a second identical edit changes nothing. The render half is
tests/integration/test_overlay_property_render.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.overlay import get_images, set_image_entry
from tests.fixtures.overlay_gen import (
    EDITED_KEYS,
    Generated,
    edits,
    expected_entries,
    inserted_once,
    kustomizations,
    masked,
)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_only_the_edited_values_change(data: st.DataObject) -> None:
    generated: Generated = data.draw(kustomizations())
    name, fields, add = data.draw(edits(generated))
    text = generated.text
    out = set_image_entry(
        text,
        name=name,
        new_name=fields["newName"],
        new_tag=fields["newTag"],
        digest=fields["digest"],
        add_missing=add,
    )
    assert get_images(out) == expected_entries(generated.entries, name, fields)
    if add:
        assert inserted_once(text, out)
    else:
        before = next(entry for entry in generated.entries if entry["name"] == name)
        after = next(entry for entry in get_images(out) if entry["name"] == name)
        dropped = {key for key in EDITED_KEYS if (key in before) != (key in after)}
        assert masked(out, name, dropped) == masked(text, name, dropped)
    # One line break style throughout, the BOM and the final newline (or its absence) kept.
    assert out.count("\n") == out.count("\r\n") if generated.eol == "\r\n" else "\r" not in out
    assert out.startswith("\ufeff") == generated.bom
    assert out.endswith(generated.eol) == generated.final_newline
    again = set_image_entry(
        out, name=name, new_name=fields["newName"], new_tag=fields["newTag"], digest=fields["digest"]
    )
    assert again is out
