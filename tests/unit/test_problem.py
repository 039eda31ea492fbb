"""The refusal format (RFC 9457 problem details, cut to a small answer) and the JSON shape limits."""

from __future__ import annotations

import json
from http import HTTPStatus

from shared.errors import Problem
from shared.http import MAX_PROBLEMS, PROBLEM_JSON, problem_response
from shared.limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, json_shape_problem


def test_a_problem_answer_is_rfc_9457_with_our_problems_list() -> None:
    answer = problem_response([Problem("case", "required")], 422)
    assert answer.media_type == PROBLEM_JSON
    assert json.loads(answer.body) == {
        "type": "about:blank",
        "title": HTTPStatus(422).phrase,
        "status": 422,
        "detail": "case: required",
        "problems": [{"field": "case", "reason": "required"}],
    }


def test_many_problems_make_a_small_answer_with_their_count() -> None:
    answer = problem_response([Problem(f"k{i}", "unknown key " + "x" * 5000) for i in range(500_000)])
    body = json.loads(answer.body)
    assert len(body["problems"]) == MAX_PROBLEMS
    assert body["detail"] == f"500000 problems, the first {MAX_PROBLEMS} listed"
    assert len(answer.body) < 10_000


def test_json_shape_limits() -> None:
    assert json_shape_problem(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH) is None
    deep = json_shape_problem(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert deep is not None and deep[0] == 422
    assert json_shape_problem(json.dumps({"a": '[[[[[[[[[[[[[[ ,,,, \\" ]]]'}).encode()) is None
    wide = json_shape_problem(json.dumps(list(range(MAX_JSON_VALUES))).encode())
    assert wide is not None and wide[0] == 413
    assert json_shape_problem(json.dumps(list(range(MAX_JSON_VALUES - 1))).encode()) is None
