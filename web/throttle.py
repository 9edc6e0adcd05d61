"""Sign-in throttling that a stranger cannot turn against the account's owner.

Why it exists: a limit per account lets anyone lock anyone out (six wrong passwords
for someone else's address), and a limit per address alone lets one address try every
account. So attempts are counted per **(account, client address)**, with exponential
backoff after :attr:`Policy.free` attempts, and separately per **client address**
across all accounts (against password spraying). The owner, from their own address,
is in neither of the attacker's buckets. A browser that once signed in to the account
carries a signed *known-device* cookie: its attempts are counted per (account, device)
and skip the address bucket, so even an owner sharing the attacker's address (one
office NAT) still gets in.

A successful sign-in clears the (account, …) bucket and gives the address bucket its
attempt back, so a busy NAT of honest users does not add up. IPv6 clients are counted
per /64 (one subscriber's allocation), IPv4 per address.

The rule is the pure :func:`reserve`; ``throttle.lua`` applies the same rule
atomically in Redis (both buckets share the ``{signin}`` hash tag). The clock is the
caller's: ``now_ms`` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from importlib import resources

import msgspec
import redis.asyncio as aioredis

__all__ = [
    "ACCOUNT_POLICY",
    "ADDRESS_POLICY",
    "Bucket",
    "Decision",
    "Policy",
    "SignInThrottle",
    "address_bucket",
    "device_cookie",
    "device_id",
    "reserve",
    "succeed",
]

_SCRIPT = resources.files("web").joinpath("throttle.lua").read_text()


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """``free`` attempts without waiting, then ``base_ms`` doubling up to ``max_ms``.

    A bucket is forgotten ``ttl_ms`` after its last attempt (plus any wait).
    """

    free: int
    base_ms: int
    max_ms: int
    ttl_ms: int


ACCOUNT_POLICY = Policy(free=5, base_ms=10_000, max_ms=15 * 60_000, ttl_ms=24 * 3600_000)
"""Per (account, address or device): 5 tries, then 10 s, 20 s, 40 s … up to 15 min between
tries; forgotten a day after the last one (a success forgets it at once)."""
ADDRESS_POLICY = Policy(free=20, base_ms=10_000, max_ms=15 * 60_000, ttl_ms=3600_000)
"""Per address across accounts: 20 failed tries, then 10 s, 20 s … up to 15 min; forgotten
an hour after the last one (each success gives one try back)."""


class Bucket(msgspec.Struct, frozen=True):
    """Attempts counted and the time (unix ms) before which none is allowed."""

    n: int = 0
    next_ms: int = 0


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """Whether an attempt may go ahead and, if not, how long to wait."""

    allowed: bool
    retry_after_ms: int = 0

    @property
    def retry_after_s(self) -> int:
        """The wait in whole seconds (at least 1 when refused), for ``Retry-After``."""
        return 0 if self.allowed else max(1, -(-self.retry_after_ms // 1000))


def _count(bucket: Bucket, now_ms: int, policy: Policy) -> Bucket:
    n = bucket.n + 1
    if n < policy.free:
        return Bucket(n, 0)
    return Bucket(n, now_ms + min(policy.base_ms * 2 ** (n - policy.free), policy.max_ms))


def reserve(
    pair: Bucket,
    address: Bucket | None,
    now_ms: int,
    *,
    pair_policy: Policy = ACCOUNT_POLICY,
    address_policy: Policy = ADDRESS_POLICY,
) -> tuple[Bucket, Bucket | None, Decision]:
    """Decide one sign-in attempt and count it (the rule ``throttle.lua`` applies).

    ``address`` is ``None`` for a known device (its attempts skip the address bucket).
    A refused attempt changes nothing.
    """
    wait = max(pair.next_ms - now_ms, 0)
    if address is not None:
        wait = max(wait, address.next_ms - now_ms)
    if wait > 0:
        return pair, address, Decision(allowed=False, retry_after_ms=wait)
    counted = None if address is None else _count(address, now_ms, address_policy)
    return _count(pair, now_ms, pair_policy), counted, Decision(allowed=True)


def succeed(address: Bucket | None, address_policy: Policy = ADDRESS_POLICY) -> Bucket | None:
    """After a right password: the account's bucket is forgotten (not returned) and the
    address bucket gets its attempt back (no wait once it is within ``free`` again)."""
    if address is None or address.n == 0:
        return address
    n = address.n - 1
    return Bucket(n, 0 if n < address_policy.free else address.next_ms)


def address_bucket(address: str) -> str:
    """The unit an address is counted in: the IPv4 address, or the IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _sign(secret: str, user_id: str, nonce: str) -> str:
    mac = hmac.new(secret.encode(), f"device\0{user_id}\0{nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()[:40]


def device_cookie(secret: str, user_id: str, nonce: str) -> str:
    """The known-device cookie value for ``user_id`` on the browser ``nonce``."""
    return f"{nonce}.{_sign(secret, user_id, nonce)}"


def device_id(secret: str, user_id: str | None, cookie: str | None) -> str | None:
    """The browser's device nonce when ``cookie`` was issued to ``user_id``, else ``None``."""
    if not cookie or user_id is None or cookie.count(".") != 1:
        return None
    nonce, signature = cookie.split(".")
    if not nonce or not hmac.compare_digest(signature, _sign(secret, user_id, nonce)):
        return None
    return nonce


class SignInThrottle:
    """The Redis side of :func:`reserve`: one script call per attempt and per success."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        pair_policy: Policy = ACCOUNT_POLICY,
        address_policy: Policy = ADDRESS_POLICY,
    ) -> None:
        self._prefix = prefix
        self._pair = pair_policy
        self._address = address_policy
        self._script = client.register_script(_SCRIPT)

    def keys(self, account: str, address: str, device: str | None) -> list[str]:
        """The (account, address-or-device) key and the address key, one hash tag."""
        who = f"device:{device}" if device else f"addr:{address_bucket(address)}"
        pair = hashlib.sha256(f"{account.lower()}\0{who}".encode()).hexdigest()[:32]
        where = hashlib.sha256(address_bucket(address).encode()).hexdigest()[:32]
        base = f"{self._prefix}:{{signin}}"
        return [f"{base}:pair:{pair}", f"{base}:addr:{where}"]

    def _args(self, mode: str, now_ms: int, device: str | None) -> list[str | int]:
        p, a = self._pair, self._address
        return [
            mode, now_ms, 0 if device else 1,
            p.free, p.base_ms, p.max_ms, p.ttl_ms,
            a.free, a.base_ms, a.max_ms, a.ttl_ms,
        ]  # fmt: skip

    async def attempt(
        self, account: str, address: str, *, now_ms: int, device: str | None = None
    ) -> Decision:
        """Count one sign-in attempt for ``account`` from ``address`` (or a known device)."""
        allowed, wait = await self._script(
            keys=self.keys(account, address, device), args=self._args("attempt", now_ms, device)
        )
        return Decision(allowed=bool(allowed), retry_after_ms=int(wait))

    async def succeeded(
        self, account: str, address: str, *, now_ms: int, device: str | None = None
    ) -> None:
        """The attempt was right: clear the account's bucket, refund the address's."""
        await self._script(
            keys=self.keys(account, address, device), args=self._args("success", now_ms, device)
        )
