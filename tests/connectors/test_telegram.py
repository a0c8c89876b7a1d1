"""The Telegram connector sends exact Bot API requests and types every error Telegram gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.connectors.test_connector_contract as contract
from connectors.errors import AuthError, ConnectorError, RetryableError
from connectors.http import HttpClient
from connectors.telegram import Telegram
from tests.fakes.telegram import BOT, TOKEN, FakeTelegram

IVAN = 123456789
SALES_GROUP = -1001234567890
NEWS_CHANNEL = -1009876543210
METHOD_PATH = f"/bot{TOKEN}/"


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """Run a fake Bot API with a private chat, a supergroup and a public channel."""
    with FakeTelegram() as running:
        running.add_chat(IVAN, first_name="Ivan", last_name="Petrov", username="ivan")
        running.add_chat(SALES_GROUP, chat_type="supergroup", title="Sales team")
        running.add_chat(NEWS_CHANNEL, chat_type="channel", title="Shop news", username="shop_news")
        yield running


@pytest.fixture
def connector(fake: FakeTelegram, client: HttpClient) -> Telegram:
    """Return the connector pointed at the fake with the fake's token."""
    return connector_for(fake, client)


def connector_for(fake: FakeTelegram, http: HttpClient, token: str = TOKEN) -> Telegram:
    """Build a connector for the fake with a given token."""
    return Telegram({"base_url": f"{fake.url}/"}, {"bot_token": token}, http=http)


def base_headers(fake: FakeTelegram) -> dict[str, str]:
    """Return the headers every request carries; Telegram needs no auth header."""
    return {
        "host": fake.url.removeprefix("http://"),
        "user-agent": "svyazka",
        "accept": "*/*",
        "accept-encoding": "gzip, deflate",
        "connection": "keep-alive",
    }


def json_headers(fake: FakeTelegram, body: bytes) -> dict[str, str]:
    """Return the headers of a request with a JSON body."""
    return {
        **base_headers(fake),
        "content-type": "application/json",
        "content-length": str(len(body)),
    }


def send(connector: Telegram, **params: object) -> dict:
    """Run send_message with a chat and a text unless the test gives others."""
    return connector.run_action("send_message", {"chat_id": IVAN, "text": "Hi", **params})


def assert_no_token(error: ConnectorError) -> None:
    """Check that neither the error nor its chain can leak the token into the journal."""
    assert TOKEN not in str(error)
    assert TOKEN not in (error.service_message or "")
    assert error.__cause__ is None and error.__suppress_context__


# Connection test


def test_connection_asks_get_me_and_names_the_bot(connector, fake) -> None:
    assert connector.test_connection() == {"account": "@shop_notify_bot", "bot_id": BOT["id"]}
    (sent,) = fake.requests
    assert (sent.method, sent.path, sent.query, sent.body) == (
        "GET",
        f"{METHOD_PATH}getMe",
        "",
        b"",
    )
    assert sent.headers == base_headers(fake)


def test_a_wrong_token_is_an_auth_error_without_the_token(fake, client) -> None:
    wrong = "7012345678:AAHwrong-token_0123456789abcdefghij"
    with pytest.raises(AuthError, match=r"rejected the bot token \(Unauthorized\)") as caught:
        connector_for(fake, client, wrong).test_connection()
    assert (caught.value.status, caught.value.service_message) == (401, "Unauthorized")
    assert fake.requests[0].path == f"/bot{wrong}/getMe"
    assert wrong not in str(caught.value)


def test_a_malformed_token_is_an_auth_error(fake, client) -> None:
    with pytest.raises(AuthError, match=r"did not recognise the bot token \(Not Found\)") as caught:
        connector_for(fake, client, "AAHjust-the-secret-half").test_connection()
    assert caught.value.status == 404


def test_a_missing_token_is_refused_before_calling(fake, client) -> None:
    with pytest.raises(AuthError, match="No bot token is set"):
        connector_for(fake, client, "  ").test_connection()
    assert fake.requests == []


