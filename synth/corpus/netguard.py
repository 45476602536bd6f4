"""Address policy for outbound fetches: never let a crawled URL reach internal networks.

A page can link (or redirect) to `http://169.254.169.254/`, `http://localhost:6379/` or a public name
whose DNS record points at 10.0.0.5. The policy is checked on every resolved address, and the
connection is then made to exactly the address that was checked (`GuardedNetworkBackend`), so a DNS
answer that changes between the check and the connect (rebinding) cannot slip through.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Collection, Mapping
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# 64:ff9b::/96 (RFC 6052) embeds an IPv4 address that a NAT64 gateway will connect to
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class AddressRefused(Exception):
    """A host resolved to an address the policy refuses; raised before any byte is sent."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(reason)
        self.host = host
        self.reason = reason


# --- literal addresses -------------------------------------------------------------------------


def _ipv4_number(label: str) -> int | None:
    """One label of an IPv4 literal in inet_aton/WHATWG syntax: decimal, 0x-hex or 0-octal."""
    if not _NUMERIC_LABEL.fullmatch(label):
        return None
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        if not set(label) <= set("01234567"):
            raise ValueError(f"invalid octal label {label!r} in IPv4 address")
        return int(label, 8)
    return int(label)


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Parse every IPv4 spelling browsers and libc accept: 127.0.0.1, 2130706433, 0x7f000001,
    0177.0.0.1, 127.1. Returns None when `host` is not numeric; raises ValueError when it is numeric
    but out of range."""
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if not 1 <= len(labels) <= 4:
        return None
    numbers: list[int] = []
    for label in labels:
        number = _ipv4_number(label)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise ValueError(f"invalid IPv4 address {host!r}")
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells literally (brackets allowed around IPv6), or None for a name."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    try:
        return parse_ipv4_literal(host)
    except ValueError:
        return None


# --- policy ----------------------------------------------------------------------------------


def _category(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None when it is."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT)
        return "non-global"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """IPv4 addresses that an IPv6 address reaches through a translation mechanism."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """A reason like "loopback address 127.0.0.1" when the policy refuses `ip`, else None."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return f"scoped IPv6 address {ip}"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, inner = embedded
            category = _category(inner)
            if category is not None:
                return f"{category} address {inner} ({kind} in {ip})"
    category = _category(ip)
    return None if category is None else f"{category} address {ip}"


# what a bare host in `private_hosts` exempts: the web's ports, not every service the host runs
DEFAULT_PORTS = (80, 443)


def parse_exempt_host(entry: str) -> tuple[str, tuple[int, ...]]:
    """"intranet.example" -> ("intranet.example", (80, 443)); "intranet.example:8080", "10.0.0.5:8080",
    "[fd00::5]:8080" -> that port only; a bare IPv6 address ("fd00::5" or "[fd00::5]") -> the default
    ports. Raises ValueError for a port that is no number in 1-65535."""
    entry = entry.strip().lower()
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else rest
    elif entry.count(":") == 1:
        host, port_text = entry.split(":")
    else:  # a name, an IPv4 address, or a bare IPv6 address
        host, port_text = entry, ""
    if not host:
        raise ValueError(f"private_hosts entry {entry!r} names no host")
    if not port_text:
        return host, DEFAULT_PORTS
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"private_hosts entry {entry!r}: the port must be a number in 1-65535")
    return host, (int(port_text),)


def is_exempt(host: str, port: int, allowed_hosts: Collection[str]) -> bool:
    """Whether `host:port` is one of the `allowed_hosts` entries (see `parse_exempt_host`)."""
    host = host.strip("[]").lower()
    for entry in allowed_hosts:
        name, ports = parse_exempt_host(entry)
        if name == host and port in ports:
            return True
    return False


def _refusal_for(host: str, addresses: list[IPAddress], literal: bool) -> str | None:
    for ip in addresses:
        reason = address_refusal(ip)
        if reason is not None:
            return reason if literal else f"{host} resolves to {reason}"
    return None


# --- resolution ------------------------------------------------------------------------------


def _addresses(infos: list[tuple[Any, ...]]) -> list[IPAddress]:
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    return list(seen)


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (literals parsed without DNS). Raises OSError."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal]
    return _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


async def resolve_host_async(host: str, port: int) -> list[IPAddress]:
    literal = parse_ip_literal(host)
    if literal is not None:
        return [literal]
    # getaddrinfo blocks; run it in a worker thread like asyncio's own resolver does
    infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    return _addresses(infos)


