"""raiiaf.index() and raiiaf.search() (python/raiiaf/index.py over
src/index/): the rows they give agree with what the CLI's `search --json`
prints for the same database, and with the files' own generation records."""

import json
import os
import subprocess

import numpy as np
import pytest

import raiiaf

# The keys `raiiaf search --json` prints (cli/cmd_search.c).
CLI_KEYS = ["path", "model", "model_hash", "prompt", "negative_prompt", "seed", "steps", "sampler", "scheduler",
            "cfg_scale", "width", "height", "format", "tool", "digest", "signature", "signature_key", "created", "tags",
            "tensors"]


@pytest.fixture
def library(tmp_path):
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    made = {}
    for i in range(12):
        p = lib / ("sub" if i % 2 else "") / ("f%02d.raiiaf" % i)
        seed = 2 ** 64 - 1 if i == 5 else i * 1000
        raiiaf.write(str(p), latents={"latent": np.full((1, 4, 8, 8), i, dtype=np.float32)},
                     prompt="a %s in the snow, picture %d" % ("fox" if i % 3 == 0 else "cat", i),
                     model="model-%s" % ("A" if i % 2 else "B"), seed=seed, steps=20 + i, cfg_scale=7.5,
                     tags=["all"] + (["third"] if i % 3 == 0 else []), env=False)
        made[os.path.realpath(str(p))] = (i, seed)
    (lib / "broken.raiiaf").write_bytes(b"not a raiiaf file")
    return lib, made


def cli_rows(cli, db, *args):
    r = subprocess.run([cli, "search", "--db", str(db), "--json"] + list(args), capture_output=True)
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_index_stats_and_problems(library, tmp_path):
    lib, made = library
    seen = []
    st = raiiaf.index(str(lib), tmp_path / "x.sqlite", threads=2, problems=lambda p, m: seen.append((p, m)))
    assert (st["seen"], st["added"], st["failed"], st["unchanged"]) == (13, 12, 1, 0)
    assert len(seen) == 1 and seen[0][0].endswith("broken.raiiaf") and "skipped" in seen[0][1]
    st = raiiaf.index([lib], tmp_path / "x.sqlite", threads=1)
    assert (st["unchanged"], st["added"], st["failed"]) == (12, 0, 1)
    assert st["seconds"] >= 0


def test_search_matches_cli(library, tmp_path, cli):
    lib, made = library
    db = tmp_path / "lib.sqlite"
    raiiaf.index([lib], db)
    for filters, args in [({}, []), ({"words": ["fox"]}, ["fox"]), ({"words": "sno* picture"}, ["sno*", "picture"]),
                          ({"model": "model-a"}, ["--model", "model-a"]), ({"seed": 2 ** 64 - 1}, ["--seed", str(2 ** 64 - 1)]),
                          ({"tags": ["all", "third"]}, ["--tag", "all", "--tag", "third"]), ({"limit": 3}, ["--limit", "3"])]:
        mine = raiiaf.search(db, **filters)
        theirs = cli_rows(cli, db, *args)
        assert [{k: r[k] for k in CLI_KEYS} for r in mine] == theirs, filters
    # ...and with the files' own records (what raiiaf.write was given)
    rows = raiiaf.search(db)
    assert sorted(r["path"] for r in rows) == sorted(made)
    for r in rows:
        i, seed = made[r["path"]]
        assert r["seed"] == seed and r["steps"] == 20 + i and r["cfg_scale"] == 7.5
        assert r["model"] == "model-%s" % ("A" if i % 2 else "B")
        assert r["tensors"] == [{"name": "latent", "dtype": "float32", "shape": [1, 4, 8, 8]}]
        assert r["size"] == os.path.getsize(r["path"])
    assert [r["path"] for r in raiiaf.search(db, words=["fox"])] == sorted(p for p, (i, _) in made.items() if i % 3 == 0)
    assert raiiaf.search(db, fields=["path", "seed"], limit=1)[0].keys() == {"path", "seed"}
    assert len(raiiaf.search(db, newest_first=True, offset=10)) == 2


def test_signature_state_indexed(library, tmp_path, cli):
    lib, made = library
    key = tmp_path / "k.pem"
    target = sorted(made)[3]
    assert subprocess.run([cli, "keygen", "-o", str(key)], capture_output=True).returncode == 0
    r = subprocess.run([cli, "sign", target, "--key", str(key)], capture_output=True)
    assert r.returncode == 0, r.stderr
    import re
    key_id = re.search(rb"signed by ([0-9a-f]{16})", r.stdout + r.stderr).group(1).decode()
    db = tmp_path / "s.sqlite"
    raiiaf.index([lib], db)
    valid = raiiaf.search(db, signature="valid")
    assert [(x["path"], x["signature_key"]) for x in valid] == [(target, key_id)]
    assert [{k: x[k] for k in CLI_KEYS} for x in valid] == cli_rows(cli, db, "--signature", "valid")
    assert len(raiiaf.search(db, signature="none")) == len(made) - 1
    assert raiiaf.search(db, signature="signed") == valid
    assert all(x["created"] for x in raiiaf.search(db))  # file_info.created of every file
    # "unsigned" (Signature.state's word) is the index's "none"
    assert raiiaf.search(db, signature="unsigned") == raiiaf.search(db, signature="none")
    with pytest.raises(raiiaf.ArgumentError, match="signature: expected"):
        raiiaf.search(db, signature="unsgined")


def test_row_json_put_rows_same_as_index(library, tmp_path):
    lib, made = library
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    raiiaf.index([lib], a)
    rows = [raiiaf.index_row_json(p) for p in sorted(made)]
    assert rows[0]["tensors"][0]["raw_size"] == 4 * 4 * 8 * 8
    raiiaf.index_put_rows(b, rows)
    keys = [k for k in raiiaf.search(a)[0] if k not in ("id", "indexed_at")]
    assert raiiaf.search(a, fields=keys) == raiiaf.search(b, fields=keys)


def test_errors(library, tmp_path):
    lib, _ = library
    with pytest.raises(raiiaf.NotFoundError, match="cannot open the database"):
        raiiaf.search(tmp_path / "missing.sqlite")
    with pytest.raises(raiiaf.NotFoundError, match="No such file"):
        raiiaf.index([tmp_path / "no-such-folder"], tmp_path / "y.sqlite")
    db = tmp_path / "z.sqlite"
    raiiaf.index([lib], db)
    with pytest.raises(raiiaf.ArgumentError, match="unknown field 'nope'"):
        raiiaf.search(db, fields=["nope"])
    with pytest.raises(raiiaf.ArgumentError):
        raiiaf.index([lib], db, threads=65)
    row = raiiaf.index_row_json(next(iter(sorted(os.path.join(r, f) for r, _, fs in os.walk(lib) for f in fs
                                           if f.startswith("f")))))
    row["seed"] = "1"
    with pytest.raises(raiiaf.ArgumentError, match="/seed"):
        raiiaf.index_put_rows(db, [row])
    with pytest.raises(raiiaf.JSONError):
        raiiaf.index_put_rows(db, ["{"])
