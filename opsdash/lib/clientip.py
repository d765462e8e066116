"""The address of the person behind a request, for the login lockout and the audit trail.

Behind a reverse proxy every request arrives from the proxy's address, so keying the
lockout on REMOTE_ADDR would let five bad logins by anyone lock out everyone. The proxy
appends the address it saw to X-Forwarded-For, but anyone can send that header too: it is
believed only when the request comes from one of ``settings.TRUSTED_PROXIES``
(OPSDASH_TRUSTED_PROXIES), and only up to the first hop that is not one of them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from ipware import get_client_ip

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# More trusted proxies in a row than this is no real deployment; stop reading there
# rather than walk a header someone inside the trusted networks made very long.
MAX_PROXY_HOPS = 16


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as text, or None when the request has no usable address."""
    if request is None:
        return None
    remote = _address(request.META.get("REMOTE_ADDR"))
    if remote is None:
        return None
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    nearest = remote
    # ipware names the entry a given number of hops back from the end of
    # X-Forwarded-For; step back while the address there is one of our proxies.
    for hops in range(MAX_PROXY_HOPS):
        if not _is_trusted(nearest, trusted):
            break
        found, _routable = get_client_ip(
            request, proxy_count=hops, request_header_order=("HTTP_X_FORWARDED_FOR",), strict=False
        )
        if found is None:  # no further hop recorded: the last proxy's peer is all we know
            break
        nearest = ipaddress.ip_address(found)
    return str(nearest)


def _address(raw: str | None) -> _Address | None:
    try:
        address = ipaddress.ip_address((raw or "").strip())
    except ValueError:
        return None
    # A server listening on both IPv4 and IPv6 reports IPv4 peers as ::ffff:a.b.c.d.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)


def _is_trusted(address: _Address, networks: tuple[_Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)
