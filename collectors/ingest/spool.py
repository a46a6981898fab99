"""An append-only local spool of decoded batches, for while the store is away; replayed in order.

`spool.log` holds records `[u32 length][u32 crc32][data]`, each fsynced before the messages in it
are acknowledged (a spooled batch is durable). `spool.offset` holds how far replay has committed, so a
crash during replay repeats at most one batch (whose samples the store then skips as duplicates).
A torn record at the end (a crash while appending, before the ack) is ignored: its messages were not
acknowledged and come back from the broker.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">II")


class Spool:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / "spool.log"
        self.offset_path = self.directory / "spool.offset"
        self._offset = self._read_offset()
        self._repair()

    def _read_offset(self) -> int:
        try:
            return int(self.offset_path.read_text().strip() or 0)
        except (FileNotFoundError, NotADirectoryError):  # no spool there (yet)
            return 0

    def _repair(self) -> None:
        """Cut a torn tail left by a crash mid-append, so later records stay readable."""
        if self._offset > self.size():
            self.clear()
            return
        end = self._offset
        for end, _ in self.pending():  # noqa: B007 - only the last good offset is wanted
            pass
        if end < self.size():
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                os.fsync(handle.fileno())

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):  # no spool there (yet)
            return 0

    def pending_bytes(self) -> int:
        return max(self.size() - self._offset, 0)

    def has_pending(self) -> bool:
        return self.size() > self._offset

    def append(self, data: bytes) -> int:
        """Append one record durably; returns the bytes written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        record = _HEAD.pack(len(data), zlib.crc32(data)) + data
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, record)
            os.fsync(fd)
        finally:
            os.close(fd)
        return len(record)

    def pending(self) -> Iterator[tuple[int, bytes]]:
        """Records not yet replayed, in order, each with the offset just past it."""
        try:
            handle = self.path.open("rb")
        except (FileNotFoundError, NotADirectoryError):  # no spool there (yet)
            return
        with handle:
            handle.seek(self._offset)
            position = self._offset
            while True:
                head = handle.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    break
                length, crc = _HEAD.unpack(head)
                data = handle.read(length)
                if len(data) < length or zlib.crc32(data) != crc:
                    log.warning("spool %s: torn record at offset %d ignored", self.path, position)
                    break
                position += _HEAD.size + length
                yield position, data

    def mark_replayed(self, offset: int) -> None:
        """Record that everything before `offset` is in the store; empties the spool when all is."""
        if offset >= self.size():
            self.clear()
            return
        tmp = self.offset_path.with_suffix(".tmp")
        tmp.write_text(str(offset))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self.offset_path)
        self._offset = offset

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.offset_path.unlink(missing_ok=True)
        self._offset = 0
