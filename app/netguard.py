"""SSRF guard for URLs clients hand us: no loopback, private, link-local or metadata addresses."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    pass


def check_public_url(url: str, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Raise UnsafeURL unless `url` is http(s) and every address its host resolves to is public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeURL("must be an http or https URL")
    host = parts.hostname.lower()
    if host in allowed_hosts or f"{host}:{port}" in allowed_hosts:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"host {host!r} cannot be resolved") from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        if not ip.is_global or ip.is_multicast:
            raise UnsafeURL(f"host {host!r} resolves to a non-public address")
