"""The DynamoDB adapter: the sessions table's items and keys, the store behind the
storage port, its write planning, shards, backoff and concurrent reads, the charger registry."""
