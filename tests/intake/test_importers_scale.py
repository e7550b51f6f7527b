"""A 50,000-row export is streamed: rows arrive before the file has been read, and memory
stays small however large the file is (issue 6, item 5). No timing assertions."""

import io
import tracemalloc

import pytest

from intake.importers import detect_format, parse

ROWS = 50_000
HEADER = b"Group,Title,Username,Password,URL,Notes,TOTP,Icon,Last Modified,Created\r\n"
# About 600 bytes a row, so the file (about 30 MB) dwarfs the memory bound below.
NOTE = "Line of notes that a previous provider kept. " * 10


class CountingFile(io.FileIO):
    """A file that counts the bytes the parser has taken from the disk."""

    bytes_read = 0

    def readinto(self, buffer) -> int:
        count = super().readinto(buffer)
        self.bytes_read += count or 0
        return count

    def readall(self) -> bytes:
        data = super().readall()
        self.bytes_read += len(data)
        return data


@pytest.fixture(scope="module")
def large_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "keepassxc-50000.csv"
    with path.open("wb") as file:
        file.write(HEADER)
        for number in range(ROWS):
            file.write(
                (
                    f'"Root/Clients/Client {number % 300}","Server {number}","admin{number}",'
                    f'"Fake-Pass-{number:06d}!","https://host{number}.example",'
                    f'"{NOTE}\r\nrow {number}","","0","2024-01-01T00:00:00Z",'
                    '"2023-01-01T00:00:00Z"\r\n'
                ).encode()
            )
    return path


def test_the_first_row_arrives_long_before_the_file_is_read(large_export):
    raw = CountingFile(large_export)
    size = large_export.stat().st_size
    with io.BufferedReader(raw) as upload:
        assert detect_format(upload) == "keepassxc_csv"
        rows = parse(upload, format="keepassxc_csv")

        first = next(rows)
        read_for_the_first_row = raw.bytes_read
        count = 1 + sum(1 for _row in rows)

    assert (first.row_number, first.name, first.secret) == (2, "Server 0", "Fake-Pass-000000!")
    assert read_for_the_first_row < size / 50
    assert count == ROWS
    assert raw.bytes_read >= size


def test_peak_memory_stays_small_while_parsing_50000_rows(large_export):
    size = large_export.stat().st_size
    errors = 0
    with large_export.open("rb") as upload:
        tracemalloc.start()
        try:
            for row in parse(upload, format="keepassxc_csv"):
                errors += len(row.errors)
                last = row.row_number
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert (errors, last) == (0, ROWS + 1)
    assert size > 25 * 1024 * 1024
    # Generous: a few chunks of text and one row at a time, far below the file's size.
    assert peak < 4 * 1024 * 1024
