"""Who can reach a port: the addresses its listening sockets are bound to, from the kernel's table.

A server's word about where it listens is not proof (DynamoDB Local's jar binds every interface
whatever one asks). The kernel's socket tables (Linux: /proc/net/tcp and /proc/net/tcp6) are:
`up` and `status` read them to say which local part is reachable from the network, and the tests
read them to check every port the running system opens.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_LISTEN = "0A"
THIS_MACHINE_ONLY = "this machine only"


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket: the address it is bound to, its port and its inode."""

    address: IPAddress
    port: int
    inode: str

    @property
    def loopback_only(self) -> bool:
        """Reachable from this machine only: 127.0.0.0/8, ::1, or IPv4 loopback mapped in IPv6."""
        mapped = getattr(self.address, "ipv4_mapped", None)
        return bool((mapped or self.address).is_loopback)

    @property
    def everywhere(self) -> bool:
        return self.address.is_unspecified


def _address(hex_address: str) -> IPAddress:
    """The kernel writes addresses as 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def listeners(tables: Iterable[Path] = TABLES) -> list[Listener] | None:
    """Every listening TCP socket of this network namespace; None where the tables do not exist
    (not Linux), so callers can say the reach is unknown rather than guess."""
    found: list[Listener] = []
    readable = False
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN:
                address, port = fields[1].rsplit(":", 1)
                found.append(Listener(_address(address), int(port, 16), fields[9]))
    return found if readable else None


def socket_inodes(pid: int) -> set[str]:
    """Inodes of the sockets a process holds open (its own, or any process's as root)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listeners_of(pids: Iterable[int]) -> list[Listener]:
    """The listening sockets the given processes hold."""
    inodes = set().union(*(socket_inodes(pid) for pid in pids))
    return [listener for listener in listeners() or [] if listener.inode in inodes]


def reach(port: int, found: list[Listener] | None) -> str:
    """In words, who can reach `port`: this machine only, or from where else."""
    if found is None:
        return "reach unknown (no /proc/net/tcp to read)"
    bound = [listener for listener in found if listener.port == port]
    if not bound:
        return "reach unknown (not listening)"
    if all(listener.loopback_only for listener in bound):
        return THIS_MACHINE_ONLY
    if any(listener.everywhere for listener in bound):
        return "REACHABLE FROM THE NETWORK (every interface)"
    others = sorted({str(listener.address) for listener in bound if not listener.loopback_only})
    return f"REACHABLE FROM THE NETWORK (bound to {', '.join(others)})"
