"""Assertions shared by the API contract tests."""

from __future__ import annotations

from typing import Any


def error_of(response: Any, status: int, code: str) -> dict[str, Any]:
    """The ``error`` object of a response, checking status, code and the one error format."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert "error" in body, body
    error = body["error"]
    assert {"code", "message", "fields"} <= set(error), error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert isinstance(error["fields"], dict), error
    assert error["code"] == code, error
    return error
