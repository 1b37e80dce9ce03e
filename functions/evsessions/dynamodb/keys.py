"""Every key of the sessions table, built here and nowhere else: the DynamoDB key design.

template.yaml declares the same keys and indexes; docs/pages/architecture.md explains the access
patterns.
- A session: pk `CHARGER#{charger}`, sk `SESSION#{connector}#{session}` (GetItem by identity).
  Index ByConnectorTime: `connector_pk` = `CONNECTOR#{charger}#{connector}` + `charger_time` =
  `{ended_at}#{connector}#{session}`. A charger's sessions are the merge of its connectors'.
  Index ByMonth: `month` = `YYYY-MM#{shard}` + `fleet_time` =
  `{ended_at}#{charger}#{connector}#{session}`.
  A reused session id (same identity, other content) is occurrence n = 2, 3, ...: its sk and both
  time keys end in `#{n}` (ids hold no `#`, so an identity's occurrences are exactly the sks from
  `SESSION#{connector}#{session}` to `SESSION#{connector}#{session}#~`). Occurrence 1 keeps the
  key it always had, so items stored before occurrences existed are occurrence 1 as they are.
  A suspect session (see `integrity`) also holds its `findings`, its message as it arrived
  (`raw`) and, until an operator resolves it, `review` = `OPEN`: index ByReview (`review` +
  `fleet_time`) is sparse, the open suspects alone, newest first. A resolution is a map
  `resolution` on the item (action, time, reason, who, and a correction's original values).
- Reused ids of the whole fleet: pk `COUNTERS`, sk `FLEET`, `reused_session_ids` (ADDed in the
  transaction that stores an occurrence above 1), and `open_suspect_sessions` (ADDed 1 in the
  transaction that stores a suspect session, -1 in the one that resolves it).
- Totals: pk `TOTALS#FLEET#{shard}`, sk `HOUR#…` and `DAY#…`. Counters only, added in the same
  transaction as the session, so a duplicate (which cancels it) never counts twice. The shard is
  the transaction's, not the charger's: the fleet's totals are the sum over all shards whatever
  shard a session added to, so every session of a transaction shares its two items, and
  transactions in flight together spread over the 16 shards. A charger's totals per hour or
  day are summed from its sessions in the window when asked: about 20 a day, read seldom, where
  a charger's day item cost every session 2 to 6 write units (it grew with its hours).
- Months that hold sessions: pk `MONTHS`, sk `MONTH#YYYY-MM`, no attributes: a marker a fleet
  listing reads to skip empty months, put (idempotent, outside any transaction) before the first
  transaction of the month a store writes. A marker without sessions only costs a listing one
  empty read, so it needs no transaction.
- Chargers: pk `CHARGERS#{shard}`, sk `CHARGER#{charger}`: lifetime counters and the last end
  time (a max, raised in the same transaction), and the same for each connector under
  attribute names prefixed `connector#{connector}#`: one item a charger, so a batch writes one,
  not one a connector.
Times are fixed-width UTC ISO 8601 text, so text order is time order. `{shard}` is the
charger's (`shards.shard_of`), or for fleet totals the transaction's: fleet-wide keys are spread
over 16 values, never one hot one.
The central system's items (`OCPP#...`, operators' commands among them), the charger registry
(`REGISTRY#CHARGERS` / `{charger}`), the tariffs' versions, the CDRs and the archived dead
letters (`DEADLETTERS` / `{sent at}#{message id}`) share the table; their layouts are told in
`dynamodb.charge_points`, `dynamodb.commands`, `dynamodb.registry`, `dynamodb.tariffs`,
`dynamodb.cdrs` and `dynamodb.dead_letter_archive`, and their keys are built here too.
"""

from __future__ import annotations

from evsessions.contract import ChargingSession, SessionKey, format_time
from evsessions.dynamodb.shards import shard_of, sharded

BY_CONNECTOR_TIME = "ByConnectorTime"
BY_MONTH = "ByMonth"
BY_REVIEW = "ByReview"
OPEN_REVIEW = "OPEN"
FLEET_TOTALS = "TOTALS#FLEET"
CHARGERS = "CHARGERS"
MONTHS = "MONTHS"
REUSE_COUNTER = ("COUNTERS", "FLEET")
BUCKET_PREFIX = {"hour": "HOUR#", "day": "DAY#"}
MONTH_PREFIX = "MONTH#"
CHARGE_POINTS = "OCPP#CHARGEPOINTS"
ID_TAGS = "OCPP#IDTAGS"
REGISTRY = "REGISTRY#CHARGERS"
DEAD_LETTERS = "DEADLETTERS"
CDR_MONTHS = "CDRMONTHS"
"""`CDRMONTHS` / `{yyyy-mm}`: a month that holds CDRs (`dynamodb.cdrs`)."""
TARIFFS = "TARIFFS"
"""`TARIFFS` / `{tariff id}`: each tariff, listed (`dynamodb.tariffs`)."""


