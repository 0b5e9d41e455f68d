"""argon2id hashing: parameters, verification, transparent upgrade, off-loop execution."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time

import pytest

from stellate.auth.passwords import PROFILES, PasswordHasher, hash_password, verify_password


async def test_hash_is_argon2id_with_the_documented_parameters() -> None:
    hasher = PasswordHasher()
    encoded = await hasher.hash_async("correct horse battery staple")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    small = await PasswordHasher("owasp-minimum").hash_async("correct horse battery staple")
    assert small.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    hasher.close()


async def test_verify_accepts_the_password_and_rejects_others() -> None:
    hasher = PasswordHasher("owasp-minimum")
    encoded = await hasher.hash_async("s3cret passphrase")
    assert await hasher.verify_async("s3cret passphrase", encoded) is True
    assert await hasher.verify_async("s3cret passphrasE", encoded) is False
    assert await hasher.verify_async("", encoded) is False
    # Two hashes of one password differ (random salt) and both verify.
    again = await hasher.hash_async("s3cret passphrase")
    assert again != encoded
    assert await hasher.verify_async("s3cret passphrase", again)
    hasher.close()


@pytest.mark.parametrize("stored", ["", "not-a-hash", "!", "$argon2id$v=19$broken"])
async def test_unusable_stored_hash_is_a_mismatch_not_a_crash(stored: str) -> None:
    hasher = PasswordHasher("owasp-minimum")
    assert await hasher.verify_async("anything", stored) is False
    assert hasher.needs_rehash(stored) is True
    hasher.close()


async def test_outdated_hash_is_upgraded_on_successful_verify() -> None:
    old = PasswordHasher("owasp-minimum")
    new = PasswordHasher("rfc9106-low-memory")
    stored = await old.hash_async("long enough password")

    ok, upgraded = await new.verify_and_upgrade("long enough password", stored)
    assert ok is True
    assert upgraded is not None
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await new.verify_async("long enough password", upgraded)

    # Current parameters: nothing to store.
    assert await new.verify_and_upgrade("long enough password", upgraded) == (True, None)
    # Wrong password: no upgrade, no hint.
    assert await new.verify_and_upgrade("wrong password", stored) == (False, None)
    old.close()
    new.close()


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"Unknown password profile `fast`.*`owasp-minimum`"):
        PasswordHasher("fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`workers` must be at least 1, got `0`"):
        PasswordHasher(workers=0)
    assert set(PROFILES) == {"rfc9106-low-memory", "owasp-minimum"}


def test_blocking_helpers_for_scripts() -> None:
    encoded = hash_password("a script-made password")
    assert verify_password("a script-made password", encoded) is True
    assert verify_password("another password", encoded) is False


async def test_hashing_does_not_stall_the_event_loop() -> None:
    """Eight concurrent hashes (~65 ms each) while a 5 ms ticker runs on the loop.

    Hashing on the loop would let the ticker run at most between two hashes (8 ticks
    at most, each gap a whole hash long); in the thread pool it keeps its pace.
    """
    hasher = PasswordHasher(workers=2)
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    hashes = await asyncio.gather(*(hasher.hash_async(f"password {i}") for i in range(8)))
    elapsed = time.perf_counter() - started
    done.set()
    await tick
    hasher.close()
    assert len(set(hashes)) == 8
    assert elapsed > 0.1  # the hashes took long enough for the measurement to mean something
    assert len(gaps) > 16, f"only {len(gaps)} ticks in {elapsed:.2f}s: the loop was blocked"
    assert statistics.median(gaps) < 0.02, f"median tick gap {statistics.median(gaps):.3f}s"


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
async def test_hashing_threads_yield_to_the_event_loop() -> None:
    hasher = PasswordHasher("owasp-minimum", workers=1)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    try:
        assert await hasher._run(niceness) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    finally:
        hasher.close()
