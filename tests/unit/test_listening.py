"""Reading the kernel's table of listening sockets: addresses, loopback, and reach in words."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

from local_runner.infra.listening import THIS_MACHINE_ONLY, Listener, listeners, reach

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"  # noqa: E501


def _row(local: str, state: str, inode: str) -> str:
    return (
        f"   0: {local} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000"
        f"     0        0 {inode} 1 0 100 0 0 10 0\n"
    )


def test_listening_sockets_are_read_with_their_addresses_and_ports(tmp_path: Path) -> None:
    # GIVEN a tcp table (127.0.0.1:8001 listening, 0.0.0.0:1883 listening, one connection) and a
    # tcp6 table (::ffff:127.0.0.1:8002 and [::]:8883 listening)
    tcp, tcp6 = tmp_path / "tcp", tmp_path / "tcp6"
    tcp.write_text(
        HEADER
        + _row("0100007F:1F41", "0A", "11")
        + _row("00000000:075B", "0A", "12")
        + _row("0100007F:D431", "01", "13")
    )
    tcp6.write_text(
        HEADER
        + _row("0000000000000000FFFF00000100007F:1F42", "0A", "14")
        + _row("00000000000000000000000000000000:22B3", "0A", "15")
    )
    # WHEN they are read
    found = listeners([tcp, tcp6])
    # THEN each listening socket is there, the established connection is not
    assert found == [
        Listener(ip_address("127.0.0.1"), 8001, "11"),
        Listener(ip_address("0.0.0.0"), 1883, "12"),
        Listener(ip_address("::ffff:127.0.0.1"), 8002, "14"),
        Listener(ip_address("::"), 8883, "15"),
    ]
    assert [listener.loopback_only for listener in found] == [True, False, True, False]
    assert reach(8001, found) == THIS_MACHINE_ONLY
    assert reach(8002, found) == THIS_MACHINE_ONLY
    assert reach(1883, found) == "REACHABLE FROM THE NETWORK (every interface)"
    assert reach(9999, found) == "reach unknown (not listening)"


def test_a_port_bound_to_one_network_address_names_it() -> None:
    found = [
        Listener(ip_address("127.0.0.1"), 8000, "1"),
        Listener(ip_address("192.0.2.7"), 8000, "2"),
    ]
    assert reach(8000, found) == "REACHABLE FROM THE NETWORK (bound to 192.0.2.7)"


def test_without_the_tables_the_reach_is_unknown(tmp_path: Path) -> None:
    assert listeners([tmp_path / "absent"]) is None
    assert reach(8001, None).startswith("reach unknown")


def test_this_machine_s_own_table_is_readable() -> None:
    # The tests run on Linux (CI and here): the real tables parse
    assert listeners() is not None
