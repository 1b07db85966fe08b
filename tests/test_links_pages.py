"""The pages "My accounts elsewhere": the federation switch, adding, answering, ending."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import select

from schema.tables import Follow, User
from tests.factories import csrf_from, log_in, make_user, post_form
from tests.federation_support import Instance, Router, make_instance
from tests.test_links_api import pair, rows, sent, set_federation, settle, user_of

__all__ = ["pair"]  # the fixture, shared with the API tests

PAGE = "/account/links"
SCRIPT = '<script>alert("x")</script>'


@asynccontextmanager
async def browser_as(instance: Instance, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in browser on the instance."""
    async with instance.browser() as client:
        await log_in(client, user_of(instance, username))
        yield client


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash[^"]*" role="status">([^<]*)</p>', html)


async def test_anonymous_is_sent_to_log_in(pair: Any) -> None:
    a, _b = pair
    async with a.browser() as client:
        page = await client.get(PAGE)
        posted = await client.post(PAGE, data={"account": "alice@b.test"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")


async def test_the_switch_is_explained_when_off_then_turned_on(pair: Any) -> None:
    a, _b = pair
    set_federation(a, "alice", False)
    async with browser_as(a, "alice") as client:
        settings = await client.get("/account")
        page = await client.get(PAGE)
        assert 'href="/account/links"' in settings.text
        assert "Federation is turned off" in page.text
        assert "Nothing about your associations or your hours" in page.text
        assert "@alice@a.test" in page.text
        assert 'name="account"' not in page.text
        refused = await post_form(client, PAGE, {"account": "alice@b.test"})
        assert refused.status_code == 303
        after = await client.get(PAGE)
        assert any("Turn it on before linking" in text for text in flashes(after.text))
        wrong = await post_form(client, PAGE + "/federation", {"federation": "maybe"})
        assert wrong.status_code == 303 and not user_of(a, "alice").federation_enabled
        turned = await post_form(client, PAGE + "/federation", {"federation": "on"})
        assert turned.status_code == 303
        page = await client.get(PAGE)
    assert user_of(a, "alice").federation_enabled
    assert "Federation is on" in " ".join(flashes(page.text))
    assert 'name="account"' in page.text and "Turn off federation" in page.text


async def test_add_accept_end_through_the_pages(pair: Any) -> None:
    a, b = pair
    async with browser_as(a, "alice") as home, browser_as(b, "alice") as other:
        added = await post_form(home, PAGE, {"account": " alice@b.test "})
        assert added.status_code == 303
        page = await home.get(PAGE)
        assert "alice@b.test" in page.text and "Waiting for your answer there" in page.text
        await settle(a, b)
        there = await other.get(PAGE)
        assert "From alice@a.test" in there.text
        assert "never receives the details of your actions" in there.text
        [incoming] = rows(b, "in")
        accepted = await post_form(
            other, f"/account/link-requests/{incoming.id}/accept", {}, page=PAGE
        )
        assert accepted.status_code == 303
        there = await other.get(PAGE)
        assert "Sites receiving my hours" in there.text and "Stop sending my hours" in there.text
        await settle(a, b)
        page = await home.get(PAGE)
        assert "Active" in page.text and "End this link" in page.text
        [link] = rows(a, "out")
        ended = await post_form(home, f"{PAGE}/{link.id}/end", {"erase": "on"}, page=PAGE)
        assert ended.status_code == 303
        page = await home.get(PAGE)
    assert "The link is ended" in " ".join(flashes(page.text))
    assert sent(a, "Undo")[0]["benefed:erase"] is True
    await settle(a, b)
    assert [row.state for row in rows(b, "in")] == ["ended"]


async def test_refuse_and_stop_on_the_other_side(pair: Any) -> None:
    a, b = pair
    async with browser_as(a, "alice") as home, browser_as(b, "alice") as other:
        await post_form(home, PAGE, {"account": "alice@b.test"})
        await settle(a, b)
        [incoming] = rows(b, "in")
        refused = await post_form(
            other, f"/account/link-requests/{incoming.id}/refuse", {}, page=PAGE
        )
        assert refused.status_code == 303
        there = await other.get(PAGE)
        assert "Earlier requests" in there.text and "Refused" in there.text
        again = await post_form(
            other, f"/account/link-requests/{incoming.id}/accept", {}, page=PAGE
        )
        assert again.status_code == 303
        there = await other.get(PAGE)
        assert "no longer waiting for an answer" in " ".join(flashes(there.text))
        await settle(a, b)
        page = await home.get(PAGE)
        assert "Refused" in page.text and "End this link" not in page.text


async def test_bad_input_is_shown_escaped_and_kept(pair: Any) -> None:
    a, _b = pair
    async with browser_as(a, "alice") as client:
        for value, message in (
            ("", "Enter your account like name@example.org."),
            (SCRIPT, "Enter your account like name@example.org."),
            ("nobody@b.test", "No account was found at this address."),
            ("owneralpha@a.test", "This account is on this instance."),
        ):
            answer = await post_form(client, PAGE, {"account": value})
            assert answer.status_code == 422, value
            assert message in answer.text
            assert 'aria-invalid="true" aria-describedby="e-account' in answer.text
            assert SCRIPT not in answer.text
            if value == SCRIPT:
                assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in answer.text
        kept = await post_form(client, PAGE, {"account": "nobody@b.test"})
        assert 'value="nobody@b.test"' in kept.text
        no_csrf = await client.post(PAGE, data={"account": "alice@b.test"})
        assert no_csrf.status_code == 403
        bad_token = await client.post(PAGE, data={"account": "alice@b.test", "csrf_token": "x"})
        assert bad_token.status_code == 403
        page = await client.get(PAGE)
        assert csrf_from(page.text) and "You have not linked any account yet." in page.text
    assert rows(a, "out") == []


async def test_someone_elses_link_is_404(pair: Any) -> None:
    a, b = pair
    async with browser_as(a, "alice") as home:
        await post_form(home, PAGE, {"account": "alice@b.test"})
    await settle(a, b)
    [link] = rows(a, "out")
    [incoming] = rows(b, "in")
    make_user(a.db, username="bob")
    make_user(b.db, username="bob")
    async with browser_as(a, "bob") as bob_a, browser_as(b, "bob") as bob_b:
        ended = await post_form(bob_a, f"{PAGE}/{link.id}/end", {"erase": "on"}, page=PAGE)
        accepted = await post_form(
            bob_b, f"/account/link-requests/{incoming.id}/accept", {}, page=PAGE
        )
        missing = await post_form(bob_b, "/account/link-requests/99999/refuse", {}, page=PAGE)
        page = await bob_b.get(PAGE)
    assert (ended.status_code, accepted.status_code, missing.status_code) == (404, 404, 404)
    assert "alice" not in page.text.replace("alice@", "")  # nothing of alice's shown
    assert "From alice@a.test" not in page.text
    assert [row.state for row in rows(a, "out")] == ["pending"]
    assert [row.state for row in rows(b, "in")] == ["pending"]


async def test_turning_off_on_the_page_ends_every_link(pair: Any) -> None:
    a, b = pair
    async with browser_as(a, "alice") as home, browser_as(b, "alice") as other:
        await post_form(home, PAGE, {"account": "alice@b.test"})
        await settle(a, b)
        [incoming] = rows(b, "in")
        await post_form(other, f"/account/link-requests/{incoming.id}/accept", {}, page=PAGE)
        await settle(a, b)
        off = await post_form(other, PAGE + "/federation", {"federation": "off"})
        assert off.status_code == 303
        there = await other.get(PAGE)
    assert "Federation is off. Your links are ended." in flashes(there.text)
    assert "Federation is turned off" in there.text
    await settle(a, b)
    assert [row.state for row in rows(a, "out")] == ["ended"]
    assert [row.state for row in rows(b, "in")] == ["ended"]
    async with b.browser() as client:
        actor = await client.get("/users/alice", headers={"accept": "application/activity+json"})
    assert actor.status_code == 404


async def test_an_instance_without_federation_explains_it(tmp_path: Path) -> None:
    router = Router()
    lone = make_instance(tmp_path, "solo", router, shared_db=True, federation={"enabled": False})
    make_user(lone.db, username="alice")
    async with browser_as(lone, "alice") as client:
        page = await client.get(PAGE)
        turned = await post_form(client, PAGE + "/federation", {"federation": "on"})
        after = await client.get(PAGE)
        added = await post_form(client, PAGE, {"account": "alice@b.test"}, page=PAGE)
    assert page.status_code == 200 and "does not talk to other instances" in page.text
    assert turned.status_code == 303 and "does not talk" in " ".join(flashes(after.text))
    assert added.status_code == 303
    with lone.db.read() as session:
        user = session.exec(select(User).where(User.username == "alice")).one()
        assert not user.federation_enabled
        assert list(session.exec(select(Follow))) == []
