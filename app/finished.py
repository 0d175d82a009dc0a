"""Finished tasks' status rows, kept by each web process: only a delete changes them, and every delete is announced."""
from __future__ import annotations

import logging
import os
import random
import threading
import time
from typing import Any

import redis

from app.cache import ExpiringCache

log = logging.getLogger("vidgate.finished")

# Unlike keys, Redis channels are shared by all its numbered databases: the channel names the database, so
# deployments (and test runs) sharing a server hear only their own deletes.
CHANNEL = "vidgate:{db}:deleted"
# A backstop, not the mechanism: deletes are announced at once, and a lost subscription empties the cache. Only an
# announcement lost while the subscription stays healthy (a publisher cut off from Redis alone) lives this long.
# Each row is trusted for a random time between half of it and all of it: rows read together (after a restart,
# or by a client walking its list) would otherwise all expire together and be read again in one burst.
TRUST_SECONDS = 60.0
# The listener pings Redis when it has heard nothing for this long, and gives the subscription up as dead (empties
# the cache, subscribes again) when a ping goes unanswered for as long again: a connection can die without a reset.
HEARTBEAT_SECONDS = 2.0

# This process's id, kept up to date across forks: every status read asks whether its process has a listener,
# and os.getpid() is a system call each time.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


class FinishedTasks:
    """Rows of completed and failed tasks by public id, with the account they belong to, for the status reads.

    Completed and failed are final: afterwards the only change a client can see is a delete. A delete through any
    web process is published on a channel after it commits, and every web process listens and drops the row. Rows
    are kept only while this process's subscription is up, since a delete could otherwise pass unheard; and a row
    read from the database is kept only if no delete was heard while it was being read (the generation), since a
    read that raced a delete may hold the row from before it.

    Without Redis (the embedded default) nothing is kept: there is nobody to announce deletes to.
    """

    def __init__(self) -> None:
        self._rows: ExpiringCache[str, tuple[int, Any]] = ExpiringCache(0)
        self._client: redis.Redis | None = None
        self._listener_pid: int | None = None
        self._start = threading.Lock()
        self.channel = CHANNEL.format(db=0)
        self.generation = 0
        self.listening = False

    def init(self, client: redis.Redis | None, max_entries: int) -> None:
        """Use `client` to listen and announce (None: keep nothing); at most `max_entries` rows (0: keep nothing)."""
        self._client = client if max_entries > 0 else None
        self.channel = CHANNEL.format(db=client.connection_pool.connection_kwargs.get("db", 0) if client else 0)
        self._rows = ExpiringCache(max_entries)
        self._listener_pid = None  # a listener of an earlier init listens for a cache nobody reads any more
        self.listening = False

    def get(self, public_id: str, account_id: int) -> Any | None:
        """The kept row of the account's finished task, or None (ask the database)."""
        self._start_listener()
        entry = self._rows.get(public_id)
        if entry is None or entry[0] != account_id:
            return None
        return entry[1]

    def keep(self, public_id: str, account_id: int, row: Any, generation: int) -> None:
        """Keep the row of a finished task (app.lifecycle.FINAL) just read from the database, if no delete was
        heard since `generation` (take it before the read)."""
        with self._rows.lock:
            if self.listening and generation == self.generation:
                self._rows.put(public_id, (account_id, row), TRUST_SECONDS * random.uniform(0.5, 1.0))

    def deleted(self, public_id: str) -> None:
        """Call once a delete has committed: drop the row here, and announce it to every other process."""
        self._forget(public_id)
        if self._client is None:
            return
        try:
            self._client.publish(self.channel, public_id)
        except redis.RedisError:
            # Other processes' subscriptions are then very likely down too, and theirs empty their caches.
            log.warning("could not announce a delete; other web processes trust their copy for at most %.0f s",
                        TRUST_SECONDS, exc_info=True, extra={"task_id": public_id})

    def _forget(self, public_id: str | None) -> None:
        """Drop one row (None: all of them) and make reads that began before this keep nothing."""
        with self._rows.lock:
            self.generation += 1
            if public_id is None:
                self._rows.clear()
            else:
                self._rows.drop(public_id)

    def _set_listening(self, listening: bool) -> None:
        with self._rows.lock:
            self._forget(None)
            self.listening = listening

    def _start_listener(self) -> None:
        """Start this process's listener on first use: after gunicorn forked it, so in the process that reads."""
        if self._client is None or self._listener_pid == _pid:
            return
        with self._start:
            if self._listener_pid == _pid:
                return
            self._set_listening(False)  # what a parent process kept and heard is not this process's
            self._listener_pid = _pid
            threading.Thread(target=self._listen, args=(self._client, self._listener_pid), daemon=True,
                             name="vidgate-deletes").start()

    def _current(self, client: redis.Redis, pid: int) -> bool:
        """Whether the listener started for `client` in process `pid` is still this process's listener (a later
        `init`, in tests, replaces it, and it must then leave the new one's state alone)."""
        return self._client is client and self._listener_pid == pid

    def _listen(self, client: redis.Redis, pid: int) -> None:
        while self._current(client, pid):
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                self._hear(pubsub, client, pid)
            except redis.RedisError as error:
                # Expected while Redis is down, and said every HEARTBEAT_SECONDS: one line, no traceback. (On
                # Python 3.11 before 3.11.8, a thread formatting a traceback while another builds an AST, as
                # werkzeug does for URL rules, can raise a spurious SystemError, CPython gh-106905: another
                # reason to keep this thread's routine failures short.)
                log.warning("not hearing deletes (%s); finished tasks are read from the database until subscribed "
                            "again", error)
            except Exception:  # noqa: BLE001 (anything else is a bug, but deletes may pass unheard all the same)
                log.exception("not hearing deletes; finished tasks are read from the database until subscribed again")
            finally:
                if self._current(client, pid):
                    self._set_listening(False)
                pubsub.close()
            time.sleep(HEARTBEAT_SECONDS)

    def _hear(self, pubsub: redis.client.PubSub, client: redis.Redis, pid: int) -> None:
        heard = pinged = time.monotonic()
        while self._current(client, pid):
            message = pubsub.get_message(timeout=HEARTBEAT_SECONDS / 2)
            at = time.monotonic()
            if message is not None:
                heard = at
                if message["type"] == "subscribe":
                    self._set_listening(True)
                elif message["type"] == "message":
                    self._forget(message["data"].decode())
            elif at - heard > 2 * HEARTBEAT_SECONDS:
                raise redis.ConnectionError("Redis did not answer the listener's ping")
            elif at - heard > HEARTBEAT_SECONDS and at - pinged > HEARTBEAT_SECONDS:
                pubsub.ping()
                pinged = at
