"""The inventory parser fuzzed: whatever bytes or YAML a file holds, the answer is an inventory or an
InventoryError whose every problem names the file, then the entry and key (or the place in the file); and
an inventory that parses is one the real store takes."""

from __future__ import annotations

import re

import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.inventory import InventoryError, parse_inventory, read_inventory, store_inventory

SOURCE = "fuzz.yaml"
# `agencies[0]`, `entities[2] (kiosk/k1).name`, `sites (s1).parent`, `line 3, column 5`, `top level`, ...
_KEY = r"""([A-Za-z0-9_.\-]+|'[^']*'|"[^"]*")"""  # a plain key, or one shown with repr()
_ENTRY = r"(agencies|sites|entities)(\[\d+\])?( \([^()\s:]+\))?"
PLACE = re.compile(rf"^(top level|cannot read|line \d+, column \d+|YAML|{_KEY}|{_ENTRY}(\.{_KEY}|\[\d+\])*): \S")

hostile_text = st.text(max_size=10) | st.sampled_from(["\x00", "a\x00b", "\ud800", "x" * 3000, "k1", "s1", "a1"])
ids = st.sampled_from(["k1", "k2", "s1", "s2", "a1", "Bad Id", "", "kiosk/k1", "link/l1"]) | hostile_text
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | hostile_text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner,
                      max_size=3), max_leaves=10)  # fmt: skip
KEYS = st.sampled_from(["kind", "id", "name", "site", "agency", "system", "depends_on", "interval_s", "parent",
                        "lat", "lon", "status_page", "url"])  # fmt: skip
KNOWN = {
    "kind": st.sampled_from(["kiosk", "link", "service", "printer"]),
    "id": ids,
    "name": hostile_text,
    "site": ids,
    "agency": ids,
    "parent": ids,
    "depends_on": st.lists(st.sampled_from(["kiosk/k1", "kiosk/k2", "link/l1", "nope"]) | values, max_size=3),
    "interval_s": scalars,
    "lat": scalars,
    "lon": scalars,
    "status_page": st.sampled_from(["public", "private", "secret"]) | scalars,
}
entries = (
    st.builds(
        lambda known, extra: {**extra, **known},
        st.fixed_dictionaries({}, optional=KNOWN),
        st.dictionaries(KEYS | hostile_text, values, max_size=2),
    )
    | values
)
documents = (
    st.fixed_dictionaries({}, optional={s: st.lists(entries, max_size=4) | values for s in ("agencies", "sites",
                                                                                          "entities")})
    | st.dictionaries(hostile_text, values, max_size=3)
    | values
)  # fmt: skip


def check(exc: InventoryError, source: str = SOURCE) -> None:
    assert exc.problems
    for problem in exc.problems:
        assert problem.startswith(f"{source}: "), problem
        assert PLACE.match(problem.removeprefix(f"{source}: ")), problem


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn) as connection:
        yield connection


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents)
def test_any_yaml_document_is_an_inventory_the_store_takes_or_named_problems(conn, doc):
    text = yaml.safe_dump(doc, allow_unicode=False)  # NUL and lone surrogates go in as YAML escapes
    try:
        inventory = parse_inventory(text, SOURCE)
    except InventoryError as exc:
        check(exc)
        return
    with conn.transaction(force_rollback=True):  # store_inventory's own transaction becomes a savepoint
        store_inventory(conn, inventory)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300) | st.sampled_from([b"\xff\xfe", b"entities:\n  - \x00", b"[&a [*a]]", b""]))
def test_any_bytes_in_an_inventory_file_are_an_inventory_or_named_problems(tmp_path, data):
    path = tmp_path / "inventory.yaml"
    path.write_bytes(data)
    try:
        read_inventory(path)
    except InventoryError as exc:
        check(exc, str(path))


def test_text_the_store_cannot_hold_is_named_by_entry_and_key():
    text = 'entities:\n  - {kind: kiosk, id: k1, name: "Kiosk\\0", floor: ["\\ud800"]}\n'
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, SOURCE)
    assert info.value.problems == [
        "fuzz.yaml: entities[0] (kiosk/k1).name: holds a NUL character or a lone surrogate, which cannot be stored",
        "fuzz.yaml: entities[0] (kiosk/k1).floor[0]: holds a NUL character or a lone surrogate, which cannot be stored",
    ]
