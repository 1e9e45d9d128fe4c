"""Who sent a request: the socket peer, or the address a trusted reverse proxy says it forwarded.

The client's address keys the per-IP signup limit and is kept as consent evidence, so it must not
be something the client can choose. ``X-Forwarded-For`` is read only when the connecting peer is
in ``trusted_proxies`` (default: none, so the peer is the client). Each proxy appends the address it
received the request from, so the header is read from the right: trusted proxies are skipped and
the first address that is not one of them is the client. Whatever a client wrote itself stays on
the left of what our proxy appended and is never reached. A value that is not an IP address ends
the walk: the client is the last hop that could be vouched for. When the trusted peer itself sends
no header, or an entry that is not an address, the proxy is misconfigured: ``ForwardingError``,
answered with a 400 page and logged, rather than every visitor counted as the proxy.

uvicorn has its own proxy-headers handling (on by default, trusting 127.0.0.1 and taking any value
as it comes); ``newsletter serve`` switches it off so that this module is the only one deciding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from newsletter.errors import NewsletterError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_HOPS = 20  # a header longer than this is not from any sane proxy chain: the rest is ignored


class ForwardingError(NewsletterError):
    """A trusted proxy did not say (or said unreadably) whom it forwarded the request for."""


def parse_address(value: str) -> IPAddress | None:
    """An IP address from one X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``), or None."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[IPNetwork]
) -> str | None:
    """The client's IP address as text (None when the server was given no peer at all)."""
    peer_address = parse_address(peer) if peer else None
    if peer_address is None or not _trusted(peer_address, proxies):
        return str(peer_address) if peer_address is not None else peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    if not hops or not "".join(hops).strip():
        raise ForwardingError(
            f"the trusted proxy {peer_address} sent no X-Forwarded-For header "
            "(nginx: proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;)"
        )
    client = peer_address
    for position, hop in enumerate(reversed(hops[-MAX_HOPS:])):
        address = parse_address(hop)
        if address is None:
            if position == 0:
                raise ForwardingError(
                    f"the trusted proxy {peer_address} sent X-Forwarded-For {hop.strip()[:60]!r}, "
                    "which is not an IP address"
                )
            break  # written by someone the proxies do not vouch for
        client = address
        if not _trusted(address, proxies):
            break
    return str(client)
