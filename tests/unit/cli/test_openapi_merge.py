"""Merging the gateway's and the dashboard's OpenAPI documents."""

from __future__ import annotations

import pytest

from mindhit.cli.openapi import OpenAPIConflictError, merge_documents


def doc(paths: dict[str, dict[str, dict[str, str]]], schemas: dict[str, dict[str, str]]) -> dict:
    return {"paths": paths, "components": {"schemas": schemas}, "tags": [{"name": "t"}]}


def test_operations_keep_their_server_and_shared_paths_merge_by_method() -> None:
    merged = merge_documents(
        [
            (
                doc({"/v1/sessions": {"post": {"summary": "start"}}}, {"A": {"type": "object"}}),
                "http://gw",
                "gateway",
            ),
            (
                doc({"/v1/sessions": {"get": {"summary": "list"}}}, {"A": {"type": "object"}}),
                "http://web",
                "dashboard",
            ),
        ],
        title="t",
        version="1",
    )
    item = merged["paths"]["/v1/sessions"]
    assert item["post"]["servers"] == [{"url": "http://gw", "description": "gateway"}]
    assert item["get"]["servers"] == [{"url": "http://web", "description": "dashboard"}]
    assert merged["tags"] == [{"name": "t"}]


def test_the_same_operation_twice_is_an_error() -> None:
    one = doc({"/x": {"get": {}}}, {})
    with pytest.raises(OpenAPIConflictError, match="GET /x"):
        merge_documents([(one, "a", "a"), (one, "b", "b")], title="t", version="1")


def test_a_schema_name_with_two_meanings_is_an_error() -> None:
    with pytest.raises(OpenAPIConflictError, match="Health"):
        merge_documents(
            [
                (doc({}, {"Health": {"type": "object"}}), "a", "a"),
                (doc({}, {"Health": {"type": "string"}}), "b", "b"),
            ],
            title="t",
            version="1",
        )
