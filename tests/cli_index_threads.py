#!/usr/bin/python3
"""`raiiaf index --threads N`: the rows are the same whatever the number of
threads reading files (one writer stores them in path order), and the
option is checked."""

import json
import os
import shutil
import sqlite3
import unittest

from clitest import CLI, IMAGE, LATENT, CliCase, run  # noqa: F401


class IndexThreads(CliCase):
    def setUp(self):
        super().setUp()
        self.lib = self.p("lib")
        os.makedirs(os.path.join(self.lib, "sub"))
        for i in range(70):  # more than the 64 below which one thread is used by default
            out = os.path.join(self.lib, "sub" if i % 2 else "", "f%02d.raiiaf" % i)
            if i < 2:
                self.ok("create", "-o", out, "--image", IMAGE, "--latent", "lat=" + LATENT, "--prompt",
                        "a fox %d" % i, "--seed", str(i), "--tag", "t%d" % (i % 3), "--no-env", "-q")
            else:
                shutil.copyfile(os.path.join(self.lib, "sub" if i % 2 else "", "f%02d.raiiaf" % (i % 2)), out)

    def rows(self, db):
        """Every row of the files table but indexed_at, read with Python's sqlite3."""
        con = sqlite3.connect(db)
        try:
            cols = [r[1] for r in con.execute("PRAGMA table_info(files)") if r[1] != "indexed_at"]
            files = con.execute("SELECT %s FROM files ORDER BY id" % ", ".join(cols)).fetchall()
            tags = con.execute("SELECT file_id, tag FROM tags ORDER BY file_id, tag").fetchall()
            tens = con.execute("SELECT * FROM tensors ORDER BY file_id, name").fetchall()
            return files, tags, tens
        finally:
            con.close()

    def test_same_rows_any_thread_count(self):
        dbs = []
        for n in ("1", "2", "0"):
            db = self.p("lib%s.db" % n)
            out = self.ok("index", "--db", db, "--threads", n, self.lib)
            self.assertIn("70 files seen: 70 added", out)
            dbs.append(db)
        first = self.rows(dbs[0])
        self.assertEqual(len(first[0]), 70)
        self.assertEqual(len(first[1]), 70)   # one tag each
        self.assertEqual(len(first[2]), 70)   # one tensor each
        for db in dbs[1:]:
            self.assertEqual(self.rows(db), first)
        a = run("search", "--db", dbs[0], "--json")
        b = run("search", "--db", dbs[1], "--json")
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(a.stdout, b.stdout)
        self.assertEqual(len([json.loads(x) for x in a.stdout.splitlines()]), 70)

    def test_bad_thread_count(self):
        for bad in ("65", "-1", "x"):
            r = run("index", "--db", self.p("x.db"), "--threads", bad, self.lib)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(b"--threads", r.stderr)
        self.assertFalse(os.path.exists(self.p("x.db")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
