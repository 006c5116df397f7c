"""Threading inbound messages under real concurrency: several threads, one connection each.

PostgreSQL only (SQLite serialises writers, so there is no race to lose). Threads start
together on a barrier; each closes its own connection when done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from customers.identity import IdentityClaim
from customers.models import Customer, Identity, IdentityKind
from tickets.models import Channel, Message, Ticket
from tickets.services import thread_inbound_message

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
JOIN_TIMEOUT = 60


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread, all released at once; their results, in order."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any] | None] = [None] * len(calls)

    def run(position: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[position] = ("ok", call())
        except Exception as exc:
            outcomes[position] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    errors = [value for status, value in outcomes if status == "error"]
    assert not errors, errors
    return [value for _status, value in outcomes]


def deliver(external_id: str, text: str, phone: str = "+8613812345678") -> Callable[[], Any]:
    return lambda: thread_inbound_message(
        channel=Channel.WHATSAPP,
        external_id=external_id,
        identities=[IdentityClaim(IdentityKind.PHONE, phone)],
        text=text,
    )


def test_concurrent_deliveries_of_the_same_message_store_it_once():
    results = run_together([deliver("wamid-race", "Hello")] * THREADS)

    message = Message.objects.get()
    assert {result.message.pk for result in results} == {message.pk}
    assert [result.duplicate for result in results].count(False) == 1
    assert [result.created_ticket for result in results].count(True) == 1
    assert Ticket.objects.count() == 1
    assert Customer.objects.count() == 1


def test_concurrent_different_messages_of_a_new_customer_share_one_customer_and_ticket():
    results = run_together([deliver(f"wamid-{n}", f"part {n}") for n in range(THREADS)])

    customer = Customer.objects.get()
    ticket = Ticket.objects.get()
    assert ticket.customer_id == customer.pk
    assert {result.ticket.pk for result in results} == {ticket.pk}
    assert [result.created_ticket for result in results].count(True) == 1
    assert not any(result.duplicate for result in results)
    assert sorted(ticket.messages.values_list("body_text", flat=True)) == sorted(
        f"part {n}" for n in range(THREADS)
    )
    assert Identity.objects.filter(customer=customer).count() == 1


def test_concurrent_messages_of_different_customers_stay_apart():
    phones = [f"+86138123456{n:02d}" for n in range(THREADS)]

    results = run_together([deliver(f"w-{n}", "hi", phone) for n, phone in enumerate(phones)])

    assert Customer.objects.count() == THREADS
    assert Ticket.objects.count() == THREADS
    assert len({result.ticket.customer_id for result in results}) == THREADS
