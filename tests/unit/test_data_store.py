"""ampsim.data.store: data root, checksum verification, downloads (never over the network)."""

from __future__ import annotations

import hashlib
import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from ampsim.data import store
from ampsim.errors import DataError


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download a test did not arrange fails loudly instead of touching the network."""

    def refuse(url, dest, timeout=None):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(store, "_download", refuse)
    monkeypatch.delenv("AMPSIM_OFFLINE", raising=False)


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    return tmp_path


def test_data_root_prefers_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path / "d"))
    assert store.data_root() == tmp_path / "d"


def test_a_blank_data_root_or_a_relative_cache_home_is_not_a_folder_named_so(monkeypatch, tmp_path):
    """AMPSIM_DATA=" " was a relative folder named " " (data looked for, and downloaded, there); a relative
    XDG_CACHE_HOME is ignored, as the XDG spec asks and the recordings cache did (the data root took it)."""
    monkeypatch.setenv("AMPSIM_DATA", "  ")
    with pytest.raises(DataError, match=r"^AMPSIM_DATA='  ': blank; set it to a folder holding mnist/, sst/, qm9/, "
                                        r"or unset it$"):
        store.fetch("sst/dev.txt")
    monkeypatch.delenv("AMPSIM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    assert store.data_root() == Path.home() / ".cache" / "ampsim"


def test_data_root_falls_back_to_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("AMPSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert store.data_root() == tmp_path / "ampsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert store.data_root() == Path.home() / ".cache" / "ampsim"


def test_a_home_folder_that_is_not_there_is_one_line_not_a_traceback(monkeypatch):
    """pathlib's "RuntimeError: Could not determine home directory." for AMPSIM_DATA=~nosuchuser/data, and for no
    AMPSIM_DATA at all where the user has no home folder and $HOME is unset (a container's --user)."""
    import pwd

    monkeypatch.setenv("AMPSIM_DATA", "~nosuchuser-of-ampsim/data")
    with pytest.raises(DataError, match=r"^AMPSIM_DATA=~nosuchuser-of-ampsim/data: its '~' names no home folder; "
                                        r"give the folder's full path$"):
        store.fetch("sst/dev.txt")
    monkeypatch.delenv("AMPSIM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", "~nosuchuser-of-ampsim/cache")  # relative: ignored (the XDG spec)
    assert store.data_root() == Path.home() / ".cache" / "ampsim"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME")

    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(DataError, match=r"^no data folder: AMPSIM_DATA is not set, and its default, ~/.cache/ampsim, "
                                        r"is in no home folder \(no \$HOME, and none for this user\); set AMPSIM_DATA"):
        store.fetch("mnist/train-images-idx3-ubyte.gz")


def test_registry_covers_the_datasets():
    for rel in ("mnist/train-images-idx3-ubyte.gz", "mnist/t10k-labels-idx1-ubyte.gz",
                "sst/train.txt", "sst/dev.txt", "sst/test.txt",
                "qm9/molecules_train.json.gz", "qm9/molecules_valid.json.gz"):
        spec = store.REGISTRY[rel]
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
    assert all(s.url.startswith("http") for s in store.REGISTRY["mnist/train-images-idx3-ubyte.gz"].sources)
    assert any(s.member == "trainDevTestTrees_PTB/trees/dev.txt" for s in store.REGISTRY["sst/dev.txt"].sources)
    assert not store.REGISTRY["qm9/molecules_train.json.gz"].sources


def test_fetch_existing_registered_file_is_verified(root, monkeypatch):
    data = b"hello"
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(data)))
    (root / "toy").mkdir()
    (root / "toy" / "a.bin").write_bytes(data)
    assert store.fetch("toy/a.bin") == root / "toy" / "a.bin"


def _toy(root: Path, monkeypatch, data: bytes = b"hello") -> Path:
    """A registered file ``toy/a.bin`` holding ``data``, fetched (verified) once."""
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(data)))
    path = root / "toy" / "a.bin"
    path.parent.mkdir()
    path.write_bytes(data)
    store.fetch("toy/a.bin")
    return path


