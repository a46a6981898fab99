"""Decoders: every malformed case gets its reason; property tests for the JSON and line-protocol decoders."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.decoders import apply_time_window, decode_message, json_samples
from collectors.decoders.decoded import Decoded
from collectors.decoders.line_protocol import parse_line
from ioc.model import MAX_LABEL_CHARS, METRIC_RE
from tests.support import telegraf_lines

P = "ioc/v1"
NOW = 1_795_000_000.0
T = f"{P}/metrics/kiosk/kiosk-pv-01"


def decode(topic: str, payload: bytes | str):
    data = payload.encode() if isinstance(payload, str) else payload
    return decode_message(topic, data, NOW, P)


def reasons(decoded) -> list[str]:
    return sorted({reason for reason, _ in decoded.problems})


# (topic, payload, reasons, samples kept)
MALFORMED = [
    (T, "{not json", ["not_json"], 0),
    (T, b"\xff\xfe", ["not_json"], 0),
    (T, "42", ["bad_type"], 0),
    (T, '{"metrics": {"cpu_pct": "high"}}', ["bad_type"], 0),
    (T, '{"metrics": {"cpu_pct": null}}', ["bad_type"], 0),
    (T, '{"metrics": {"cpu_pct": NaN}}', ["non_finite"], 0),
    (T, '{"metrics": {"cpu_pct": Infinity, "mem_pct": 3}}', ["non_finite"], 1),
    (T, '{"metrics": {"cpu_pct": 1e400}}', ["non_finite"], 0),
    (T, '{"metrics": {"cpu_pct": -1e400}}', ["non_finite"], 0),
    (T, '{"metrics": {"cpu_pct": 1' + "0" * 400 + ', "mem_pct": 3}}', ["non_finite"], 1),
    (T, '{"ts": 1' + "0" * 400 + ', "metrics": {"cpu_pct": 1}}', ["bad_ts"], 0),
    (T, '{"metrics": {"CPU": 1}}', ["bad_metric_name"], 0),
    (T, '{"metrics": {"9lives": 1}}', ["bad_metric_name"], 0),
    (T, '{"metrics": {"' + "a" * 101 + '": 1}}', ["bad_metric_name"], 0),
    (f"{P}/metrics/robot/r1", '{"metrics": {"a": 1}}', ["unknown_kind"], 0),
    (f"{P}/metrics/kiosk/Bad_Id", '{"metrics": {"a": 1}}', ["bad_entity_id"], 0),
    (f"{P}/metrics/kiosk", '{"metrics": {"a": 1}}', ["bad_topic"], 0),
    (f"{P}/weather/kiosk/k1", '{"metrics": {"a": 1}}', ["bad_topic"], 0),
    (T, '{"ts": "yesterday", "metrics": {"a": 1}}', ["bad_ts"], 0),
    (T, '{"ts": "2026-11-22T08:00:00", "metrics": {"a": 1}}', ["bad_ts"], 0),
    (T, '{"ts": true, "metrics": {"a": 1}}', ["bad_ts"], 0),
    (T, '{"ts": 1e400, "metrics": {"a": 1}}', ["bad_ts"], 0),
    (T, '{"metrics": {}}', ["no_metrics"], 0),
    (T, '{"labels": {"a": "b"}}', ["no_metrics"], 0),
    (T, "[]", ["no_metrics"], 0),
    (T, '{"metrics": [1, 2]}', ["bad_type"], 0),
    (T, '{"metrics": {"a": 1}, "labels": {"n": 5}}', ["bad_labels"], 0),
    (T, '{"metrics": {"a": 1}, "labels": ["x"]}', ["bad_labels"], 0),
    (T, '{"metrics": {"a": 1}, "labels": {"n": "' + "x" * (MAX_LABEL_CHARS + 1) + '"}}', ["bad_labels"], 0),
    (T, orjson.dumps({"metrics": {"a": 1}, "labels": {f"k{i}": "v" for i in range(17)}}), ["bad_labels"], 0),
    (T, '{"metrics": {"a": 1}, "labels": {"n": "a\\u0000b"}}', ["bad_labels"], 0),
    (T, orjson.dumps({"metrics": {f"m{i}": i for i in range(10_001)}}), ["too_many_samples"], 0),
    (T, b'{"metrics": {"a": 1}, "pad": "' + b"x" * 262_144 + b'"}', ["too_large"], 0),
    (T, '[{"metrics": {"a": 1}}, {"metrics": {"b": "x"}}, 3, {"metrics": {"c": true}}]', ["bad_type"], 2),
    (f"{P}/status/kiosk/k1", "maybe", ["bad_status"], 0),
    (f"{P}/events/kiosk/k1", "nope", ["not_json"], 0),
    (f"{P}/events/kiosk/k1", '{"type": "printer_jam", "severity": "fatal"}', ["bad_event"], 0),
    (f"{P}/events/kiosk/k1", '{"severity": "info"}', ["bad_event"], 0),
    (f"{P}/events/kiosk/k1", '{"type": "x", "severity": "info", "message": 5}', ["bad_event"], 0),
    (f"{P}/events/kiosk/k1", '{"type": "x", "severity": "info", "ts": "soon"}', ["bad_ts"], 0),
    (f"{P}/events/kiosk/k1", "[1]", ["bad_event"], 0),
    (f"{P}/lp/link/l1", "cpu usage=", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu usage=1 soon", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", 'cpu usage="unterminated', ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu usage=12x", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu usage=inf", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu usage=1e400", ["non_finite"], 0),
    (f"{P}/lp/link/l1", "CPU usage=1", ["bad_metric_name"], 0),
    (f"{P}/lp/link/l1", "cpu,host usage=1", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", b"cpu usage=1\xff", ["bad_line_protocol"], 0),
    (f"{P}/lp/link/l1", "cpu a=1\ncpu b=oops\ncpu c=2i", ["bad_line_protocol"], 2),
]


@pytest.mark.parametrize(("topic", "payload", "expected", "kept"), MALFORMED)
def test_malformed_input_gets_its_reason(topic, payload, expected, kept):
    decoded = decode(topic, payload)
    assert reasons(decoded) == expected
    assert len(decoded) == kept
    for rejection in decoded.rejections:
        assert rejection.topic == topic and rejection.detail


def test_dead_letter_detail_names_the_bad_sample_and_line():
    batch = decode(T, '[{"metrics": {"a": 1}}, {"metrics": {"a": 1}}, {"metrics": {"b": "x"}}]')
    assert batch.problems == [("bad_type", "sample 2: metric 'b' value must be a number or boolean, not str")]
    lp = decode(f"{P}/lp/link/l1", "cpu a=1\ncpu b=oops")
    assert lp.problems == [("bad_line_protocol", "line 2: bad field value 'oops'")]
    too_big = decode(T, b'{"metrics": {"a": 1}, "pad": "' + b"x" * 262_144 + b'"}')
    assert too_big.problems[0][1] == "payload of 262176 bytes, at most 262144 allowed"


def test_many_bad_samples_make_one_dead_letter_per_reason():
    decoded = decode(T, orjson.dumps([{"metrics": {"a": "x"}} for _ in range(500)]))
    (rejection,) = decoded.rejections
    assert rejection.reason == "bad_type"
    assert rejection.detail.endswith("; and 480 more")


def test_contract_sample_object():
    decoded = decode(T, '{"ts": "2026-11-22T08:00:00.250+07:00", "metrics": {"cpu_pct": 12.5, "temp_c": 55.1,'
                        ' "printer_ok": true, "queue_waiting": 3}, "labels": {"firmware": "2.4.1"}}')  # fmt: skip
    assert decoded.problems == []
    assert decoded.metrics == ["cpu_pct", "temp_c", "printer_ok", "queue_waiting"]
    assert decoded.values == [12.5, 55.1, 1.0, 3.0]
    assert set(decoded.ts) == {1795309200.25}
    assert set(decoded.labels) == {(("firmware", "2.4.1"),)}


def test_missing_ts_is_receive_time_and_unix_seconds_accepted():
    assert decode(T, '{"metrics": {"a": 1}}').ts == [NOW]
    assert decode(T, '{"ts": 1795000000.5, "metrics": {"a": 0}}').ts == [1795000000.5]
    assert decode(T, '{"ts": "2026-11-22T01:00:00Z", "metrics": {"a": 0}}').ts == [1795309200.0]


def test_time_window_rejects_future_and_expired_samples():
    payload = orjson.dumps([{"ts": NOW + 301, "metrics": {"a": 1}}, {"ts": NOW + 299, "metrics": {"b": 1}},
                            {"ts": NOW - 31 * 86400, "metrics": {"c": 1}}])  # fmt: skip
    decoded = decode(T, payload)
    apply_time_window(decoded, NOW, 30 * 86400)
    assert decoded.metrics == ["b"]
    assert reasons(decoded) == ["ts_in_future", "ts_too_old"]
    event = decode(f"{P}/events/kiosk/k1", orjson.dumps({"ts": NOW + 600, "type": "x", "severity": "info"}))
    apply_time_window(event, NOW, 30 * 86400)
    assert event.events == [] and reasons(event) == ["ts_in_future"]


def test_status_words_and_empty_retained_clear():
    assert [s.status for s in decode(f"{P}/status/link/l1", "offline").statuses] == ["offline"]
    assert [s.status for s in decode(f"{P}/status/link/l1", " online\n").statuses] == ["online"]
    cleared = decode(f"{P}/status/link/l1", b"")
    assert cleared.statuses == [] and cleared.problems == []


def test_event_keeps_vietnamese_and_extra_keys():
    decoded = decode(f"{P}/events/kiosk/k1", orjson.dumps(
        {"ts": NOW, "type": "printer_jam", "severity": "critical", "message": "Kẹt giấy", "tray": 2}))  # fmt: skip
    (event,) = decoded.events
    assert (event.message, event.severity, event.attrs, event.ts) == ("Kẹt giấy", "critical", {"tray": 2}, NOW)


# -- line protocol ----------------------------------------------------------------------------


def test_every_line_of_real_telegraf_output_decodes():
    lines = telegraf_lines()
    assert len(lines) >= 15
    for number, line in enumerate(lines, start=1):
        decoded = decode(f"{P}/lp/kiosk/k1", line)
        assert decoded.problems == [], (number, line)
        measurement, tags, fields, ts_ns = parse_line(line)
        numeric = [k for k, v in fields if v is not None]
        assert decoded.metrics == [f"{measurement}_{k}" for k in numeric]
        assert set(decoded.labels) == {tuple(sorted(tags.items()))}
        assert set(decoded.ts) == {ts_ns / 1e9}


def test_telegraf_ping_example_of_the_contract():
    decoded = decode(f"{P}/lp/link/l1", "ping,url=10.0.0.1 average_response_ms=12.3 1763773200000000000")
    assert decoded.metrics == ["ping_average_response_ms"]
    assert decoded.values == [12.3] and decoded.ts == [1763773200.0]
    assert decoded.labels == [(("url", "10.0.0.1"),)]


def test_line_protocol_types_escaping_and_string_fields():
    line = (r'http_response,server=http://a\,b\ c,path=x\=y a=1i,b=2u,c=t,d=FALSE,e=-1.5e3,'
            r'f="say \"hi\", ok",g=.5 1700000000000000000')  # fmt: skip
    measurement, tags, fields, ts = parse_line(line)
    assert measurement == "http_response"
    assert tags == {"server": "http://a,b c", "path": "x=y"}
    assert fields == [("a", 1.0), ("b", 2.0), ("c", 1.0), ("d", 0.0), ("e", -1500.0), ("f", None), ("g", 0.5)]
    assert ts == 1700000000000000000
    assert parse_line(r"my\ cpu\,x v=1")[0] == "my cpu,x"
    decoded = decode(f"{P}/lp/link/l1", 'cpu result_type="success"')
    assert len(decoded) == 0 and decoded.problems == []
    assert decode(f"{P}/lp/link/l1", "cpu v=1").ts == [NOW]


# -- properties -------------------------------------------------------------------------------

metric_names = st.from_regex(METRIC_RE, fullmatch=True).filter(lambda s: len(s) <= 100)
finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53) | st.booleans()
label_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20)
sample_objects = st.fixed_dictionaries(
    {"metrics": st.dictionaries(metric_names, finite, min_size=1, max_size=5)},
    optional={"ts": st.floats(1e9, 2e9), "labels": st.dictionaries(label_text, label_text, max_size=4)},
)


@given(st.one_of(sample_objects, st.lists(sample_objects, min_size=1, max_size=10)))
@settings(max_examples=200, deadline=None)
def test_json_round_trip(doc):
    decoded = decode(T, orjson.dumps(doc))
    assert decoded.problems == []
    items = doc if isinstance(doc, list) else [doc]
    expected = [(name, float(v), it.get("ts", NOW), tuple(sorted(it.get("labels", {}).items())))
                for it in items for name, v in it["metrics"].items()]  # fmt: skip
    assert list(zip(decoded.metrics, decoded.values, decoded.ts, decoded.labels, strict=True)) == expected


@given(st.binary(max_size=300), st.sampled_from(["metrics", "lp", "status", "events"]))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_never_raise(payload, family):
    decoded = decode(f"{P}/{family}/kiosk/k1", payload)
    assert len(decoded) + len(decoded.statuses) + len(decoded.events) + len(decoded.problems) >= 0
    assert all(math.isfinite(v) for v in decoded.values)
    for reason, detail in decoded.problems:
        assert reason and detail


@given(st.text(max_size=200), st.sampled_from(["metrics", "lp", "events"]))
@settings(max_examples=200, deadline=None)
def test_arbitrary_text_is_samples_or_reasons(text, family):
    decoded = decode(f"{P}/{family}/kiosk/k1", text)
    assert all(math.isfinite(v) and METRIC_RE.match(m) for m, v in zip(decoded.metrics, decoded.values, strict=True))


def _escape(text: str, chars: str) -> str:
    for ch in chars:
        text = text.replace(ch, "\\" + ch)
    return text


lp_label = st.text(st.characters(codec="utf-8", exclude_characters="\x00\n\r\\"), min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)


@given(
    st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    st.dictionaries(lp_label, lp_label, max_size=4),
    st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
        st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 2**62),
)
@settings(max_examples=200, deadline=None)
def test_line_protocol_round_trip(measurement, tags, fields, ts_ns):
    tag_text = "".join(f",{_escape(k, ',= ')}={_escape(v, ',= ')}" for k, v in sorted(tags.items()))
    field_text = ",".join(f"{k}={v}i" if isinstance(v, int) else f"{k}={v!r}" for k, v in fields.items())
    decoded = decode(f"{P}/lp/link/l1", f"{measurement}{tag_text} {field_text} {ts_ns}")
    assert decoded.problems == []
    assert decoded.metrics == [f"{measurement}_{k}" for k in fields]
    assert decoded.values == [float(v) for v in fields.values()]
    assert set(decoded.labels) == {tuple(sorted(tags.items()))}
    assert set(decoded.ts) == {ts_ns / 1e9}


loose_values = finite | st.text(max_size=3) | st.none() | st.integers(2**1023, 2**1100)
loose_objects = (
    st.fixed_dictionaries(
        {"metrics": st.dictionaries(metric_names | st.text(max_size=3), loose_values, max_size=4)},
        optional={
            "ts": st.floats(1e9, 2e9)
            | st.integers(1_000_000_000, 2_000_000_000)
            | st.none()
            | st.text(max_size=3)
            | st.just("2026-11-22T08:00:00.250+07:00"),
            "labels": st.dictionaries(label_text, label_text | st.integers(), max_size=3) | st.none(),
        },
    )
    | st.integers()
    | st.none()
)


@given(st.lists(loose_objects, min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_column_path_agrees_with_the_item_by_item_path(items):
    """The column-wise path takes a message only when it is wholly valid, and then decodes it exactly as
    the item-by-item path does."""
    fast = Decoded(T, "kiosk", "kiosk-pv-01", NOW)
    slow = Decoded(T, "kiosk", "kiosk-pv-01", NOW)
    for index, item in enumerate(items):
        json_samples._decode_object(item, slow, index)
    if json_samples._decode_valid(items, fast):
        assert slow.problems == []
        assert (fast.metrics, fast.values, fast.ts, fast.labels) == (slow.metrics, slow.values, slow.ts, slow.labels)
    else:
        assert len(fast) == 0
        assert slow.problems, "a valid message must take the column-wise path"