def _occurrence_suffix(occurrence: int) -> str:
    return "" if occurrence == 1 else f"#{occurrence}"


def charger_partition(charger_id: str) -> str:
    """The table's partition of one charger's sessions."""
    return f"CHARGER#{charger_id}"


def session_key(key: SessionKey, occurrence: int = 1) -> dict[str, str]:
    sk = f"SESSION#{key.connector_id}#{key.session_id}{_occurrence_suffix(occurrence)}"
    return {"pk": charger_partition(key.charger_id), "sk": sk}


def occurrences_range(key: SessionKey) -> tuple[str, str, str]:
    """(pk, first sk, last sk): a Query BETWEEN them reads every occurrence of an identity."""
    first = session_key(key)
    return first["pk"], first["sk"], first["sk"] + "#~"


def charger_sk(charger_id: str) -> str:
    """A charger's lifetime item in its CHARGERS shard; `charger_sk("")` sorts before them all."""
    return f"CHARGER#{charger_id}"


def charger_of_sk(sk: str) -> str:
    return sk.removeprefix(charger_sk(""))


def chargers_pk(charger_id: str) -> str:
    """The CHARGERS shard that holds this charger's lifetime item."""
    return sharded(CHARGERS, shard_of(charger_id))


def month_marker(month: str) -> dict[str, str]:
    """The key of the marker that says `month` (`2026-11`) holds sessions."""
    return {"pk": MONTHS, "sk": MONTH_PREFIX + month}


def month_partition(month: str, charger_id: str) -> str:
    """The ByMonth partition of a charger's sessions of a month: `2026-11#07`."""
    return sharded(month, shard_of(charger_id))


def connector_partition(charger_id: str, connector_id: str) -> str:
    """ByConnectorTime's partition: one connector's sessions."""
    return f"CONNECTOR#{charger_id}#{connector_id}"


def charger_time(session: ChargingSession) -> str:
    """ByConnectorTime's sort key: the end time first, then the rest of the identity."""
    key, suffix = session.key, _occurrence_suffix(session.occurrence)
    return f"{format_time(session.ended_at)}#{key.connector_id}#{key.session_id}{suffix}"


def fleet_time(session: ChargingSession) -> str:
    """ByMonth's sort key: the end time first, then the identity, so it is unique."""
    key, suffix = session.key, _occurrence_suffix(session.occurrence)
    ended = format_time(session.ended_at)
    return f"{ended}#{key.charger_id}#{key.connector_id}#{key.session_id}{suffix}"


def ocpp_charger_pk(charger_id: str) -> str:
    """The partition of one charge point's transactions, starts and unmatched stops."""
    return f"OCPP#CHARGER#{charger_id}"


def transaction_sk(transaction_id: int) -> str:
    return f"TX#{transaction_id:010d}"


def start_sk(start_key: str) -> str:
    return f"START#{start_key}"


def unmatched_stop_sk(transaction_id: object, fingerprint: str) -> str:
    return f"UNMATCHED#{str(transaction_id)[:20]}#{fingerprint}"


def command_sk(command_id: str) -> str:
    """An operator's command to a charge point, under `ocpp_charger_pk` (its CALL's unique id)."""
    return f"CMD#{command_id}"


def remote_start_sk(id_tag: str) -> str:
    """Who asked for a remote start of this id tag, under `ocpp_charger_pk`."""
    return f"REMOTESTART#{id_tag}"


def remote_stop_sk(transaction_id: int) -> str:
    """Who asked for a remote stop of this transaction, under `ocpp_charger_pk`."""
    return f"REMOTESTOP#{transaction_id:010d}"


def registry_key(charger_id: str) -> dict[str, str]:
    return {"pk": REGISTRY, "sk": charger_id}


def dead_letter_key(sent_at: str, message_id: str) -> dict[str, str]:
    """An archived dead letter, in the order it was first sent (`dynamodb.dead_letter_archive`)."""
    return {"pk": DEAD_LETTERS, "sk": f"{sent_at}#{message_id}"}


def session_cdrs_pk(key: SessionKey, occurrence: int) -> str:
    """The partition of one session occurrence's CDRs (`dynamodb.cdrs`)."""
    return f"SESSIONCDRS#{key.charger_id}#{key.connector_id}#{key.session_id}#{occurrence}"


def cdr_month_partition(month: str) -> str:
    """The ByMonth partition of a month's CDRs, by `last_updated`: one no session uses."""
    return f"CDRS#{month}"


def tariff_partition(tariff_id: str) -> str:
    """The partition of one tariff's versions, by start (`dynamodb.tariffs`)."""
    return f"TARIFF#{tariff_id}"


def tariff_of_partition(pk: str) -> str:
    return pk.removeprefix(tariff_partition(""))