def test_verification_is_cached_by_size_and_mtime(root, monkeypatch):
    path = _toy(root, monkeypatch)
    calls = []
    real = hashlib.file_digest
    monkeypatch.setattr(store.hashlib, "file_digest", lambda *a: calls.append(1) or real(*a))
    store.fetch("toy/a.bin")
    assert calls == []  # served from the cache
    path.write_bytes(b"HELLO")  # same size, new content and mtime
    os.utime(path, ns=(1, 1))
    with pytest.raises(DataError):
        store.fetch("toy/a.bin")
    assert calls


def test_checksum_mismatch_is_reported(root, monkeypatch):
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(b"good")))
    (root / "toy").mkdir()
    (root / "toy" / "a.bin").write_bytes(b"bad")
    with pytest.raises(DataError) as err:
        store.fetch("toy/a.bin")
    msg = str(err.value)
    assert msg.startswith(f"corrupt {root / 'toy' / 'a.bin'}: sha256 mismatch")
    assert "delete it and re-run or re-download" in msg and "\n" not in msg
    # verify=False skips the check
    assert store.fetch("toy/a.bin", verify=False).read_bytes() == b"bad"


def test_real_registered_name_with_wrong_content(root):
    (root / "mnist").mkdir()
    (root / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    with pytest.raises(DataError, match="corrupt .*train-labels-idx1-ubyte.gz: sha256 mismatch"):
        store.fetch("mnist/train-labels-idx1-ubyte.gz")


def test_unregistered_files_only_need_to_exist(root):
    (root / "qm9").mkdir()
    (root / "qm9" / "molecules_train.json").write_text("[]")
    assert store.fetch("qm9/molecules_train.json").is_file()
    with pytest.raises(DataError, match=r"missing .*qm9/other.json: not a known download; put the file"):
        store.fetch("qm9/other.json")


def test_missing_file_download_fails(root):
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    msg = str(err.value)
    assert msg.startswith(f"missing {root / 'mnist' / 'train-images-idx3-ubyte.gz'}: download failed (")
    assert "network disabled in tests" in msg
    assert msg.endswith("put the file there or set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/")
    assert "\n" not in msg
    assert not (root / "mnist").exists()  # no partial files, nor the folder made for them, left behind


def test_a_failed_download_into_a_mistyped_root_leaves_no_folders(tmp_path, monkeypatch):
    """A mistyped AMPSIM_DATA got ``<root>/mnist/`` made, and left, wherever it pointed."""
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path / "typo" / "data"))
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "mnist").mkdir()  # a folder that was there stays, even empty
    with pytest.raises(DataError, match="download failed"):
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert not (tmp_path / "typo").exists()
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path / "keep"))
    with pytest.raises(DataError, match="download failed"):
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert (tmp_path / "keep" / "mnist").is_dir()


def test_when_every_source_fails_the_one_line_names_each_and_nothing_else_is_said(root, monkeypatch, caplog):
    """Each failed source was a WARNING line before the error line (four lines for a missing dataset)."""
    import logging

    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(b"x"), (
        store.Source("http://one.invalid/a.bin"), store.Source("http://two.invalid/a.bin"))))
    with caplog.at_level(logging.WARNING), pytest.raises(DataError) as err:
        store.fetch("toy/a.bin")
    assert ("download failed (one.invalid: network disabled in tests (http://one.invalid/a.bin); two.invalid: "
            "network disabled in tests (http://two.invalid/a.bin))") in str(err.value)
    assert caplog.records == []


def test_missing_file_without_source(root):
    with pytest.raises(DataError, match=r"missing .*molecules_valid.json.gz: no public download.*AMPSIM_DATA"):
        store.fetch("qm9/molecules_valid.json.gz")


def test_offline_mode(root, monkeypatch):
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    with pytest.raises(DataError, match="downloads are off"):
        store.fetch("sst/dev.txt")


