"""What worker processes share: imported once in the fork server, before any worker forks.

`rung serve` starts its workers from a fork server that has already imported litellm (about
150 MB and seconds of CPU) and the engine. Forked workers share those pages with it and with
each other, copy-on-write, instead of importing the same modules into memory of their own.
`gc.freeze()` moves what was imported out of the collector's reach, so collections do not
touch (and so copy) the shared pages.
"""

from __future__ import annotations

import gc

from app.engine import worker  # noqa: F401  (imported to be shared)
from app.models.litellm_client import prepare

prepare()
gc.freeze()
