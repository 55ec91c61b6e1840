"""Where callbacks may go: the SSRF guard.

A callback URL comes from whoever starts a run, so without a guard rung would POST to anything
it can reach: the cloud metadata service, a database, a sidecar's admin port. The guard resolves
the host itself, refuses if *any* address is internal, and then connects only to an address it
checked. It does so at connect time, for every attempt: checking only when the URL is accepted
would let a DNS answer that changes afterwards (rebinding) through. Refusal happens before a
socket is opened, so a refused address never sees a packet.

Hosts in `RUNG_CALLBACK_ALLOW_HOSTS` skip the address check (on-premise receivers), but they are
still resolved here and connected to by address, like every other host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from app.pipelines.errors import PipelineError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses to try, in order. Tests inject their own; production asks the OS.
Resolver = Callable[[str, int], Awaitable[list[str]]]

MAX_URL_LENGTH = 2048

_V4_REFUSED = [
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
]
_V6_REFUSED = [
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001::/23", "IETF protocol assignment"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def refusal(address: IPAddress) -> str | None:
    """Why a callback must not connect to `address`, or None when it is a public address.

    IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4) are judged by the IPv4
    address inside, since that is where the packets end up.
    """
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = (
            ("IPv4-mapped", address.ipv4_mapped),
            ("NAT64", _nat64_v4(address)),
            ("6to4", address.sixtofour),
        )
        for form, inner in wrapped:
            if inner is not None:
                reason = refusal(inner)
                return f"{form} {reason}" if reason else None
        table: Iterable[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = _V6_REFUSED
    else:
        table = _V4_REFUSED
    for network, reason in table:
        if address in network:
            return reason
    # Whatever the tables miss (IANA adds ranges), the standard library's view decides.
    return None if address.is_global else "not globally routable"


def _nat64_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class CallbackRefusedError(PipelineError, ValueError):
    """The callback URL may not be used; the message says why (for a 422 or a delivery log)."""


class CallbackBlockedError(CallbackRefusedError):
    """Refused at connect time: the host now resolves to an address the guard refuses."""


class CallbackUnresolvedError(PipelineError, OSError):
    """The host did not resolve: a transient failure, retried like any other."""


def parse_callback_url(url: str) -> httpx.URL:
    """Syntax only: http(s), a host, no userinfo. Parsed by httpx, the client that will send."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefusedError(f"longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise CallbackRefusedError("contains whitespace or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise CallbackRefusedError(f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise CallbackRefusedError("must be an http:// or https:// URL")
    if parsed.userinfo or "@" in url.split("//", 1)[-1].split("/", 1)[0]:
        raise CallbackRefusedError("must not contain a user name or password")
    if not parsed.host:
        raise CallbackRefusedError("has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise CallbackRefusedError(f"port {parsed.port} is not a valid port")
    return parsed


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class CallbackPolicy:
    """Where callbacks may connect, and whether this server can sign them at all."""

    allow_hosts: frozenset[str] = frozenset()
    can_sign: bool = True
    resolver: Resolver = system_resolver
    resolve_timeout: float = 5.0

    def allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allow_hosts

    async def vet(self, host: str, port: int) -> list[str]:
        """The addresses a connection to `host` may use; raises if any address is refused."""
        literal = _literal(host)
        if literal is not None:
            addresses = [str(literal)]  # a literal needs no lookup, and gets none
        else:
            try:
                found = await asyncio.wait_for(self.resolver(host, port), self.resolve_timeout)
            except (OSError, TimeoutError) as exc:
                raise CallbackUnresolvedError(f"host {host!r} did not resolve ({exc})") from None
            addresses = list(dict.fromkeys(found))
            if not addresses:
                raise CallbackUnresolvedError(f"host {host!r} did not resolve")
        if self.allowed(host):
            return addresses
        for address in addresses:
            reason = refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason is not None:
                # For names, the address itself stays out of the message: it would map the
                # operator's internal DNS for whoever can read the delivery log.
                shown = "" if literal is None else f" ({address})"
                raise CallbackBlockedError(
                    f"host {host!r} resolves to a {reason} address{shown}; callbacks go to "
                    "public addresses only, unless the host is in RUNG_CALLBACK_ALLOW_HOSTS"
                )
        return addresses

    async def check_url(self, url: str) -> None:
        """Everything checkable when a run is accepted (it is checked again at connect time)."""
        if not self.can_sign:
            raise CallbackRefusedError(
                "this server cannot sign callbacks: set RUNG_WEBHOOK_SECRET (a whsec_ secret)"
            )
        parsed = parse_callback_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            await self.vet(parsed.host, port)
        except CallbackUnresolvedError as exc:
            raise CallbackRefusedError(str(exc)) from None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore asks this for every new connection; it vets the host, then dials an address."""

    def __init__(self, policy: CallbackPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.vet(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                # TLS, if any, starts later on this stream with server_hostname=host, so the
                # certificate is still checked against the name, not the address.
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise CallbackBlockedError("callbacks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guard in its connection pool.

    httpx 0.28 has no public way to give its transport a network backend, so the pool built by
    the base class is replaced by one that has it; the base class's request and error mapping
    is kept. Keep-alive is off: every attempt opens (and therefore vets) a fresh connection.
    The client using this transport must have trust_env=False, or environment proxy settings
    would mount unguarded transports in front of it.
    """

    def __init__(self, policy: CallbackPolicy) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=20,
            max_keepalive_connections=0,
            network_backend=_GuardedBackend(policy),
        )
