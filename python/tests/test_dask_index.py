"""raiiaf.dask.index on a real distributed.LocalCluster (2 worker processes)
over 2000 files: the database it writes is the one `raiiaf index` (the CLI,
run here as a separate program) writes for the same files -- the same
`raiiaf search --json` output and the same rows in every table, ids
included -- before and after files change, and for a damaged file."""

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile

import numpy as np
import pytest

import raiiaf
from conftest import DATA, make_png

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (python3-distributed)")
import raiiaf.dask as rdask  # noqa: E402

N = 2000
U64_MAX = 2 ** 64 - 1


def _distinct(folder):
    """A few dozen files whose rows differ in every column the index has."""
    out = []
    for k in range(36):
        lat = {"final": np.full((1, 4, 4, 4), k, dtype=np.float32)}
        if k % 3 == 0:
            lat["initial_noise"] = np.arange(64, dtype=np.float16).reshape(1, 4, 4, 4)
        if k % 5 == 0:
            lat["mask"] = np.arange(12, dtype=np.uint8).reshape(3, 4)
        p = os.path.join(folder, "w%02d.raiiaf" % k)
        raiiaf.write(p, image=make_png(8 + k % 4, 6, seed=k) if k % 4 == 1 else None, latents=lat,
                     model="model-%d" % (k % 5) if k % 7 else None, prompt="a %s number %d" % ("fox" if k % 2 else "cat", k),
                     negative_prompt=None if k % 4 else "blurry", seed=U64_MAX - k if k % 9 == 0 else k,
                     steps=20 + k % 3, sampler="euler" if k % 2 else "dpmpp_2m", scheduler="karras" if k % 3 else None,
                     cfg_scale=7.5 if k % 2 else 5, tags=["t%d" % (k % 3), "all"] if k % 6 else None,
                     codec="raw" if k % 8 == 0 else "auto", env=False)
        out.append(p)
    for f in sorted(glob.glob(os.path.join(DATA, "format1", "*.raiiaf"))):  # format 1.0 rows
        p = os.path.join(folder, "f1-" + os.path.basename(f))
        shutil.copyfile(f, p)
        out.append(p)
    return out


def _fill(root):
    """N files in a few folders (copies of the distinct ones under their own
    names: each is its own row) and one damaged file."""
    seeds = _distinct(str(root))
    for k in range(N - len(seeds)):
        sub = os.path.join(str(root), "d%d" % (k % 5), "e%d" % (k % 3))
        os.makedirs(sub, exist_ok=True)
        shutil.copyfile(seeds[k % len(seeds)], os.path.join(sub, "c%05d.raiiaf" % k))
    with open(os.path.join(str(root), "d1", "damaged.raiiaf"), "wb") as fh:
        fh.write(b"this is not a raiiaf file" * 8)
    os.symlink(seeds[0], os.path.join(str(root), "link.raiiaf"))  # not followed, as raiiaf index


@pytest.fixture(scope="module")
def library():
    # tmpfs when there is one: 2000 fsynced writes on a disk take a while
    root = tempfile.mkdtemp(prefix="raiiaf-dask-index-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        _fill(root)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def client():
    try:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                           silence_logs=40)
    except (OSError, RuntimeError) as e:
        pytest.skip("a distributed.LocalCluster cannot start here (%s)" % e)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def cli_index(cli, root, db):
    return subprocess.run([cli, "index", root, "--db", db], capture_output=True, text=True)


