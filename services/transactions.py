"""A transaction that only read ends with COMMIT on Postgres, so psycopg keeps the connection's prepared statements.

psycopg forgets a connection's prepared statements whenever it rolls back (psycopg.Connection.rollback clears its
cache and DEALLOCATEs them): ended by a rollback, no statement would ever run prepared, and Postgres would plan every
statement of every request anew (the cart fragment's three: 3.2 ms of Postgres CPU a request, 1.4 ms kept
prepared; a sold-out checkout's answer 4.2 → 3.3 ms). A transaction that ran only SELECTs (a `FOR UPDATE` one too:
its locks end either way) and holds no unflushed change ends the same whichever way it ends (issue 17).

Each connection notes whether its current transaction ran anything but a SELECT; `only_read` asks the session's.
Each session notes whether it has written at all, in any of its transactions: `wrote_anything`.
"""
from __future__ import annotations

import re

from psycopg.pq import TransactionStatus
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

_WROTE = "startline_transaction_wrote"
_SESSION_WROTE = "startline_session_wrote"


@event.listens_for(Engine, "begin")
def _new_transaction(conn) -> None:
    conn.info.pop(_WROTE, None)


@event.listens_for(Engine, "before_cursor_execute")
def _note_a_write(conn, cursor, statement, parameters, context, executemany) -> None:
    if not _reads_only(statement, context):
        conn.info[_WROTE] = True


def _reads_only(statement: str, context) -> bool:
    """A SELECT (a `FOR UPDATE` one too), one that starts with CTEs that only read (services.capacity's
    order_capacity), or a SET LOCAL (`commit_without_waiting_for_disk`), which changes nothing a rollback would
    undo differently."""
    head = statement.lstrip()[:6].upper()
    if head in ("SELECT", "SET LO"):
        return True
    writes = context is not None and (context.isinsert or context.isupdate or context.isdelete)
    return head[:4] == "WITH" and not writes and not _WRITING_CTE.search(statement)


_WRITING_CTE = re.compile(r"\bAS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(\s*(?:INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


@event.listens_for(Session, "after_flush")
def _note_a_flush(session, flush_context) -> None:
    session.info[_SESSION_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_a_written_statement(state) -> None:
    if not state.is_select:
        state.session.info[_SESSION_WROTE] = True


def wrote_anything(session: Session) -> bool:
    """Whether the session has written anything since it was made (a flush, or a statement other than a SELECT,
    committed or not), or holds changes it has not flushed yet: what it read at its start may be out of date.

    A Flask request has a session of its own, so this is "has this request written?" (issue 17)."""
    if isinstance(session, scoped_session):
        session = session()
    return bool(session.info.get(_SESSION_WROTE) or session.new or session.dirty or session.deleted)


def only_read(session: Session) -> bool:
    """Whether the session's open transaction, on Postgres, ran only SELECTs and holds nothing left to flush."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return False
    if session.get_bind().dialect.name != "postgresql":  # only psycopg forgets its prepared statements
        return False
    try:
        connection = session.connection()
    except SQLAlchemyError:  # a transaction a failed statement left to be rolled back
        return False
    if connection.info.get(_WROTE, False):
        return False
    # A statement that failed (and was caught) left Postgres's transaction aborted: only a rollback ends it plainly.
    return connection.connection.dbapi_connection.info.transaction_status != TransactionStatus.INERROR


def end_if_only_read(session: Session) -> bool:
    """Commit the session's transaction if it only read (`only_read`): True when it did. Otherwise, or should the
    commit fail, the transaction is left for the caller to roll back."""
    if not only_read(session):
        return False
    try:
        session.commit()
    except SQLAlchemyError:
        return False
    return True


def commit_without_waiting_for_disk(session: Session) -> None:
    """Let the session's open transaction, on Postgres, commit without waiting for its WAL record to reach the disk
    (`synchronous_commit` off for it alone): its locks are freed when its COMMIT is written, not flushed (3.75 ms of
    fdatasync each here, which every buyer queued on checkout's locks waits for in turn; issue 17).

    Only for a transaction whose work the same request makes durable before anyone outside hears of it. The WAL
    is written in order, so the next commit that does wait (the default: any later transaction, of this request or
    another) flushes this one's record with its own; a crash before that loses this transaction and those after it,
    never one without the other, and Postgres stays consistent. Checkout's reservation is the case: its request
    commits again, waiting, before it sends the buyer to the payment page (or tells them it is free, or that
    payment is unavailable); a crash in between loses a hold nobody has acted on, as if it had never been taken.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