@pytest.mark.parametrize("depth", [1, 2])
def test_offline_a_data_root_not_there_is_said_of_the_root_not_of_the_file(tmp_path, monkeypatch, depth):
    """AMPSIM_DATA naming no folder at all (a typo, a disk not mounted) was "missing <root>/mnist/...: downloads are
    off", as if one file were missing from a good root; it is said of the root, as online a root that cannot be made
    is. A root that is there but lacks the file keeps the file's line."""
    base = tmp_path.joinpath(*["nothing"] * depth)
    monkeypatch.setenv("AMPSIM_DATA", str(base))
    monkeypatch.setenv("AMPSIM_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert str(err.value) == (f"{base}: the data root does not exist (downloads are off, AMPSIM_OFFLINE=1, so nothing "
                              "was fetched); set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/")
    assert not os.path.exists(tmp_path / "nothing")
    base.mkdir(parents=True)
    with pytest.raises(DataError, match=rf"^missing {base / 'mnist' / 'train-images-idx3-ubyte.gz'}: downloads are "
                                        r"off \(AMPSIM_OFFLINE=1\); put the file there"):
        store.fetch("mnist/train-images-idx3-ubyte.gz")


def test_download_success_is_verified_and_atomic(root, monkeypatch):
    data = b"payload"
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(
        _sha(data), (store.Source("http://mirror1.invalid/a.bin"), store.Source("http://mirror2.invalid/a.bin"))))
    seen = []

    def fake(url, dest, timeout=None):
        seen.append(url)
        if "mirror1" in url:
            raise OSError("connection refused")
        assert dest.parent == root / "toy" and dest.name != "a.bin"  # temp file beside the target
        dest.write_bytes(data)

    monkeypatch.setattr(store, "_download", fake)
    path = store.fetch("toy/a.bin")
    assert path.read_bytes() == data
    assert seen == ["http://mirror1.invalid/a.bin", "http://mirror2.invalid/a.bin"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.bin"]


def test_download_with_wrong_checksum_is_rejected(root, monkeypatch):
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(
        _sha(b"good"), (store.Source("http://mirror.invalid/a.bin"),)))
    monkeypatch.setattr(store, "_download", lambda url, dest, timeout=None: dest.write_bytes(b"evil"))
    with pytest.raises(DataError, match=r"download failed \(downloaded file has the wrong sha256\)"):
        store.fetch("toy/a.bin")
    assert not (root / "toy").exists()  # nothing left, the folder made for it included


def test_archive_member_download_extracts_siblings(root, monkeypatch):
    files = {"train.txt": b"(2 a)\n", "dev.txt": b"(3 b)\n"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"pkg/trees/{name}", data)
    url = "http://archive.invalid/pkg.zip"
    for name, data in files.items():
        monkeypatch.setitem(store.REGISTRY, f"toy/{name}", store.FileSpec(
            _sha(data), (store.Source(url, member=f"pkg/trees/{name}"),)))
    calls = []

    def fake(u, dest, timeout=None):
        calls.append(u)
        dest.write_bytes(buf.getvalue())

    monkeypatch.setattr(store, "_download", fake)
    assert store.fetch("toy/train.txt").read_bytes() == files["train.txt"]
    assert (root / "toy" / "dev.txt").read_bytes() == files["dev.txt"]  # same download
    assert store.fetch("toy/dev.txt").read_bytes() == files["dev.txt"]
    assert calls == [url]
    assert sorted(p.name for p in (root / "toy").iterdir()) == ["dev.txt", "train.txt"]


def test_archive_without_member(root, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("other.txt", b"x")
    monkeypatch.setitem(store.REGISTRY, "toy/a.txt", store.FileSpec(
        _sha(b"x"), (store.Source("http://a.invalid/z.zip", member="a.txt"),)))
    monkeypatch.setattr(store, "_download", lambda u, dest, timeout=None: dest.write_bytes(buf.getvalue()))
    with pytest.raises(DataError, match=r"download failed \(archive has no member"):
        store.fetch("toy/a.txt")


def test_an_archive_with_damaged_compressed_data_falls_back_to_the_next_source(root, monkeypatch):
    """zlib.error from a damaged deflate stream escaped as a traceback; the next source was never tried."""
    data = bytes(range(256)) * 64
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", data)
    damaged = bytearray(buf.getvalue())
    start = damaged.index(b"a.bin") + len(b"a.bin")  # the local header's name: the compressed data follows
    for i in range(start + 10, start + 60):
        damaged[i] ^= 0x5A
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(data), (
        store.Source("http://broken.invalid/z.zip", member="a.bin"), store.Source("http://good.invalid/a.bin"))))
    tried = []

    def fake(url, dest, timeout=None):
        tried.append(url)
        dest.write_bytes(bytes(damaged) if url.endswith(".zip") else data)

    monkeypatch.setattr(store, "_download", fake)
    assert store.fetch("toy/a.bin").read_bytes() == data
    assert tried == ["http://broken.invalid/z.zip", "http://good.invalid/a.bin"]