def search_json(cli, db):
    r = subprocess.run([cli, "search", "--db", db, "--json"], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout


def table_rows(db):
    """Every row of every table, as Python's sqlite3 reads them (files
    without indexed_at, the time of writing)."""
    con = sqlite3.connect(db)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(files)") if r[1] != "indexed_at"]
        return {
            "files": con.execute("SELECT %s FROM files ORDER BY id" % ", ".join(cols)).fetchall(),
            "tags": con.execute("SELECT file_id, tag FROM tags ORDER BY file_id, tag").fetchall(),
            "tensors": con.execute("SELECT * FROM tensors ORDER BY file_id, name").fetchall(),
            "prompts": con.execute("SELECT rowid, prompt, negative_prompt FROM prompts ORDER BY rowid").fetchall(),
            "meta": con.execute("SELECT * FROM meta ORDER BY key").fetchall(),
        }
    finally:
        con.close()


def assert_same_db(cli, a, b):
    sa, sb = search_json(cli, a), search_json(cli, b)
    assert sa == sb
    ta, tb = table_rows(a), table_rows(b)
    for t in ta:
        assert ta[t] == tb[t], t


def stderr_problems(text):
    return sorted(line for line in text.splitlines() if ": skipped: " in line)


def test_same_database_as_raiiaf_index(tmp_path, library, client, cli):
    plain, dask_db = str(tmp_path / "plain.sqlite"), str(tmp_path / "dask.sqlite")
    r = cli_index(cli, library, plain)
    assert r.returncode == 3, r.stderr  # the damaged file
    problems = []
    res = rdask.index(library, dask_db, scheduler=client, batch=128, on_problem=lambda p, m: problems.append((p, m)))
    assert_same_db(cli, plain, dask_db)
    n_rows = len(table_rows(plain)["files"])
    assert n_rows == N  # every file but the damaged one and the link
    assert (res.seen, res.added, res.updated, res.unchanged, res.removed, res.failed) == (N + 1, N, 0, 0, 0, 1)
    assert res.computed == N + 1
    damaged = os.path.join(os.path.realpath(library), "d1", "damaged.raiiaf")
    assert [p for p, _ in problems] == [damaged] and res.problems == problems
    # reported as raiiaf index reports it
    assert stderr_problems(r.stderr) == ["raiiaf: %s: skipped: %s" % (damaged, problems[0][1])]
    # the cluster did the reading
    assert len(client.scheduler_info()["workers"]) == 2
    # a format 1 file, a seed of 2^64-1 and the image sizes made it through
    tab = table_rows(dask_db)["files"]
    assert any(row[4] == "1.0" for row in tab) and any(row[9] == -1 for row in tab)


def test_incremental_as_raiiaf_index(tmp_path, library, client, cli):
    # a copy of a part of the library, changed between runs the same way for both indexers
    root = tmp_path / "lib"
    shutil.copytree(os.path.join(library, "d2"), str(root / "d2"))
    shutil.copytree(os.path.join(library, "d1"), str(root / "d1"))
    root = str(root)
    plain, dask_db = str(tmp_path / "plain.sqlite"), str(tmp_path / "dask.sqlite")
    first = rdask.index(root, dask_db, scheduler=client)
    cli_index(cli, root, plain)
    seen = first.seen
    assert first.failed == 1 and first.added == seen - 1
    again = rdask.index(root, dask_db, scheduler=client)
    # nothing recomputed but the damaged file, which has no row (raiiaf index retries it too)
    assert (again.unchanged, again.computed, again.added, again.updated, again.removed, again.failed) == \
        (seen - 1, 1, 0, 0, 0, 1)
    assert_same_db(cli, plain, dask_db)
    # a file deleted, a file rewritten, a file added, the damaged file repaired, a file damaged
    files = sorted(glob.glob(os.path.join(root, "d2", "*", "*.raiiaf")))
    os.unlink(files[0])
    raiiaf.write(files[1], latents={"new": np.ones(3, np.float64)}, prompt="rewritten", seed=99, env=False)
    raiiaf.write(os.path.join(root, "d2", "added.raiiaf"), latents={"x": np.zeros(2, np.int32)}, tags=["new"],
                 env=False)
    shutil.copyfile(files[3], os.path.join(root, "d1", "damaged.raiiaf"))
    with open(files[2], "r+b") as fh:
        fh.write(b"XXXX")  # the signature gone: unreadable, and its old row removed
    third = rdask.index(root, dask_db, scheduler=client)
    r = cli_index(cli, root, plain)
    assert r.returncode == 3
    assert (third.added, third.updated, third.removed, third.failed, third.computed) == (2, 1, 2, 1, 4)
    assert third.unchanged == third.seen - 4
    assert [p for p, _ in third.problems] == [files[2]]
    assert_same_db(cli, plain, dask_db)
    con = sqlite3.connect(dask_db)
    try:
        assert con.execute("SELECT count(*) FROM files WHERE path = ?", (files[0],)).fetchone() == (0,)
        assert con.execute("SELECT prompt, seed FROM files WHERE path = ?", (files[1],)).fetchone() == ("rewritten", 99)
    finally:
        con.close()
    # rows of other folders are left alone, as by raiiaf index
    other = tmp_path / "other"
    other.mkdir()
    raiiaf.write(str(other / "o.raiiaf"), latents={"x": np.zeros(2, np.float32)}, env=False)
    rdask.index(str(other), dask_db, scheduler=client)
    fourth = rdask.index(root, dask_db, scheduler=client)
    assert fourth.removed == 0 and fourth.computed == fourth.failed == 1  # only the file still damaged
    con = sqlite3.connect(dask_db)
    try:
        assert con.execute("SELECT count(*) FROM files WHERE path LIKE ?", (str(other) + "/%",)).fetchone() == (1,)
    finally:
        con.close()


def _register_rftest():
    """An fsspec filesystem "rftest://" that is the local one under another
    name: a URL scheme raiiaf treats as remote (as s3://), whose files this
    test can change.  Registered in each process that resolves it."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    class RfTest(LocalFileSystem):
        protocol = "rftest"

        @classmethod
        def _strip_protocol(cls, path):
            path = str(path)
            return super()._strip_protocol(path[len("rftest://"):] if path.startswith("rftest://") else path)

    fsspec.register_implementation("rftest", RfTest, clobber=True)


def test_fsspec_urls(tmp_path, library, client, cli):
    """fsspec URLs: listed through fsspec, read by ranges on the workers
    (into a sparse temporary file there); rows keyed by the URL."""
    pytest.importorskip("fsspec", reason="fsspec is not installed (python3-fsspec)")
    _register_rftest()
    client.run(_register_rftest)
    src = os.path.realpath(os.path.join(library, "d3"))
    url = "rftest://" + src
    db, plain = str(tmp_path / "url.sqlite"), str(tmp_path / "plain.sqlite")
    res = rdask.index(url, db, scheduler=client)
    cli_index(cli, src, plain)
    got, want = table_rows(db)["files"], table_rows(plain)["files"]
    assert res.added == len(want) > 100 and res.failed == 0
    # the same rows, but for the path (the URL) and the mtime (fsspec's, in seconds as a float)
    for g, w in zip(got, want):
        assert g[1] == "rftest://" + w[1]
        assert abs(g[3] - w[3]) < 10 ** 6
        assert g[:1] + g[2:3] + g[4:] == w[:1] + w[2:3] + w[4:]
    for t in ("tags", "tensors", "prompts"):
        assert table_rows(db)[t] == table_rows(plain)[t]
    again = rdask.index(url, db, scheduler=client)
    assert again.computed == 0 and again.unchanged == res.added
    victim = sorted(glob.glob(os.path.join(src, "*", "*.raiiaf")))[0]
    copy = tmp_path / "keep"
    shutil.copyfile(victim, str(copy))
    os.unlink(victim)
    try:
        gone = rdask.index(url, db, scheduler=client)
    finally:
        shutil.copyfile(str(copy), victim)
    assert gone.removed == 1 and gone.computed == 0


def test_errors(tmp_path, client):
    with pytest.raises(FileNotFoundError):
        rdask.index(str(tmp_path / "missing"), str(tmp_path / "x.sqlite"), scheduler=client)
    assert not os.path.exists(tmp_path / "x.sqlite")  # nothing written
    with pytest.raises(ValueError):
        rdask.index(str(tmp_path), str(tmp_path / "x.sqlite"), scheduler=client, batch=0)
    notdb = tmp_path / "not.sqlite"
    notdb.write_bytes(b"not a database" * 100)
    with pytest.raises(raiiaf.Error):
        rdask.index(str(tmp_path), str(notdb), scheduler=client)


def test_main_exit_status(tmp_path, capsys):
    """python3 -m raiiaf.dask index: usage errors, and a scheduler that is
    not there (exit 4 after --timeout)."""
    assert rdask.main(["index", "--db", "x.sqlite", str(tmp_path)]) == 2
    assert "no scheduler given" in capsys.readouterr().err
    assert rdask.main(["index", "--scheduler", "tcp://127.0.0.1:9", str(tmp_path)]) == 2
    assert rdask.main(["index", "--scheduler", "tcp://127.0.0.1:9", "--db", "x", "--bogus", str(tmp_path)]) == 2
    raiiaf.write(str(tmp_path / "a.raiiaf"), latents={"x": np.zeros(2, np.float32)}, env=False)
    rc = rdask.main(["index", "--scheduler", "tcp://127.0.0.1:9", "--timeout", "2", "--db",
                     str(tmp_path / "db.sqlite"), str(tmp_path)])
    assert rc == 4
    assert "tcp://127.0.0.1:9" in capsys.readouterr().err


def test_python_m(tmp_path, client, cli):
    """python3 -m raiiaf.dask index: the module run as __main__ sends the
    importable raiiaf._dask_index functions to the workers, not __main__'s."""
    import sys
    for k in range(5):
        raiiaf.write(str(tmp_path / ("m%d.raiiaf" % k)), latents={"x": np.full(3, k, np.float32)}, prompt="p%d" % k,
                     env=False)
    db, plain = str(tmp_path / "m.sqlite"), str(tmp_path / "plain.sqlite")
    r = subprocess.run([sys.executable, "-m", "raiiaf.dask", "index", "--scheduler", client.scheduler.address,
                        "--db", db, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "5 files seen: 5 added, 0 updated, 0 unchanged, 0 removed, 0 unreadable" in r.stdout
    cli_index(cli, str(tmp_path), plain)
    assert_same_db(cli, plain, db)
