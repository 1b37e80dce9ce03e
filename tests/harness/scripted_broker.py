"""An MQTT 3.1.1 broker for one client, scripted by a test at the level of packets.

It answers CONNECT, SUBSCRIBE and PINGREQ as a broker does; everything else is the test's: it
sends PUBLISH packets when told to, and hands the test every packet the client sent, in order
(`next_packet`). What a real client library puts on the wire, and in which order, can then be
checked exactly: a PUBACK that precedes another packet of the client was written before it.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
from dataclasses import dataclass
from typing import BinaryIO

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC = 1, 2, 3, 4, 5
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14


@dataclass(frozen=True)
class Packet:
    kind: int
    flags: int
    body: bytes

    @property
    def packet_id(self) -> int:
        """The packet identifier of a PUBACK or PUBREC (the first two bytes of its body)."""
        return int(struct.unpack("!H", self.body[:2])[0])

    @property
    def topic(self) -> str:
        """The topic of a PUBLISH."""
        (length,) = struct.unpack("!H", self.body[:2])
        return self.body[2 : 2 + length].decode()


def _remaining_length(size: int) -> bytes:
    encoded = bytearray()
    while True:
        size, digit = divmod(size, 128)
        encoded.append(digit | (128 if size else 0))
        if not size:
            return bytes(encoded)


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


class ScriptedBroker:
    """Listens on a free loopback port; one client connection at a time."""

    def __init__(self, wait_seconds: float = 10.0) -> None:
        self.wait_seconds = wait_seconds
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", self._server.getsockname()[1]
        self._connection: socket.socket | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._packets: queue.Queue[Packet | None] = queue.Queue()
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="scripted-broker", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._server.accept()
        except OSError:  # closed before a client came
            self._packets.put(None)
            return
        self._connection = connection
        reader: BinaryIO = connection.makefile("rb")
        try:
            while (packet := self._read(reader)) is not None:
                if packet.kind == CONNECT:
                    self._send(_packet(CONNACK << 4, b"\x00\x00"))
                    self._connected.set()
                elif packet.kind == SUBSCRIBE:
                    # granted QoS 1 for the one filter the client asked for
                    self._send(_packet(SUBACK << 4, packet.body[:2] + b"\x01"))
                    self._subscribed.set()
                elif packet.kind == PINGREQ:
                    self._send(_packet(PINGRESP << 4, b""))
                else:
                    self._packets.put(packet)
        except OSError:
            pass
        finally:
            self._packets.put(None)

    @staticmethod
    def _read(reader: BinaryIO) -> Packet | None:
        """The next packet, or None at the end of the connection."""
        first = reader.read(1)
        size, shift = 0, 0
        while first:
            digit = reader.read(1)
            if not digit:
                return None
            size += (digit[0] & 127) << shift
            shift += 7
            if not digit[0] & 128:
                body = reader.read(size)
                return Packet(first[0] >> 4, first[0] & 15, body) if len(body) == size else None
        return None

    def _send(self, data: bytes) -> None:
        assert self._connection is not None
        with self._send_lock:
            self._connection.sendall(data)

    def wait_until_subscribed(self) -> None:
        assert self._subscribed.wait(self.wait_seconds), "the client did not subscribe"

    def publish(self, topic: str, payload: bytes, packet_id: int, qos: int = 1) -> None:
        """A PUBLISH to the client, QoS 1 or 2."""
        encoded = topic.encode()
        body = struct.pack("!H", len(encoded)) + encoded + struct.pack("!H", packet_id) + payload
        self._send(_packet(PUBLISH << 4 | qos << 1, body))

    def next_packet(self) -> Packet:
        """The client's next packet other than CONNECT, SUBSCRIBE and PINGREQ."""
        packet = self._packets.get(timeout=self.wait_seconds)
        assert packet is not None, "the client closed its connection"
        return packet

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._server.close()
        self._thread.join(self.wait_seconds)
