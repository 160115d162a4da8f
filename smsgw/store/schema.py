"""The database schema (SQLAlchemy Core), the single source for Alembic migrations.

Times are unix seconds as floats (portable between SQLite and PostgreSQL, cheap to
compare). Message ids are 64-bit, time-sortable integers from ``smsgw.store.ids``, so the
primary key order is arrival order and paging the queue is an index range scan.

Life of a row set: POST /v1/messages inserts one ``messages`` row and one ``segments`` row
per part (status ``accepted``); the submit response sets a segment's operator id
(``smsc_id`` as received, ``smsc_key`` normalised for matching receipts); a receipt sets its
final status; the message becomes final when its segments are, which appends one
``reports`` row (the cursor-paged feed of GET /v1/reports) and, when the message has a
callback URL, one ``callbacks`` row (the outbox the callback sender works through).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Autoincrement keys must be INTEGER on SQLite (rowid alias) and BIGINT elsewhere.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("secret", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("allow_text", Boolean, nullable=False, default=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", String(32), nullable=False),
    Column("client_ref", String(128)),
    Column("batch_id", BigInteger),
    Column("to_number", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("encoding", String(16), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("segments", SmallInteger, nullable=False),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("callback_url", Text),
    Column("template_id", String(32)),
    Column("signature", String(64)),
    Column("created_at", Float, nullable=False),
    Column("submitted_at", Float),
    Column("done_at", Float),
    Column("expires_at", Float, nullable=False),
    UniqueConstraint("key_id", "client_ref"),
    Index(None, "channel", "status", "id"),
    Index(None, "batch_id", "status", "id"),  # batch progress counts, export and start/pause pages
    Index(None, "status", "expires_at"),
)

segments = Table(
    "segments",
    metadata,
    Column("message_id", BigInteger, nullable=False),
    Column("idx", SmallInteger, nullable=False),
    Column("channel", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("smsc_id", String(80)),
    Column("smsc_key", String(80)),
    Column("stat", String(16)),
    Column("err", String(16)),
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("submitted_at", Float),
    Column("done_at", Float),
    PrimaryKeyConstraint("message_id", "idx"),
    Index(None, "channel", "smsc_key"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("message_id", BigInteger, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("client_ref", String(128)),
    Column("status", String(16), nullable=False),
    Column("stat", String(16)),
    Column("err", String(16)),
    Column("done_at", Float, nullable=False),
    Index(None, "key_id", "id"),
    # The id is the feed's cursor: without AUTOINCREMENT SQLite reuses ids once the newest
    # rows are gone (e.g. retention emptied the table), and clients would skip new reports.
    sqlite_autoincrement=True,
)

unmatched_reports = Table(
    "unmatched_reports",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("smsc_id", String(80), nullable=False),
    Column("smsc_key", String(80), nullable=False),
    Column("stat", String(16)),
    Column("err", String(16)),
    Column("received_at", Float, nullable=False),
    Column("raw", Text),
    Column("matched_message_id", BigInteger),
    Index(None, "channel", "smsc_key"),
)

mo_parts = Table(
    "mo_parts",
    metadata,
    Column("channel", String(64), nullable=False),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("total", SmallInteger, nullable=False),
    Column("idx", SmallInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("coding", SmallInteger, nullable=False),
    Column("received_at", Float, nullable=False),
    # A long MO is the parts with one (sender, recipient, reference, total): two senders, or two
    # service numbers of one sender, may use the same reference at the same time (3GPP 23.040).
    PrimaryKeyConstraint("channel", "from_number", "to_number", "reference", "total", "idx"),
)

mo_messages = Table(
    "mo_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("channel", String(64), nullable=False),
    Column("from_number", String(32), nullable=False),
    Column("to_number", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("received_at", Float, nullable=False),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),  # "report" | "mo"
    Column("ref_id", BigInteger, nullable=False),  # message id or MO id
    Column("key_id", String(32)),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | dead
    Column("attempts", SmallInteger, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text),
    Index(None, "state", "next_attempt_at"),
)

batches = Table(
    "batches",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("total", Integer, nullable=False, default=0),
    Column("accepted", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("template_id", String(32)),
    Column("signature", String(64)),
    Column("text", Text),
    Column("channel", String(64)),
    Column("send_at", Float),
    Column("created_at", Float, nullable=False),
    # --- batch jobs (issue 5)
    Column("started_at", Float),
    Column("done_at", Float),
    # final counts, written once nothing of the batch is pending (progress is counted until then)
    Column("submitted", Integer),
    Column("delivered", Integer),
    Column("failed", Integer),
    Column("cancelled", Integer),
    Index(None, "key_id", "id"),
    Index(None, "state"),
)

# --- batch jobs (issue 5)

batch_rejects = Table(
    "batch_rejects",
    metadata,
    Column("batch_id", BigInteger, nullable=False),
    Column("line", Integer, nullable=False),  # CSV record number, the header being 1; JSON: index + 1
    Column("number", String(64), nullable=False),  # as written in the upload (cut to 64 characters)
    Column("code", String(32), nullable=False),
    Column("message", String(255), nullable=False),
    PrimaryKeyConstraint("batch_id", "line"),
)

# --- number lists (issue 5)

# Numbers refused as destinations. ``signature`` is the signature the entry blocks, '' for all of
# them (not NULL: NULLs never collide in a unique constraint, and one number/scope is one entry).
blacklist = Table(
    "blacklist",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False),
    Column("signature", String(64), nullable=False),
    Column("reason", Text),
    Column("source", String(16), nullable=False),  # admin | import | mo_unsubscribe
    Column("created_at", Float, nullable=False),
    UniqueConstraint("number", "signature"),
)

# Numbers exempt from the frequency limits (internal testing, VIP customers); capacity capped.
whitelist = Table(
    "whitelist",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False),
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("number"),
)

# --- content: signatures and templates (issue 5)
# Both are created ``pending`` by a key and decided (``approved`` / ``rejected`` with a reason)
# by an admin; the content rules keep them in memory (smsgw.content) and the API updates that
# copy after each write commits.

signatures = Table(
    "signatures",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", String(32), nullable=False),
    Column("name", String(20), nullable=False),  # the text placed in 【】
    Column("company", String(128)),  # qualification details for the approver
    Column("licence", String(64)),
    Column("purpose", Text),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("decided_by", String(32)),
    UniqueConstraint("key_id", "name"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("key_id", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # verification | notification | marketing
    Column("content", Text, nullable=False),  # fixed text with {name} variables
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
    Column("decided_by", String(32)),
    Index(None, "key_id", "id"),
)
