"""Password hashing with argon2id, run off the event loop.

Parameters (``PasswordHasher(profile=...)``):

- ``"rfc9106-low-memory"`` (default): argon2id, t=3 passes, m=64 MiB, p=4 lanes, 16-byte
  salt, 32-byte hash. This is the *second recommended option* of RFC 9106 section 4
  (for environments that cannot spend 2 GiB per hash) and argon2-cffi's own default.
  About 65 ms per hash on one core of the development machine.
- ``"owasp-minimum"``: argon2id, t=2, m=19 MiB, p=1: the first configuration of the OWASP
  Password Storage Cheat Sheet, the floor below which argon2id should not go. About
  20 ms; for small machines or test suites.

Every hash records its own parameters (``$argon2id$v=19$m=65536,t=3,p=4$...``), so a
stored hash keeps verifying after the profile changes; :meth:`PasswordHasher.verify_and_upgrade`
returns a new hash when the stored one was made with other parameters, which the login
flow saves (transparent rehash).

argon2 is deliberately slow and memory-hard, so hashing on the event loop would stall
every other request for the duration. The async methods run it in a small thread pool
owned by the hasher: argon2-cffi releases the GIL while it works, and the pool's size
(CPU count by default) bounds both the concurrency and the memory (``workers`` times m).
On Linux the pool's threads run at a lower priority (nice 10), so under CPU contention
the event loop preempts them instead of sharing the core evenly with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["PROFILES", "PasswordHasher", "PasswordProfile", "hash_password", "verify_password"]

T = TypeVar("T")

PasswordProfile = Literal["rfc9106-low-memory", "owasp-minimum"]

#: The nice value of the hashing threads (Linux): the event loop's thread goes first.
HASHING_NICENESS = 10

#: The argon2id parameter sets :class:`PasswordHasher` accepts by name.
PROFILES: dict[str, argon2.Parameters] = {
    "rfc9106-low-memory": argon2.profiles.RFC_9106_LOW_MEMORY,
    "owasp-minimum": argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
    ),
}


class PasswordHasher:
    """Hashes and verifies passwords with argon2id.

    Args:
        profile: a name from :data:`PROFILES` (see the module documentation).
        workers: size of the thread pool the async methods use; defaults to the CPU count.

    Example:
        ```python
        hasher = PasswordHasher()
        encoded = await hasher.hash_async("correct horse battery staple")
        ok, upgraded = await hasher.verify_and_upgrade("correct horse battery staple", encoded)
        ```
    """

    __slots__ = ("_executor", "_hasher", "_workers", "profile")

    def __init__(
        self, profile: PasswordProfile = "rfc9106-low-memory", *, workers: int | None = None
    ) -> None:
        parameters = PROFILES.get(profile)
        if parameters is None:
            known = ", ".join(f"`{name}`" for name in PROFILES)
            raise ValueError(f"Unknown password profile `{profile}`: use one of {known}")
        if workers is not None and workers < 1:
            raise ValueError(f"`workers` must be at least 1, got `{workers}`")
        self.profile = profile
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        self._workers = workers or os.cpu_count() or 1
        self._executor: ThreadPoolExecutor | None = None

    # -- blocking API (scripts, CLI commands, threads) --------------------------------

    def hash(self, password: str) -> str:
        """Hash ``password``; blocks for the duration of argon2 (use :meth:`hash_async`)."""
        return self._hasher.hash(password)

    def verify(self, password: str, encoded: str) -> bool:
        """Whether ``password`` matches ``encoded``; blocks (use :meth:`verify_async`).

        A malformed or empty ``encoded`` (an unusable password) is a mismatch, not an error.
        """
        try:
            return self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """Whether ``encoded`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    # -- async API: argon2 runs in the hasher's thread pool ------------------------------

    async def hash_async(self, password: str) -> str:
        """Hash ``password`` without blocking the event loop."""
        return await self._run(self.hash, password)

    async def verify_async(self, password: str, encoded: str) -> bool:
        """Verify ``password`` against ``encoded`` without blocking the event loop."""
        return await self._run(self.verify, password, encoded)

    async def verify_and_upgrade(self, password: str, encoded: str) -> tuple[bool, str | None]:
        """Verify, and rehash with the current parameters when the stored hash is outdated.

        Returns:
            ``(matches, new_hash)``: ``new_hash`` is a hash to store in place of
            ``encoded``, or ``None`` when nothing needs to change (or the password is wrong).
        """
        if not await self.verify_async(password, encoded):
            return False, None
        if self.needs_rehash(encoded):
            return True, await self.hash_async(password)
        return True, None

    async def _run(self, func: Callable[..., T], *args: str) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._workers,
                thread_name_prefix="stellate-argon2",
                initializer=_lower_thread_priority,
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    def close(self) -> None:
        """Stop the thread pool (the app's shutdown calls this); it restarts on next use."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _lower_thread_priority() -> None:
    # argon2 releases the GIL, so hashing threads compete with the event loop for the
    # CPU rather than blocking it; on a busy core the scheduler would still split it
    # evenly. Niced hashing threads (Linux sets nice per thread) let the loop preempt
    # them: other requests stay responsive while logins queue.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


@functools.cache
def _default_hasher() -> PasswordHasher:
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Hash ``password`` with the default profile; blocking, for scripts and CLI commands.

    In a request handler use ``await PasswordHasher().hash_async(...)`` (or the auth
    plugin's ``app.auth.passwords``) so the event loop keeps serving other requests.
    """
    return _default_hasher().hash(password)


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the argon2 hash ``encoded``; blocking.

    Deliberately synchronous (a coroutine would be truthy in ``if not verify_password(...)``
    and let every password in). In a request handler prefer
    ``await hasher.verify_async(...)``.
    """
    return _default_hasher().verify(password, encoded)
