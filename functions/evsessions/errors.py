"""Error types shared by the handlers.

Permanent errors (the input itself is wrong: retrying cannot help) and transient errors (a
dependency is down: retrying may help) are different types, so callers decide by type.
"""


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class InvalidSession(PipelineError):
    """A message breaks the contract. Permanent: it goes to the dead letters with this reason."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class StorageUnavailable(PipelineError):
    """The database could not be reached or refused the request for now. Transient."""


class PublishIncomplete(PipelineError):
    """Some messages of a tick were not acknowledged by the broker in time. Transient."""

    def __init__(self, published: int, failed: int, reason: str) -> None:
        super().__init__(f"{failed} of {published + failed} messages not acknowledged: {reason}")
        self.published = published
        self.failed = failed