def test_a_pasted_token_is_trimmed(fake, client) -> None:
    connector_for(fake, client, f" {TOKEN}\n").test_connection()
    assert fake.requests[0].path == f"{METHOD_PATH}getMe"


# Sending messages


def test_send_message_posts_every_option_exactly(connector, fake) -> None:
    result = send(
        connector,
        text="<b>Новая заявка</b>\r\nИван, +79991234567",
        parse_mode="HTML",
        disable_web_page_preview=True,
        disable_notification=True,
    )
    (sent,) = fake.requests
    assert (sent.method, sent.path, sent.query) == ("POST", f"{METHOD_PATH}sendMessage", "")
    assert sent.headers == json_headers(fake, sent.body)
    assert sent.json() == {
        "chat_id": IVAN,
        "text": "<b>Новая заявка</b>\nИван, +79991234567",
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "disable_notification": True,
    }
    assert result == {
        "message_id": 512,
        "chat_id": IVAN,
        "date": 1717000000,
        "text": "Новая заявка\nИван, +79991234567",
    }
    assert fake.messages[0]["chat"]["id"] == IVAN


def test_defaults_send_only_chat_and_text(connector, fake) -> None:
    send(connector, text="Line 1\nLine 2")
    assert fake.requests[0].json() == {"chat_id": IVAN, "text": "Line 1\nLine 2"}


def test_switches_mapped_as_text_are_read_as_switches(connector, fake) -> None:
    send(connector, disable_web_page_preview="false", disable_notification="1", parse_mode="")
    assert fake.requests[0].json() == {"chat_id": IVAN, "text": "Hi", "disable_notification": True}


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (f" {SALES_GROUP} ", SALES_GROUP),
        (float(IVAN), IVAN),
        ("@shop_news", "@shop_news"),
    ],
)
def test_chat_ids_are_sent_as_telegram_takes_them(connector, fake, given, sent) -> None:
    send(connector, chat_id=given)
    assert fake.requests[0].json()["chat_id"] == sent


@pytest.mark.parametrize("given", ["ivan", "12 34", True])
def test_a_chat_that_is_no_id_is_refused_before_calling(connector, fake, given) -> None:
    with pytest.raises(ConnectorError, match="neither a numeric chat id nor a public"):
        send(connector, chat_id=given)
    assert fake.requests == []


def test_missing_inputs_are_refused(connector, fake) -> None:
    with pytest.raises(ConnectorError, match="Send message: Message is required"):
        send(connector, text="")
    with pytest.raises(ConnectorError, match="empty once variables are filled in"):
        send(connector, text=" \n ")
    assert fake.requests == []


def test_an_unknown_formatting_is_refused(connector, fake) -> None:
    with pytest.raises(ConnectorError, match="unknown formatting 'Markdown'"):
        send(connector, parse_mode="Markdown")
    assert fake.requests == []


def test_plain_text_longer_than_telegram_allows_is_refused_not_cut(connector, fake) -> None:
    send(connector, text="я" * 4096)
    with pytest.raises(ConnectorError, match="has 4097 characters; Telegram accepts at most 4096"):
        send(connector, text="я" * 4097)
    assert len(fake.requests) == 1


def test_markup_does_not_count_towards_the_limit(connector, fake) -> None:
    result = send(connector, text=f"<b>{'x' * 4096}</b>", parse_mode="HTML")
    assert result["text"] == "x" * 4096


def test_formatted_text_too_long_for_telegram_is_explained(connector, fake) -> None:
    with pytest.raises(ConnectorError, match="message is too long. Telegram accepts at most"):
        send(connector, text=f"<b>{'x' * 4097}</b>", parse_mode="HTML")


# Telegram's refusals


def test_an_unknown_chat_is_a_connector_error_with_advice(connector) -> None:
    with pytest.raises(ConnectorError) as caught:
        send(connector, chat_id=555)
    assert type(caught.value) is ConnectorError
    assert str(caught.value).startswith(
        "Telegram refused the request: Bad Request: chat not found. Check the chat id"
    )
    assert (caught.value.status, caught.value.service_message) == (
        400,
        "Bad Request: chat not found",
    )


