"""Writers in one tenant at once: real threads, each with its own client (and so its own
database connection), on SQLite (file, WAL) and on PostgreSQL. Every write appends to the
tenant's audit chain, so they all meet on the tenant row; none may fail for it."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from flask import Flask

WRITERS = 8
EACH = 15


def _in_threads(app: Flask, work: Any, count: int) -> list[Any]:
    """Run ``work(client, i)`` in ``count`` threads released together; its answers, in thread order."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            own = app.test_client()
            barrier.wait(timeout=30)
            answers[i] = work(own, i)
        except BaseException as exc:  # reported in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    return answers


def test_eight_writers_in_one_tenant_all_succeed_and_the_chain_holds(app: Flask, api: Any) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    before = api.get("/api/v1/audit/verify").get_json()["events"]

    def write(client: Any, i: int) -> list[int]:
        return [
            client.post("/api/v1/persons", json={"name": f"Writer {i} person {n}"}, headers=headers).status_code
            for n in range(EACH)
        ]

    statuses = Counter(code for answers in _in_threads(app, write, WRITERS) for code in answers)
    assert statuses == {201: WRITERS * EACH}
    listed = api.get("/api/v1/persons?limit=500").get_json()["items"]
    assert len(listed) == WRITERS * EACH
    verified = api.get("/api/v1/audit/verify").get_json()
    assert verified["ok"] is True and verified["events"] == before + WRITERS * EACH


def test_exports_and_erasures_racing_writers_keep_one_unbroken_chain(app: Flask, api: Any) -> None:
    """Access exports (an audit entry and nothing else) and erasures between the writers: each
    reads the chain's head under the tenant's lock, so none takes a sequence number twice."""
    headers = {"Authorization": f"Bearer {api.token}"}
    people = [api.post("/api/v1/persons", json={"name": f"Known {i}"}).get_json()["id"] for i in range(WRITERS)]
    before = api.get("/api/v1/audit/verify").get_json()["events"]

    def work(client: Any, i: int) -> list[int]:
        codes = []
        for n in range(EACH):
            if n % 3 == 0:
                codes.append(client.post("/api/v1/persons", json={"name": f"New {i}/{n}"}, headers=headers).status_code)
            elif n < EACH - 1:
                codes.append(client.get(f"/api/v1/persons/{people[i]}/export", headers=headers).status_code)
            else:
                codes.append(client.delete(f"/api/v1/persons/{people[i]}", headers=headers).status_code)
        return codes

    statuses = Counter(code for answers in _in_threads(app, work, WRITERS) for code in answers)
    written = WRITERS * len(range(0, EACH, 3))
    erased = WRITERS
    exported = WRITERS * EACH - written - erased
    assert statuses == {201: written, 200: exported, 204: erased}
    verified = api.get("/api/v1/audit/verify").get_json()
    assert verified["ok"] is True and verified["events"] == before + WRITERS * EACH
