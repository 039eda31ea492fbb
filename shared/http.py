"""HTTP helpers shared by the services: JSON bodies read by hand so every refusal names field and reason."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from shared.types import describe_errors


def problem_response(problems: list[dict[str, str]], status: int = 422) -> JSONResponse:
    return JSONResponse({"detail": "the request was refused", "problems": problems}, status_code=status)


def validation_problems(exc: ValidationError) -> list[dict[str, str]]:
    problems = []
    for line in describe_errors(exc):
        field, _, reason = line.partition(": ")
        problems.append({"field": field, "reason": reason})
    return problems


async def read_json_object(request: Request) -> dict[str, Any] | JSONResponse:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return problem_response([{"field": "body", "reason": f"not valid JSON: {exc}"}])
    if not isinstance(body, dict):
        return problem_response([{"field": "body", "reason": "must be a JSON object"}])
    return body