def test_a_user_who_blocked_the_bot_is_not_an_auth_error(connector, fake) -> None:
    fake.block(IVAN)
    with pytest.raises(ConnectorError, match="bot was blocked by the user. The user") as caught:
        send(connector)
    assert type(caught.value) is ConnectorError
    assert caught.value.status == 403


def test_broken_markdown_quotes_telegram(connector) -> None:
    with pytest.raises(ConnectorError, match=r"can't parse entities: Character '\.' is reserved"):
        send(connector, text="*Order* 1.5", parse_mode="MarkdownV2")


def test_escaped_markdown_is_delivered(connector, fake) -> None:
    assert send(connector, text=r"*Order* 1\.5", parse_mode="MarkdownV2")["text"] == "Order 1.5"


def test_a_migrated_group_names_its_new_id(connector, fake) -> None:
    fake.migrate(SALES_GROUP, -1002000000001)
    with pytest.raises(ConnectorError, match="use chat id -1002000000001 instead"):
        send(connector, chat_id=SALES_GROUP)


def test_flood_control_waits_as_long_as_telegram_says(connector, fake) -> None:
    fake.flood_next(retry_after=7)
    with pytest.raises(RetryableError) as caught:
        send(connector)
    assert caught.value.retry_after == 7
    assert caught.value.status == 429
    assert caught.value.service_message == "Too Many Requests: retry after 7"
    assert str(caught.value) == "Telegram asks to send less often: Too Many Requests: retry after 7"


def test_flood_control_after_a_number_of_calls(connector, fake) -> None:
    fake.flood_after_calls = 1
    send(connector)
    with pytest.raises(RetryableError) as caught:
        send(connector)
    assert caught.value.retry_after == fake.retry_after
    assert len(fake.messages) == 1


def test_a_server_error_envelope_is_retryable(connector, fake) -> None:
    fake.fail_next(500, "Internal Server Error")
    with pytest.raises(RetryableError, match="answered 500 Internal Server Error") as caught:
        send(connector)
    assert caught.value.retry_after is None