def test_explicit_root_and_bad_relpath(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    assert store.fetch("x.txt", root=tmp_path) == tmp_path / "x.txt"
    with pytest.raises(ValueError):
        store.fetch("../x.txt", root=tmp_path)
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="not a regular file"):
        store.fetch("d", root=tmp_path)


_REAL_DOWNLOAD = store._download  # (the autouse fixture replaces it in every test)


def test_a_download_that_trickles_gives_up_at_its_deadline_and_tries_the_next_source(root, monkeypatch):
    """A server sending a byte every few seconds never hit the per-read timeout: the download hung."""
    import time

    class Trickle:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, n):
            time.sleep(0.01)
            return b"x"

    good = b"good"
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(good), (
        store.Source("http://slow.invalid/a.bin"), store.Source("http://fast.invalid/a.bin"))))
    monkeypatch.setattr(store, "_download", _REAL_DOWNLOAD)  # the network itself faked below
    monkeypatch.setattr(store, "DOWNLOAD_DEADLINE_S", 0.2)
    monkeypatch.setattr(store.urllib.request, "urlopen",
                        lambda req, timeout=None: Trickle() if "slow" in req.full_url else io.BytesIO(good))
    t0 = time.monotonic()
    assert store.fetch("toy/a.bin").read_bytes() == good
    assert time.monotonic() - t0 < 5


def test_an_edit_that_restores_the_size_and_mtime_is_verified_again(root, monkeypatch):
    """Keyed on size and mtime, the cached digest passed a same-size edit whose mtime was put back (os.utime)."""
    path = _toy(root, monkeypatch)
    before = path.stat()
    time.sleep(0.02)  # (past a coarse file-system clock's tick: the edit's ctime differs)
    path.write_bytes(b"HELLO")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(DataError, match="sha256 mismatch"):
        store.fetch("toy/a.bin")


@pytest.mark.parametrize("to", ["nowhere.bin", "a.bin"])  # dangling, or a loop
def test_a_link_to_nothing_in_the_files_place_is_named_and_not_downloaded_over(root, monkeypatch, to):
    """It was "missing ...: downloads are off" (a link to a disk not mounted, taken for a file never fetched), and
    online the download replaced the link."""
    monkeypatch.setitem(store.REGISTRY, "toy/a.bin", store.FileSpec(_sha(b"x"), (store.Source("http://a.invalid"),)))
    monkeypatch.setattr(store, "_download", lambda url, dest, timeout=None: Path(dest).write_bytes(b"x"))
    (root / "toy").mkdir()
    link = root / "toy" / "a.bin"
    link.symlink_to(to)
    with pytest.raises(DataError) as err:
        store.fetch("toy/a.bin")
    why = "a symbolic link loop" if to == link.name else "a symbolic link that leads to nothing"
    assert str(err.value) == (f"missing {link}: it is {why} (to {to!r}); put the file there or set AMPSIM_DATA to a "
                              "folder holding mnist/, sst/, qm9/")
    assert os.readlink(link) == to and os.listdir(root / "toy") == ["a.bin"]


@pytest.mark.parametrize("kind", ["file", "link"])
@pytest.mark.parametrize("where", ["root", "mnist"])
def test_a_file_or_a_link_to_nothing_in_a_folders_place_is_named_not_downloaded_into(tmp_path, monkeypatch, kind,
                                                                                     where):
    """A data root that is a file tried every source ("[Errno 20] Not a directory", three times over)."""
    base = tmp_path / "root"
    blocked = base if where == "root" else base / "mnist"
    blocked.parent.mkdir(exist_ok=True)
    if kind == "file":
        blocked.write_text("a file\n")
    else:
        blocked.symlink_to(blocked.name)  # a loop
    monkeypatch.setenv("AMPSIM_DATA", str(base))
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    named = f"{blocked} (the data root)" if where == "root" else str(blocked)
    why = "a file, not a folder" if kind == "file" else f"a symbolic link loop (to {blocked.name!r})"
    assert str(err.value).startswith(f"missing {base / 'mnist' / 'train-images-idx3-ubyte.gz'}: {named} is {why}; ")


