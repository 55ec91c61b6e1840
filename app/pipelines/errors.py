"""The pipelines layer's exceptions share one base."""


class PipelineError(Exception):
    """The base of webhook-signing and callback-delivery errors."""