def test_a_gateway_error_page_is_retryable_without_its_html(connector, fake) -> None:
    fake.answer_next(502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(RetryableError) as caught:
        send(connector)
    assert str(caught.value) == "Telegram answered 502 Bad Gateway"


def test_an_html_answer_is_explained(connector, fake) -> None:
    fake.answer_next(200, "<!doctype html><title>Login</title>")
    with pytest.raises(ConnectorError, match="answered with HTML instead of JSON"):
        send(connector)


def test_json_that_is_no_telegram_envelope_is_refused(connector, fake) -> None:
    fake.answer_next(200, '{"message_id": 1}', "application/json")
    with pytest.raises(ConnectorError, match="not a Telegram Bot API response"):
        send(connector)


def test_a_timeout_is_retryable_and_hides_the_token(fake) -> None:
    fake.delay = 2.0
    impatient = HttpClient(allow_private=True, read_timeout=0.2)
    with impatient, pytest.raises(RetryableError, match="Timed out after 0.2 s") as caught:
        connector_for(fake, impatient).test_connection()
    assert_no_token(caught.value)


def test_addresses_in_client_errors_are_masked(client) -> None:
    connector = Telegram({"base_url": "ftp://files.example"}, {"bot_token": TOKEN}, http=client)
    with pytest.raises(ConnectorError, match="ftp://files.example/bot<bot token>/getMe") as caught:
        connector.test_connection()
    assert_no_token(caught.value)


# Recent chats


def test_recent_chats_come_from_updates_without_confirming_them(connector, fake) -> None:
    fake.user_writes(IVAN, "/start")
    fake.user_writes(SALES_GROUP, "hello bot")
    fake.user_writes(NEWS_CHANNEL, "Sale today")
    fake.user_writes(IVAN, "again")
    metadata = connector.refresh_metadata()
    assert metadata == {
        "chats": [
            {"id": IVAN, "title": "Ivan Petrov", "type": "private", "username": "ivan"},
            {"id": NEWS_CHANNEL, "title": "Shop news", "type": "channel", "username": "shop_news"},
            {"id": SALES_GROUP, "title": "Sales team", "type": "supergroup", "username": ""},
        ]
    }
    (sent,) = fake.requests
    assert (sent.method, sent.path, sent.query) == ("POST", f"{METHOD_PATH}getUpdates", "")
    assert sent.headers == json_headers(fake, sent.body)
    assert sent.json() == {"limit": 100, "timeout": 0}
    # No offset was sent, so the updates stay for whoever else reads them.
    assert len(fake.updates) == 4
    assert fake.allowed_updates is None


def test_chats_are_found_in_every_kind_of_update(connector, fake) -> None:
    fake.add_update(
        "my_chat_member",
        {"chat": {"id": -4001, "title": "Ops", "type": "group"}, "date": 1717000000},
    )
    fake.add_update(
        "callback_query",
        {"id": "9", "message": {"message_id": 3, "chat": {"id": 77, "type": "private"}}},
    )
    fake.add_update("inline_query", {"id": "5", "from": {"id": 88}, "query": "x"})
    assert connector.refresh_metadata()["chats"] == [
        {"id": 77, "title": "77", "type": "private", "username": ""},
        {"id": -4001, "title": "Ops", "type": "group", "username": ""},
    ]


def test_no_updates_means_no_chats(connector) -> None:
    assert connector.refresh_metadata() == {"chats": []}


def test_a_webhook_on_the_bot_is_explained(connector, fake) -> None:
    fake.webhook_url = "https://example.com/hook"
    with pytest.raises(ConnectorError, match="A webhook is set on this bot") as caught:
        connector.refresh_metadata()
    assert type(caught.value) is ConnectorError
    assert caught.value.status == 409
    assert "use deleteWebhook" in str(caught.value)


def test_another_reader_of_updates_is_explained(connector, fake) -> None:
    fake.fail_next(
        409,
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running",
    )
    with pytest.raises(ConnectorError, match="Another program is reading this bot's updates"):
        connector.refresh_metadata()


# The fake itself, which browser and end-to-end tests rely on


def test_the_fake_confirms_updates_below_a_positive_offset(fake, client) -> None:
    first = fake.user_writes(IVAN, "one")
    fake.user_writes(IVAN, "two")
    url = f"{fake.url}{METHOD_PATH}GETUPDATES"
    answer = client.request("GET", url, params={"offset": first["update_id"] + 1}).json()
    assert [update["message"]["text"] for update in answer["result"]] == ["two"]
    assert [update["message"]["text"] for update in fake.updates] == ["two"]


def test_the_fake_reads_form_parameters(fake, client) -> None:
    url = f"{fake.url}{METHOD_PATH}sendMessage"
    answer = client.request("POST", url, data={"chat_id": str(IVAN), "text": "form"})
    assert answer.status_code == 200
    assert answer.json()["result"]["text"] == "form"


def test_the_fake_answers_unknown_methods_with_not_found(fake, client) -> None:
    answer = client.request("GET", f"{fake.url}{METHOD_PATH}sendTelepathy")
    assert answer.status_code == 404
    assert answer.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


# Declaration


def test_the_chat_input_offers_recent_chats() -> None:
    (operation,) = Telegram.actions.values()
    inputs = {item.name: item for item in operation.inputs}
    assert inputs["chat_id"].options_from == "chats"
    assert [value for value, _ in inputs["parse_mode"].options] == ["none", "HTML", "MarkdownV2"]
    assert Telegram.config_fields[0].default == "https://api.telegram.org"


@pytest.mark.parametrize(
    "check",
    [
        contract.test_identity_is_complete,
        contract.test_connection_fields_are_well_formed,
        contract.test_services_with_accounts_have_an_overridable_address,
        contract.test_describe_is_json_serialisable,
        contract.test_operations_point_at_methods,
    ],
)
def test_the_connector_keeps_the_contract(check) -> None:
    check(Telegram)


@pytest.mark.parametrize(
    "check", [contract.test_operation_fields_are_well_formed, contract.test_sample_matches_outputs]
)
def test_send_message_keeps_the_contract(check) -> None:
    check((Telegram, Telegram.actions["send_message"]))