@pytest.mark.parametrize("offline", ["1", ""])
def test_a_data_root_that_cannot_be_entered_is_said_so_not_missing(tmp_path, monkeypatch, offline):
    """A data root the user may not enter (mode 700, another user's) was "missing ...: downloads are off" offline,
    where the file may well be there, and online a PermissionError out of fetch (the API's caller got no DataError,
    the CLI's line had no way out); it is the line an unreadable file gets. (As root nothing is denied: the file
    system's refusal is made here.)"""
    import errno

    locked = tmp_path / "theirs"
    (locked / "mnist").mkdir(parents=True)
    monkeypatch.setenv("AMPSIM_DATA", str(locked))
    monkeypatch.setenv("AMPSIM_OFFLINE", offline)
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if str(os.fspath(path)).startswith(f"{locked}{os.sep}"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "lstat", lambda path, **kwargs: stat(path, follow_symlinks=False))
    wanted = locked / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert str(err.value) == (f"{wanted}: permission denied; put the file there or set AMPSIM_DATA to a folder "
                              "holding mnist/, sst/, qm9/")
    monkeypatch.undo()
    assert os.listdir(locked / "mnist") == []


def _deny_writes_under(monkeypatch, folder: Path) -> list[str]:
    """Make creating a folder or a file under ``folder`` a PermissionError, as a parent of mode 555 does to a user
    who is not root (as root nothing is denied: the refusal is made here); returns the downloads asked for."""
    import errno

    def denying(real):
        def call(path, *args, **kwargs):
            if os.fspath(path).startswith(f"{folder}{os.sep}"):
                raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "mkdir", denying(os.mkdir))
    monkeypatch.setattr(os, "open", denying(os.open))
    asked: list[str] = []
    monkeypatch.setattr(store, "_download", lambda url, dest, timeout=None: asked.append(url))
    return asked


def test_a_missing_data_root_that_cannot_be_created_is_said_once_not_per_mirror(tmp_path, monkeypatch):
    """AMPSIM_DATA naming a folder not there, in a parent the user may not write, was "download failed (<mirror>:
    [Errno 13] Permission denied: '<root>'; ...)" for each of MNIST's three mirrors: the data root's fault, said three
    times as the mirrors'. It is one cause, said of the data root, and no download is tried."""
    parent = tmp_path / "readonly"
    parent.mkdir()
    monkeypatch.setenv("AMPSIM_DATA", str(parent / "data"))
    asked = _deny_writes_under(monkeypatch, parent)
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert str(err.value) == (f"{parent / 'data'}: the data root does not exist and cannot be created there "
                              "(permission denied); set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/")
    assert asked == []
    monkeypatch.setenv("AMPSIM_DATA", str(parent / "a" / "data"))  # the folder refused is named where not the root
    with pytest.raises(DataError, match=rf"^{parent / 'a' / 'data'}: the data root does not exist and cannot be "
                                        rf"created there \({parent / 'a'}: permission denied\); set AMPSIM_DATA"):
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    monkeypatch.undo()
    assert os.listdir(parent) == []


@pytest.mark.parametrize("made", [False, True])
def test_a_data_root_that_cannot_be_written_is_said_once_not_per_mirror(tmp_path, monkeypatch, made):
    """A data root that is there but read-only (a shared copy lacking a file) was the same cause once per mirror:
    making ``mnist/``, or the download's temporary file in it, is refused alike whichever mirror is tried."""
    monkeypatch.setenv("AMPSIM_DATA", str(tmp_path))
    if made:
        (tmp_path / "mnist").mkdir()
    asked = _deny_writes_under(monkeypatch, tmp_path)
    wanted = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    with pytest.raises(DataError) as err:
        store.fetch("mnist/train-images-idx3-ubyte.gz")
    assert str(err.value) == (f"missing {wanted}: it cannot be downloaded into {wanted.parent} (permission denied); "
                              "put the file there or set AMPSIM_DATA to a folder holding mnist/, sst/, qm9/")
    assert asked == []
    monkeypatch.undo()
    assert os.listdir(tmp_path) == (["mnist"] if made else [])
