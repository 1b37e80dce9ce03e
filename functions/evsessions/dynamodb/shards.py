"""Which shard a charger's fleet-wide writes go to, so that no partition-key value is hot.

Every session used to add itself to one fleet totals partition, one month partition of the
ByMonth index and one CHARGERS partition: at a million chargers' peak (about 2,300 sessions a
second) each of them needs over 4,000 write units a second, and one partition-key value takes
1,000. Spread over `SHARDS` values each stays under a fifth of that limit up to about three
million chargers (`scripts/capacity.py` shows the numbers). The shard is a function of the
charger id alone (CRC-32, stable across processes, unlike `hash()`), so a retried or duplicate
session always meets the same shard, and exactness never depends on which shard it was.
Readers of fleet-wide data read every shard: sums add up, lists are merged in order
(`paged_merge`), every shard's Query at once (`fan_out`).
"""

from __future__ import annotations

import zlib

SHARDS = 16


def shard_of(charger_id: str) -> int:
    return zlib.crc32(charger_id.encode()) % SHARDS


def sharded(value: str, shard: int) -> str:
    """A partition-key value of one shard: `TOTALS#FLEET` -> `TOTALS#FLEET#07`."""
    return f"{value}#{shard:02d}"
