"""Test and Refresh of a connection through real redis-server and rq worker processes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Connection, db
from tests.fakes.http_sink import HttpSink
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def finished_panel(client, url: str) -> str | None:
    """Return the state panel once it stops polling, else None."""
    panel = " ".join(client.get(url).get_data(as_text=True).split())
    return None if "hx-trigger" in panel else panel


def test_test_and_refresh_run_in_a_worker(live_app, login_as, start_worker):
    owner = login_as()
    with HttpSink() as sink:
        sink.enqueue(body={"total": 3, "data": []})
        start_worker()
        added = owner.post("/connections/new/helpcrunch", data={
            "name": "Support", "auth_api_key": "hc-key-123456", "config_base_url": sink.url})
        location = added.headers["Location"]
        connection = db.session.scalars(select(Connection)).one()
        job_id = location.split("?job=")[1]
        status_url = f"/connections/{connection.id}/jobs/{job_id}"

        panel = wait_for(lambda: finished_panel(owner, status_url), message="the test job")

        assert "Test passed. Connected: HelpCrunch account with 3 contacts" in panel
        assert sink.requests[0].path == "/customers"
        assert sink.requests[0].headers["authorization"] == "Bearer hc-key-123456"

        sink.enqueue(body={"total": 1, "data": [{"customData": {"plan": "gold"}}]})
        refreshing = owner.post(f"/connections/{connection.id}/refresh",
                                headers={"HX-Request": "true"}).get_data(as_text=True)
        assert "Reading lists and fields" in refreshing
        refresh_url = refreshing.split('hx-get="')[1].split('"')[0]
        panel = wait_for(lambda: finished_panel(owner, refresh_url), message="the refresh job")
        assert "Refreshed." in panel
        db.session.expire_all()
        assert db.session.get(Connection, connection.id).last_refreshed_at is not None
