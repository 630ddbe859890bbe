"""raiiaf.dask on a real distributed.LocalCluster (2 worker processes) over a
few thousand files: the records are the rows `raiiaf index` (C, cli/cmd_index.c)
writes into its SQLite database for the same files."""

import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

import numpy as np
import pytest

import raiiaf

distributed = pytest.importorskip("distributed", reason="Dask distributed is not installed (python3-distributed)")
import raiiaf.dask as rdask  # noqa: E402

N = 2000


@pytest.fixture(scope="module")
def library():
    # tmpfs when there is one: each write is fsynced, and 2000 fsyncs on a disk take a while
    import pathlib
    root = pathlib.Path(tempfile.mkdtemp(prefix="raiiaf-dask-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    try:
        yield _fill(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _fill(root):
    png = None
    for k in range(N):
        sub = root / ("d%d" % (k % 7))
        sub.mkdir(exist_ok=True)
        lat = {"final": np.full((1, 4, 4, 4), k, dtype=np.float32)}
        if k % 3 == 0:
            lat["initial_noise"] = np.arange(64, dtype=np.float16).reshape(1, 4, 4, 4)
        raiiaf.write(str(sub / ("f%05d.raiiaf" % k)), image=png, latents=lat, model="m%d" % (k % 5),
                     prompt="a %s number %d" % ("fox" if k % 2 else "cat", k),
                     negative_prompt=None if k % 4 else "blurry", seed=k if k % 10 else None, steps=20 + k % 3,
                     sampler="euler", cfg_scale=7.5 if k % 2 else 5, tags=["t%d" % (k % 3), "all"], env=False)
    return root


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def index_rows(cli, root, db):
    r = subprocess.run([cli, "index", str(root), "--db", db], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    try:
        cols = ", ".join(rdask.COLUMNS)
        rows = {}
        for row in con.execute("SELECT id, %s FROM files" % cols):
            rec = dict(zip(rdask.COLUMNS, row[1:]))
            rec["tags"] = sorted(t for (t,) in con.execute("SELECT tag FROM tags WHERE file_id = ?", (row[0],)))
            rec["tensors"] = sorted(
                ({"name": n, "dtype": d, "shape": json.loads(s), "codec": c, "raw_size": r, "stored_size": st}
                 for n, d, s, c, r, st in con.execute("SELECT name, dtype, shape, codec, raw_size, stored_size "
                                                      "FROM tensors WHERE file_id = ?", (row[0],))),
                key=lambda t: t["name"])
            rows[rec["path"]] = rec
        return rows
    finally:
        con.close()


def test_cluster_records_equal_the_index(tmp_path, library, client, cli):
    want = index_rows(cli, library, str(tmp_path / "lib.sqlite"))
    assert len(want) == N
    bag = rdask.records(os.path.realpath(str(library)), partition_size=250)
    assert bag.npartitions == N // 250
    got = bag.compute()
    assert len(got) == N
    workers = {w["name"] for w in client.scheduler_info()["workers"].values()}
    assert len(workers) == 2
    for rec in got:
        rec["tensors"] = sorted(rec["tensors"], key=lambda t: t["name"])
        w = dict(want[rec["path"]])
        assert rec == w, rec["path"]
    # filtering on the cluster, with latents brought back
    foxes = rdask.records(str(library / "d1"), latents=["final"]).filter(lambda r: "fox" in r["prompt"]).compute()
    expect = sorted(p for p, r in want.items() if "/d1/" in p and "fox" in r["prompt"])
    assert sorted(r["path"] for r in foxes) == expect
    for r in foxes:
        k = int(os.path.basename(r["path"])[1:6])
        assert np.array_equal(r["final"], np.full((1, 4, 4, 4), k, dtype=np.float32))


def test_bad_file_kept_or_raised(tmp_path, client):
    good = str(tmp_path / "good.raiiaf")
    raiiaf.write(good, latents={"x": np.zeros(3, dtype=np.float32)}, env=False)
    bad = tmp_path / "bad.raiiaf"
    bad.write_bytes(b"not a raiiaf file at all" * 10)
    out = rdask.records([good, str(bad)], errors="keep").compute()
    assert out[0]["path"] == good and "error" not in out[0]
    assert out[1]["path"] == str(bad) and "NotRaiiafError" in out[1]["error"]
    with pytest.raises(raiiaf.Error):
        rdask.records([good, str(bad)]).compute()


def test_dataframe(tmp_path, client):
    for k in range(4):
        raiiaf.write(str(tmp_path / ("f%d.raiiaf" % k)), latents={"x": np.zeros(2, np.float32)}, prompt="p%d" % k,
                     seed=k, tags=["a", "b"], env=False)
    df = rdask.dataframe(str(tmp_path)).compute()
    assert list(df["seed"]) == [0, 1, 2, 3] and list(df["prompt"]) == ["p0", "p1", "p2", "p3"]
    assert set(df["tags"]) == {"a,b"}
