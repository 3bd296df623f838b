"""Example requests and answers for the phone's endpoints, shown on the docs page and
in the OpenAPI document. ``tests/api/test_docs_and_home.py`` sends each request to a
real crew's day and checks that the answer has exactly the example's shape, so an
example cannot drift from what the service answers."""

_WHEN = "2026-06-10T10:00:00+08:00"
_VISIT = {
    "id": 1,
    "task_id": 1,
    "check_in_at": "2026-06-10T02:00:00+00:00",
    "check_in_distance_m": 4.5,
    "check_out_at": None,
    "outcome": None,
    "person_met": None,
}

FIELD_EXAMPLES = {
    "api.field.check_in": {
        "path": "/api/v1/agent/tasks/1/check-in",
        "request": {
            "client_event_id": "phone-0001:evt-0001",
            "lat": 31.2317,
            "lon": 121.4846,
            "accuracy_m": 12.0,
            "device_time": _WHEN,
        },
        "status": 201,
        "answer": {
            "client_event_id": "phone-0001:evt-0001",
            "status": "accepted",
            "kind": "check_in",
            "task_id": 1,
            "judged_at": "2026-06-10T02:00:00+00:00",
            "time_basis": "server",
            "sequence": {"status": "unnumbered"},
            "flags": [],
            "visit": _VISIT,
        },
    },
    "api.field.record_visit": {
        "path": "/api/v1/agent/tasks/1/visit",
        "request": {
            "client_event_id": "phone-0001:evt-0002",
            "outcome": "not_home",
            "person_met": "nobody",
            "notes": "门铃无人应答 / nobody answered the bell",
            "device_time": _WHEN,
        },
        "status": 200,
        "answer": {
            "client_event_id": "phone-0001:evt-0002",
            "status": "accepted",
            "kind": "visit",
            "task_id": 1,
            "judged_at": "2026-06-10T02:00:00+00:00",
            "time_basis": "server",
            "sequence": {"status": "unnumbered"},
            "visit": {**_VISIT, "outcome": "not_home", "person_met": "nobody"},
        },
    },
    "api.field.check_out": {
        "path": "/api/v1/agent/tasks/1/check-out",
        "request": {
            "client_event_id": "phone-0001:evt-0003",
            "lat": 31.2317,
            "lon": 121.4846,
            "accuracy_m": 12.0,
            "device_time": _WHEN,
        },
        "status": 200,
        "answer": {
            "client_event_id": "phone-0001:evt-0003",
            "status": "accepted",
            "kind": "check_out",
            "task_id": 1,
            "judged_at": "2026-06-10T02:00:00+00:00",
            "time_basis": "server",
            "sequence": {"status": "unnumbered"},
            "flags": [
                {
                    "kind": "missing_recording",
                    "rule_id": "cn.missing_recording",
                    "reason_en": "The visit was closed without the required recording.",
                    "reason_zh": "上门结束时没有必需的录音。",
                }
            ],
            "visit": {
                **_VISIT,
                "outcome": "not_home",
                "person_met": "nobody",
                "check_out_at": "2026-06-10T02:00:00+00:00",
            },
        },
    },
    "api.field.sync": {
        "path": "/api/v1/agent/sync",
        "request": {
            "events": [
                {
                    "type": "check_in",
                    "task_id": 2,
                    "seq": 1,
                    "client_event_id": "phone-0001:evt-0004",
                    "lat": 31.2417,
                    "lon": 121.4846,
                    "accuracy_m": 15.0,
                    "device_time": _WHEN,
                },
                "not an event",
            ]
        },
        "status": 200,
        "answer": {
            "counts": {"accepted": 1, "duplicate": 0, "conflict": 0, "rejected": 1},
            "results": [
                {
                    "index": 0,
                    "client_event_id": "phone-0001:evt-0004",
                    "status": "accepted",
                    "kind": "check_in",
                    "task_id": 2,
                    "judged_at": "2026-06-10T02:00:00+00:00",
                    "time_basis": "device_corrected",
                    "sequence": {"status": "in_order"},
                    "flags": [],
                    "visit": {**_VISIT, "id": 2, "task_id": 2, "check_in_distance_m": 0.0},
                },
                {
                    "index": 1,
                    "client_event_id": None,
                    "status": "rejected",
                    "kind": None,
                    "task_id": None,
                    "http_status": 422,
                    "error": {
                        "code": "validation_error",
                        "message": "An event must be an object.",
                        "fields": {"_event": ["must be an object"]},
                    },
                },
            ],
        },
    },
}
