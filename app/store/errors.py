"""The store's exceptions share one base."""


class StoreError(Exception):
    """The base of the store's errors."""


class SuiteInUseError(StoreError):
    """A suite that runs still refer to cannot be deleted."""

    def __init__(self, active: int, finished: int) -> None:
        self.active = active
        self.finished = finished
        super().__init__(f"{active} active and {finished} finished runs use this suite")


class DuplicateDeliveryError(StoreError):
    """This webhook delivery id already started a run."""
