"""Download, resume, verify and extract, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kws.data import SpeechCommandsDataModule
from kws.data.download import (
    Archive,
    ArchiveError,
    ChecksumError,
    DownloadError,
    download,
    download_and_extract,
    extract_tar,
    sha256_of,
)
from kws.data.layout import KEYWORDS, SILENCE, UNKNOWN
from kws.data.sources import DatasetNotFoundError
from kws.data.synthetic import generate

TIMEOUT = 5.0  # seconds; every network wait in these tests is bounded by it


def tar_gz(members: dict[str, bytes], folder: str = ".") -> bytes:
    """A tar.gz holding ``members`` (path -> bytes) under ``folder``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def data_set(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of a small generated Speech Commands tree (5 speakers: one of them validation,
    the fewest that leave no split the DataModule serves empty, with the official test set)."""
    return tree_files(generate(tmp_path_factory.mktemp("source") / "sc", speakers=5))


@pytest.fixture(scope="module")
def archive(data_set: dict[str, bytes]) -> bytes:
    return tar_gz(data_set)


@dataclass
class Server:
    """What the handler serves and how it misbehaves; it records every request's Range header."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut_first: bool = False  # close the first response half way through the body
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)


class Handler(http.server.BaseHTTPRequestHandler):
    state: Server

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        state = self.server.state
        state.ranges.append(self.headers.get("Range"))
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        requested = self.headers.get("Range")
        if requested and state.honour_range:
            start = int(requested.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if state.cut_first and len(state.ranges) == 1:
            self.wfile.write(body[start : len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = Server(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(TIMEOUT)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_and_extract_gives_the_tree_and_removes_the_archive(
    server, archive, data_set, tmp_path
):
    server.files["/sc.tar.gz"] = archive
    target = tmp_path / "speech_commands"
    download_and_extract(Archive(f"{server.url}/sc.tar.gz", sha256(archive)), target, TIMEOUT)
    assert tree_files(target) == data_set
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech_commands"]


def test_a_transfer_cut_half_way_resumes_with_a_range_request(server, archive, tmp_path):
    server.files["/sc.tar.gz"] = archive
    server.cut_first = True
    path = download(f"{server.url}/sc.tar.gz", sha256(archive), tmp_path / "sc.tar.gz", TIMEOUT)
    assert path.read_bytes() == archive
    assert server.ranges == [None, f"bytes={len(archive) // 2}-"]
    assert not (tmp_path / "sc.tar.gz.part").exists()


def test_a_server_that_ignores_range_is_read_again_from_the_start(server, archive, tmp_path):
    server.files["/sc.tar.gz"] = archive
    server.cut_first = True
    server.honour_range = False
    path = download(f"{server.url}/sc.tar.gz", sha256(archive), tmp_path / "sc.tar.gz", TIMEOUT)
    assert path.read_bytes() == archive
    assert len(server.ranges) == 2


def test_an_interrupted_download_keeps_its_part_and_the_next_run_resumes(server, archive, tmp_path):
    server.files["/sc.tar.gz"] = archive
    server.cut_first = True
    url, target = f"{server.url}/sc.tar.gz", tmp_path / "speech_commands"
    part = tmp_path / "sc.tar.gz.part"
    with pytest.raises(DownloadError, match=f"{part} keeps {len(archive) // 2:,} bytes"):
        download(url, sha256(archive), tmp_path / "sc.tar.gz", TIMEOUT, attempts=1)
    assert part.read_bytes() == archive[: len(archive) // 2]
    assert not target.exists() and not (tmp_path / "sc.tar.gz").exists()

    download_and_extract(Archive(url, sha256(archive)), target, TIMEOUT)
    assert server.ranges[-1] == f"bytes={len(archive) // 2}-"
    assert (target / "validation_list.txt").is_file() and not part.exists()


def test_a_wrong_checksum_extracts_nothing_and_deletes_the_download(server, archive, tmp_path):
    server.files["/sc.tar.gz"] = archive
    target = tmp_path / "speech_commands"
    wrong = sha256(b"something else")
    with pytest.raises(ChecksumError) as error:
        download_and_extract(Archive(f"{server.url}/sc.tar.gz", wrong), target, TIMEOUT)
    message = str(error.value)
    assert "sc.tar.gz" in message and wrong in message and sha256(archive) in message
    assert list(tmp_path.iterdir()) == [], "no archive, no part, no extracted folder"


def test_no_server_is_a_download_error_at_once(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(f"{server.url}/missing.tar.gz", "0" * 64, tmp_path / "x.tar.gz", TIMEOUT)
    assert server.ranges == [None], "a request that gets nothing is not retried"


@pytest.mark.parametrize(
    ("name", "kind", "problem"),
    [
        ("../evil.txt", tarfile.REGTYPE, "would land outside the target folder"),
        ("ok/../../evil.txt", tarfile.REGTYPE, "would land outside the target folder"),
        ("/tmp/evil.txt", tarfile.REGTYPE, "has an absolute path"),
        ("link", tarfile.SYMTYPE, "is a link to '../evil.txt'"),
        ("hard", tarfile.LNKTYPE, "is a link to '../evil.txt'"),
        ("device", tarfile.CHRTYPE, "is a device or pipe, not a file or folder"),
    ],
)
def test_a_member_that_would_escape_the_target_is_refused(tmp_path, name, kind, problem):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("yes/first.wav"), io.BytesIO(b""))
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = "../evil.txt"
        tar.addfile(info, io.BytesIO(b""))
    path = tmp_path / "work" / "bad.tar.gz"
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError) as error:
        extract_tar(path, tmp_path / "work" / "target")
    assert str(error.value) == f"{path}: member {name!r} {problem}; nothing was extracted"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["bad.tar.gz"]
    assert not (tmp_path / "evil.txt").exists()


def test_an_archive_with_one_top_folder_gives_its_content(tmp_path):
    path = tmp_path / "wrapped.tar.gz"
    path.write_bytes(tar_gz({"a/b.txt": b"b", "c.txt": b"c"}, folder="speech_commands_v0.02"))
    extract_tar(path, tmp_path / "out")
    assert tree_files(tmp_path / "out") == {"a/b.txt": b"b", "c.txt": b"c"}


def test_a_corrupt_archive_is_an_archive_error(tmp_path):
    path = tmp_path / "corrupt.tar.gz"
    path.write_bytes(tar_gz({"a.txt": b"a" * 10000})[:50])
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        extract_tar(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def official_test_set(data_set: dict[str, bytes]) -> dict[str, bytes]:
    """A stand-in for the 12-class test archive: a few clips in one folder per class."""
    clip = next(data for name, data in data_set.items() if name.startswith("yes/"))
    return {
        f"{name}/{i:08x}_nohash_0.wav": clip
        for name in [SILENCE, UNKNOWN, *KEYWORDS]
        for i in range(2)
    }


def test_prepare_data_downloads_both_archives_and_builds_the_cache(
    server, archive, data_set, tmp_path
):
    test_archive = tar_gz(official_test_set(data_set))
    server.files |= {"/sc.tar.gz": archive, "/test.tar.gz": test_archive}
    server.cut_first = True
    dm = SpeechCommandsDataModule(
        root=str(tmp_path / "data" / "speech_commands_v0.02"),
        archive_url=f"{server.url}/sc.tar.gz",
        archive_sha256=sha256(archive),
        test_archive_url=f"{server.url}/test.tar.gz",
        test_archive_sha256=sha256(test_archive),
    )
    dm.prepare_data()
    dm.setup()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        "cache", "speech_commands_test_set_v0.02", "speech_commands_v0.02",
    ]  # fmt: skip
    assert len(dm.datasets["test"]) == 24 and len(dm.datasets["train"]) > 0


@pytest.mark.parametrize("download_enabled", [True, False])
def test_a_data_set_that_cannot_be_had_names_the_folder_and_its_content(
    server, tmp_path, download_enabled
):
    root = tmp_path / "data" / "speech_commands_v0.02"
    dm = SpeechCommandsDataModule(
        root=str(root), download=download_enabled, archive_url=f"{server.url}/gone.tar.gz"
    )
    with pytest.raises(DatasetNotFoundError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert f"{root} is missing and" in message
    assert "validation_list.txt" in message and "data=synthetic" in message
    assert (
        "could not be downloaded (no network?): downloading http" in message
    ) == download_enabled
    assert ("data.download is false" in message) != download_enabled
    assert not root.exists()


def test_hashing_draws_no_progress_bar_off_a_terminal(tmp_path, capsys):
    # A checkpoint's or archive's hash in a log or a pipe is one result, not \r-drawn bars.
    path = tmp_path / "blob.bin"
    path.write_bytes(b"kws" * 100_000)
    assert sha256_of(path) == hashlib.sha256(b"kws" * 100_000).hexdigest()
    captured = capsys.readouterr()
    assert "verifying" not in captured.err + captured.out