def check_address(
    host: str, port: int, *, allow_private: bool, allowed_hosts: Collection[str] = ()
) -> str | None:
    """None when `host` may be fetched, else why not. Refuses when ANY resolved address is private,
    loopback, link-local, multicast, reserved or unspecified. `allowed_hosts` names hosts that are
    exempt on a port (an intranet wiki the operator explicitly wants: see `parse_exempt_host`);
    `allow_private=True` disables the check."""
    if allow_private or is_exempt(host, port, allowed_hosts):
        return None
    try:
        addresses = resolve_host(host, port)
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    return _refusal_for(host, addresses, parse_ip_literal(host) is not None)


async def vetted_addresses(
    host: str, port: int, *, allow_private: bool, allowed_hosts: Collection[str] = ()
) -> list[IPAddress]:
    """The addresses to connect to for `host`, all of them allowed; raises AddressRefused, or
    OSError when the name does not resolve."""
    addresses = await resolve_host_async(host, port)
    if not (allow_private or is_exempt(host, port, allowed_hosts)):
        reason = _refusal_for(host, addresses, parse_ip_literal(host) is not None)
        if reason is not None:
            raise AddressRefused(host, reason)
    return addresses


async def check_address_async(
    host: str, port: int, *, allow_private: bool, allowed_hosts: Collection[str] = ()
) -> str | None:
    """`check_address` for async callers: DNS runs in a thread, the loop keeps going."""
    try:
        await vetted_addresses(host, port, allow_private=allow_private, allowed_hosts=allowed_hosts)
    except AddressRefused as exc:
        return exc.reason
    except OSError as exc:
        return f"cannot resolve {host}: {exc}"
    return None


# --- resolve overrides (curl --resolve) ------------------------------------------------------


def parse_resolve_target(value: str) -> tuple[str, int | None]:
    """"10.0.0.1:8080", "[::1]:8080", "10.0.0.1" or "host:8080" -> (host, port or None)."""
    value = value.strip()
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad resolve target {value!r}")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    else:  # a name or IPv4 without a port, or a bare IPv6 address
        host, port_text = value, ""
    if not host:
        raise ValueError(f"bad resolve target {value!r}: no host")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad resolve target {value!r}: port must be 1-65535")
    return host, int(port_text)


def parse_resolve_map(resolve: Mapping[str, str]) -> dict[str, tuple[str, int | None]]:
    """Keys are "host" (any port) or "host:port" (that port only), case-insensitive."""
    return {key.strip().lower(): parse_resolve_target(value) for key, value in resolve.items()}


# --- the enforcing transport -----------------------------------------------------------------


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, vets and pins every TCP connection httpx opens.

    TLS is unaffected: httpcore still sends the URL's host as SNI and checks the certificate
    against it, because only the socket's destination changes.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        allowed_hosts: Collection[str] = (),
        resolve: Mapping[str, str] | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._allowed_hosts = tuple(allowed_hosts)
        self._resolve = parse_resolve_map(resolve or {})
        self._inner = inner or httpcore.AnyIOBackend()

    def _target(self, host: str, port: int) -> tuple[str, int]:
        key = host.lower()
        mapped = self._resolve.get(f"{key}:{port}") or self._resolve.get(key)
        if mapped is None:
            return host, port
        target_host, target_port = mapped
        return target_host, target_port or port

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        target_host, target_port = self._target(host, port)
        exempt = is_exempt(host, port, self._allowed_hosts)
        try:
            addresses = await vetted_addresses(
                target_host,
                target_port,
                allow_private=self._allow_private or exempt,
                allowed_hosts=self._allowed_hosts,
            )
        except AddressRefused as exc:
            if target_host != host:
                raise AddressRefused(host, f"{host} is mapped to {exc.reason}") from None
            raise
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {target_host}: {exc}") from exc
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(ip), target_port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:  # try the next address, like happy eyeballs would
                error = exc
        raise error or httpcore.ConnectError(f"no address for {target_host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # loading the CA bundle costs ~40 ms; one context serves every client in the process
    return httpx.create_ssl_context(verify=verify, trust_env=False)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's default transport with the guarded backend and no proxies from the environment
    (a proxy would make the connection on our behalf, out of the guard's sight)."""

    def __init__(
        self,
        *,
        allow_private: bool,
        allowed_hosts: Collection[str] = (),
        resolve: Mapping[str, str] | None = None,
        limits: httpx.Limits | None = None,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        ssl_context = _ssl_context(verify) if isinstance(verify, bool) else verify
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        # httpx exposes no network_backend option, so rebuild the pool it made with ours
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(
                allow_private=allow_private, allowed_hosts=allowed_hosts, resolve=resolve
            ),
        )
