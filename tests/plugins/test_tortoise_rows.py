"""The store's statements built with pypika once per dialect (tortoise_rows.py, tortoise_intake.py), on
SQLite and PostgreSQL: rows read, written and inserted as Tortoise would, and the queries of event intake."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

from relance.engine.records import ContactRecord, EventRecord, RunRecord
from relance.plugins.builtins import tortoise_intake as intake
from relance.plugins.builtins import tortoise_models as m
from relance.plugins.builtins.tortoise_rows import params, rows, sql, union
from relance.plugins.builtins.tortoise_store import TortoiseStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def store(empty_database: str) -> AsyncIterator[TortoiseStore]:
    opened = TortoiseStore(empty_database)
    await opened.open()
    yield opened
    await opened.close()


def _event(n: int, contact_id: int | None = None, type: str = "page.viewed", processed: bool = False,
           at: datetime = T0) -> EventRecord:
    return EventRecord("shop", f"e{n}", type, at, at, {"n": n}, contact_id=contact_id, processed=processed)


def _run(contact_id: int, rule_id: str, status: str = "active", waiting_for: str | None = None,
         occurrence: str | None = None) -> RunRecord:
    return RunRecord("shop", contact_id, rule_id, "v1", T0, T0, {"type": "x"}, status=status,
                     waiting_for=waiting_for, occurrence=occurrence)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_statements_are_made_once_and_number_their_parameters_in_order(dialect: str) -> None:
    assert rows(m.Run, RunRecord, dialect) is rows(m.Run, RunRecord, dialect)
    assert intake._reactive_runs(dialect, 2) is intake._reactive_runs(dialect, 2)
    runs = rows(m.Run, RunRecord, dialect)
    statement = intake._reactive_runs(dialect, 2)
    if dialect == "postgres":
        assert [f"${n}" in statement for n in range(1, 6)] == [True] * 5 and "$6" not in statement
        assert "?" not in statement and "?" not in runs.update
        assert runs.update.endswith(f'WHERE "id"=${len(runs.writable) + 1}')
    else:
        assert statement.count("?") == 5 and "$" not in statement
    assert "(SELECT" not in statement.split("UNION")[1][:10]  # SQLite takes no parenthesized UNION members
    assert "SKIP LOCKED" in intake._claim("postgres") and "SKIP LOCKED" not in intake._claim("sqlite")


def test_a_union_keeps_its_dialect_and_its_parameters() -> None:
    from pypika_tortoise import Parameter, Table
    from pypika_tortoise.dialects import PostgreSQLQuery
    t = Table("t")
    first = PostgreSQLQuery.from_(t).select(t.a).where(t.b == Parameter(idx=1))
    second = PostgreSQLQuery.from_(t).select(t.a).where(t.b.isin(params(2, 2)))
    assert sql(union(first, second)) == 'SELECT "a" FROM "t" WHERE "b"=$1 UNION SELECT "a" FROM "t" WHERE "b" IN ($2,$3)'


async def test_rows_read_write_and_insert_as_tortoise_does(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        contact_rows = rows(m.Contact, ContactRecord, tx.dialect)
        contact = ContactRecord(0, "shop", T0, email="a@example.test", attributes={"city": "Lyon"}, tags=["vip"])
        contact.id = await contact_rows.add(tx.db, contact)  # type: ignore[assignment]
        assert contact.id
        assert await contact_rows.get(tx.db, contact.id) == contact
        assert await contact_rows.get(tx.db, contact.id + 1000) is None
        contact.score, contact.consent = 7, {"email": True}
        await contact_rows.save(tx.db, contact)
        other = ContactRecord(0, "shop", T0, phone="+33600000000")
        other.id = await contact_rows.add(tx.db, other)  # type: ignore[assignment]
        other.tags = ["new"]
        await contact_rows.save_all(tx.db, [other])
        assert await contact_rows.many(tx.db, "id", [other.id, contact.id]) == [contact, other]
        assert await contact_rows.many(tx.db, "id", []) == []
    row = await m.Contact.get(id=contact.id)  # Tortoise reads what the statements wrote
    assert (row.score, row.consent, row.attributes, row.tags) == (7, {"email": True}, {"city": "Lyon"}, ["vip"])


async def test_inserts_keep_what_a_unique_key_holds(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        run_rows = rows(m.Run, RunRecord, tx.dialect)
        first = _run(1, "r", occurrence="2026-03-02")
        assert await run_rows.add(tx.db, first) is not None
        assert await run_rows.add(tx.db, _run(1, "r", occurrence="2026-03-02")) is None
        batch = [_run(1, "r", occurrence="2026-03-02"), _run(2, "r", occurrence="2026-03-03"),
                 _run(3, "r", occurrence="2026-03-04")]
        await run_rows.add_all(tx.db, batch, "occurrence")
        assert batch[0].id is None and batch[1].id and batch[2].id and batch[1].id != batch[2].id
        assert (await run_rows.get(tx.db, batch[2].id)).contact_id == 3  # type: ignore[arg-type, union-attr]


async def test_the_inbox_is_claimed_oldest_first_once(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        await tx.insert_events([_event(n) for n in range(5)] + [_event(9, processed=True)])
    async with store.transaction() as tx:
        claimed = await tx.claim_inbox("shop", 3)
        assert [e.event_id for e in claimed] == ["e0", "e1", "e2"] and all(e.processed for e in claimed)
        assert [e.event_id for e in await tx.claim_events("shop", ["e1", "e3", "e9", "e8"])] == ["e3"]
        await tx.assign_contacts([(claimed[0].id, 42), (claimed[1].id, None)])  # type: ignore[list-item]
    async with store.transaction() as tx:
        assert [e.event_id for e in await tx.claim_inbox("shop", 10)] == ["e4"]
        assert await tx.claim_inbox("shop", 10) == []
        found = await tx.get_events("shop", ["e0", "e1"])
    assert found["e0"].contact_id == 42 and found["e1"].contact_id is None
    assert found["e0"].processed and found["e1"].processed


async def test_a_claim_rolled_back_leaves_the_events_in_the_inbox(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        await tx.insert_events([_event(n) for n in range(2)])
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            assert len(await tx.claim_inbox("shop", 10)) == 2
            raise RuntimeError("the group failed")
    assert [e.event_id for e in await store.inbox("shop", 10)] == ["e0", "e1"]


async def test_contacts_are_found_by_their_identities(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        alice = await tx.create_contact(ContactRecord(0, "shop", T0, email="alice@example.test"))
        bob = await tx.create_contact(ContactRecord(0, "shop", T0, phone="+33611111111"))
        await tx.lock_identities("shop", [("email", "alice@example.test"), ("phone", "+33611111111")])
        await tx.add_identities(alice, [("email", "alice@example.test"), ("external", "a1")])
        await tx.add_identities(bob, [("phone", "+33611111111"), ("email", "alice@example.test")])  # taken: kept
        found = await tx.find_contacts("shop", [("phone", "+33611111111"), ("external", "a1"), ("email", "x@y.z")])
        assert [c.id for c in found] == sorted([alice.id, bob.id])
        assert await tx.find_contacts("other", [("external", "a1")]) == []
        assert await tx.find_contacts("shop", []) == []
        owners = await tx.identity_owners("shop", [("email", "alice@example.test"), ("phone", "+33611111111"),
                                                   ("email", "nobody@example.test")])
        assert owners == {("email", "alice@example.test"): alice.id, ("phone", "+33611111111"): bob.id}
        many = [("external", f"x{n}") for n in range(300)]  # more than a chunk of pairs
        await tx.add_identities(bob, many)
        assert set((await tx.identity_owners("shop", many)).values()) == {bob.id}
        await tx.merge_contacts(alice, bob)
        assert [c.id for c in await tx.find_contacts("shop", [("phone", "+33611111111")])] == [alice.id]


async def test_a_goal_reads_a_contact_events_of_its_types_in_a_window(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        await tx.insert_events([
            _event(1, 7, "order.completed", True, T0), _event(2, 7, "page.viewed", True, T0 + timedelta(hours=1)),
            _event(3, 7, "order.completed", True, T0 + timedelta(days=2)), _event(4, 8, "order.completed", True, T0),
            _event(5, 7, "cart.abandoned", True, T0 - timedelta(seconds=1))])
        found = await tx.contact_events(7, ["order.completed", "cart.abandoned"], T0 - timedelta(seconds=1),
                                        T0 + timedelta(days=1))
        assert [e.event_id for e in found] == ["e5", "e1"]
        assert found[1].at == T0 and found[1].payload == {"n": 1}
        assert await tx.contact_events(7, [], T0, T0) == []


async def test_the_runs_an_event_may_react_to(store: TortoiseStore) -> None:
    async with store.transaction() as tx:
        runs = [_run(5, "goal-rule"), _run(5, "goal-rule", status="goal"), _run(5, "other", status="waiting",
                waiting_for="page.viewed"), _run(5, "other", status="waiting", waiting_for="email.opened"),
                _run(6, "goal-rule"), _run(5, "third", status="converting")]
        for run in runs:
            await tx.create_run(run)
        ids = [run.id for run in runs]
        reacting = await tx.reactive_runs(5, ["goal-rule", "third"], "page.viewed")
        assert [run.id for run in reacting] == [ids[0], ids[2], ids[5]]
        assert [run.id for run in await tx.reactive_runs(5, [], "page.viewed")] == [ids[2]]
        many_rules = [f"r{n}" for n in range(600)] + ["third"]  # more than a chunk of rules
        assert [run.id for run in await tx.reactive_runs(5, many_rules, "email.opened")] == [ids[3], ids[5]]
        assert [run.id for run in await tx.contact_runs(5, "goal-rule", ["goal"])] == [ids[1]]
        assert [run.id for run in await tx.contact_runs(5)] == [ids[0], ids[1], ids[2], ids[3], ids[5]]
        assert {k: [r.id for r in v] for k, v in (await tx.runs_of_contacts([6, 5], "goal-rule")).items()} == \
            {5: [ids[0], ids[1]], 6: [ids[4]]}
