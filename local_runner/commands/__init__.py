"""What the operator's replay commands do (`replay`, `dlq replay`), called by `cli.py`."""
