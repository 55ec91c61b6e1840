"""What worker processes share: imported once, before the first worker forks the others.

The first worker process (app/engine/group.py) imports litellm (about 150 MB and seconds of
CPU), makes one call through it (a first call imports some 45 more modules), and imports the
engine and the store's schema tools. The workers it forks share those pages with it and with
each other, copy-on-write, instead of importing the same modules into memory of their own.
`gc.freeze()` moves what was imported out of the collector's reach, so collections do not touch
(and so copy) the shared pages.
"""

from __future__ import annotations

import gc


def share() -> None:
    from app.engine import worker  # noqa: F401  (imported to be shared)
    from app.models.litellm_client import prepare
    from app.store.db import import_schema_tools

    prepare()
    import_schema_tools()
    gc.collect()
    gc.freeze()
