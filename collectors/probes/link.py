"""Link prober: `rtt_ms`, `jitter_ms`, `loss_pct` and `up` for a network link.

Configured from a `link` entity of the inventory (keys beside the core ones):

- `target` (or `host`): the far end to measure, an IP address or host name (e.g. the commune office's router)
- `method`: `icmp`, `tcp` or `auto` (default): ICMP echo where this process may send it (a raw socket
  as root or with CAP_NET_RAW, or an unprivileged ICMP datagram socket where `net.ipv4.ping_group_range`
  allows), TCP connect otherwise
- `port`: TCP port for the `tcp` method (default 443)
- `count`: probes per round (default 5), `timeout_s`: per probe (default 1)

Jitter is the mean absolute difference between consecutive round-trip times (RFC 3550's idea, unsmoothed).
"""

from __future__ import annotations

import errno
import itertools
import os
import select
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from collectors.probes.http import ProbeConfigError
from ioc.inventory import Entity

METHODS = ("auto", "icmp", "tcp")


@dataclass(frozen=True)
class LinkTarget:
    host: str
    method: str = "auto"
    port: int = 443
    count: int = 5
    timeout_s: float = 1.0

    @classmethod
    def from_entity(cls, entity: Entity) -> LinkTarget:
        attrs: dict[str, Any] = entity.attrs
        where = entity.ref
        host = attrs.get("target", attrs.get("host"))
        if not isinstance(host, str) or not host.strip():
            raise ProbeConfigError(f"{where}: target (or host) must name the far end of the link")
        method = attrs.get("method", "auto")
        if method not in METHODS:
            raise ProbeConfigError(f"{where}: method must be one of {', '.join(METHODS)}, not {method!r}")
        port = attrs.get("port", 443)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ProbeConfigError(f"{where}: port must be a TCP port number, not {port!r}")
        count = attrs.get("count", 5)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            raise ProbeConfigError(f"{where}: count must be an integer in [1, 100], not {count!r}")
        timeout = attrs.get("timeout_s", 1.0)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 30:
            raise ProbeConfigError(f"{where}: timeout_s must be a number of seconds in (0, 30]")
        return cls(host.strip(), method, port, count, float(timeout))


def summarize(rtts: Sequence[float | None]) -> dict[str, float]:
    """Metrics from one round: an RTT in ms per probe, None for a lost one."""
    got = [r for r in rtts if r is not None]
    metrics: dict[str, float] = {
        "loss_pct": round(100.0 * (len(rtts) - len(got)) / len(rtts), 2) if rtts else 100.0,
        "up": 1 if got else 0,
    }
    if got:
        metrics["rtt_ms"] = round(sum(got) / len(got), 3)
        diffs = [abs(b - a) for a, b in itertools.pairwise(got)]
        metrics["jitter_ms"] = round(sum(diffs) / len(diffs), 3) if diffs else 0.0
    return metrics


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def open_icmp_socket() -> tuple[socket.socket, bool] | None:
    """An ICMP socket and whether it is raw (replies carry the IP header), or None when not permitted."""
    for sock_type, raw in ((socket.SOCK_RAW, True), (socket.SOCK_DGRAM, False)):
        try:
            return socket.socket(socket.AF_INET, sock_type, socket.IPPROTO_ICMP), raw
        except PermissionError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES, errno.EPROTONOSUPPORT):
                continue
            raise
    return None


def icmp_ping(host: str, count: int, timeout_s: float, sock: tuple[socket.socket, bool]) -> list[float | None]:
    """Send `count` ICMP echo requests one after another; RTT in ms per request, None when lost."""
    s, raw = sock
    addr = socket.gethostbyname(host)
    ident = os.getpid() & 0xFFFF
    rtts: list[float | None] = []
    for seq in range(count):
        payload = struct.pack("!d", time.perf_counter()) + b"ioc-probe"
        header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, seq) + payload
        sent = time.perf_counter()
        s.sendto(packet, (addr, 0))
        deadline = sent + timeout_s
        rtt = None
        while (left := deadline - time.perf_counter()) > 0:
            ready, _, _ = select.select([s], [], [], left)
            if not ready:
                break
            data, peer = s.recvfrom(2048)
            if raw:
                data = data[(data[0] & 0x0F) * 4 :]
            if len(data) < 8 or peer[0] != addr:
                continue
            icmp_type, _, _, reply_id, reply_seq = struct.unpack("!BBHHH", data[:8])
            # A datagram socket's kernel rewrites the id, so only the raw socket can check it.
            if icmp_type == 0 and reply_seq == seq and (not raw or reply_id == ident):
                rtt = (time.perf_counter() - sent) * 1000
                break
        rtts.append(rtt)
    return rtts


def tcp_ping(host: str, port: int, count: int, timeout_s: float) -> list[float | None]:
    """Time `count` TCP connects (SYN to SYN-ACK); a refused connect still answered, so it counts."""
    rtts: list[float | None] = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            rtts.append((time.perf_counter() - started) * 1000)
        except ConnectionRefusedError:
            rtts.append((time.perf_counter() - started) * 1000)
        except OSError:
            rtts.append(None)
    return rtts


def probe_link(target: LinkTarget) -> tuple[dict[str, float], str]:
    """One round against the link's far end: the metrics and the method used."""
    if target.method in ("auto", "icmp"):
        sock = open_icmp_socket()
        if sock is not None:
            try:
                return summarize(icmp_ping(target.host, target.count, target.timeout_s, sock)), "icmp"
            except socket.gaierror:
                return summarize([None] * target.count), "icmp"
            finally:
                sock[0].close()
        if target.method == "icmp":
            raise ProbeConfigError(
                f"{target.host}: ICMP is not permitted to this process (run as root, grant CAP_NET_RAW, or "
                "widen net.ipv4.ping_group_range); use method: tcp"
            )
    return summarize(tcp_ping(target.host, target.port, target.count, target.timeout_s)), "tcp"
