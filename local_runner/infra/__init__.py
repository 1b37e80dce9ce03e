"""The local infrastructure the services run on: the broker and its access control, certificates,
the database, child processes."""
