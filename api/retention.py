"""The retention limit, applied by the running server on a schedule.

A background task purges sightings older than ``search.retention_days`` every
``search.retention_interval_s`` seconds (first at start-up), off the event loop; a failure is
logged and retried at the next interval, never fatal to the server. The purge is audited by the
search service.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from search.services import SearchService

__all__ = ["retention_loop"]

log = logging.getLogger(__name__)


async def retention_loop(service: SearchService, interval_s: float) -> None:
    """Purge expired sightings now and then every ``interval_s`` seconds, until cancelled."""
    while True:
        try:
            report = await run_in_threadpool(service.purge_expired)
            if report.deleted:
                log.info("retention: deleted %d sightings older than %s", report.deleted, report.cutoff)
        except Exception:  # a failed purge must not stop the server: log and try again later
            log.exception("retention purge failed; retrying in %.0f s", interval_s)
        await asyncio.sleep(interval_s)
