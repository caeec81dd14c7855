"""Where a notification came from, and whether YooKassa may send from there.

Notifications are unsigned, so the sending address is the first line of defence (the API check in
settlement is the second). The peer's address is believed; X-Forwarded-For only when the peer is
one of our trusted proxies, and then only up to the right-most hop that is not itself a trusted
proxy: everything left of it was written by whoever sent the request and proves nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from medialab.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; the allowlist names them as IPv4.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: tuple[Network, ...]
) -> Address | None:
    """The sender's address; None when it cannot be known (no peer, or a trusted proxy that
    passed on a hop that is not an address)."""
    address = parse_address(peer)
    if address is None or not within(address, trusted_proxies):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        hop_address = parse_address(hop)
        if hop_address is None:
            return None
        if not within(hop_address, trusted_proxies):
            return hop_address
        address = hop_address
    return address


def allowed_source(
    peer: str | None, forwarded_for: Iterable[str], allowed: tuple[Network, ...],
    trusted_proxies: tuple[Network, ...],
) -> tuple[bool, Address | None]:
    """Whether the sender may send notifications, and the address it was judged by."""
    address = client_address(peer, forwarded_for, trusted_proxies)
    return address is not None and within(address, allowed), address
