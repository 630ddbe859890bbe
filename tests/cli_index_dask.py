"""`raiiaf index --dask SCHEDULER_ADDRESS`: the CLI hands the work to the
Python package (raiiaf.dask), whose workers read the files.  A
distributed.LocalCluster of 2 worker processes started here over 2000 files
made with `raiiaf create` and `raiiaf import`: the database is the one plain
`raiiaf index` writes (same `raiiaf search --json`, same rows in every
table), the summary counts and the damaged file's message are the same, and
a missing Python, package or dask.distributed is exit status 6."""

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

from clitest import CLI, DATA, LATENT, CliCase, run

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.normpath(os.path.join(HERE, "..", "python"))
LIB = os.path.join(os.path.dirname(os.path.abspath(CLI)), "libraiiaf.so")
SANITIZED = os.environ.get("RAIIAF_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
N = 2000

try:
    import distributed
except ImportError:
    distributed = None


def python_env():
    """What the Python side needs: this tree's package and library, this
    interpreter (/usr/bin/python3 has numpy), and under ASan the runtime
    preloaded, as for the package's own tests."""
    env = {"RAIIAF_PYTHON": sys.executable, "RAIIAF_LIBRARY": LIB, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": PYDIR + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    if SANITIZED:
        rt = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
        env.update({"LD_PRELOAD": rt, "ASAN_OPTIONS": "detect_leaks=0"})
    return env


def table_rows(db):
    con = sqlite3.connect(db)
    try:
        cols = [r[1] for r in con.execute("PRAGMA table_info(files)") if r[1] != "indexed_at"]
        return [con.execute("SELECT %s FROM files ORDER BY id" % ", ".join(cols)).fetchall(),
                con.execute("SELECT file_id, tag FROM tags ORDER BY file_id, tag").fetchall(),
                con.execute("SELECT * FROM tensors ORDER BY file_id, name").fetchall(),
                con.execute("SELECT rowid, prompt, negative_prompt FROM prompts ORDER BY rowid").fetchall()]
    finally:
        con.close()


def summary_counts(stdout):
    """'DB: N files seen: A added, ... U unreadable (...' -> the counts."""
    line = stdout.decode().strip().splitlines()[-1]
    return line.split(" files seen: ")[0].rsplit(" ", 1)[-1], line.split(" files seen: ")[1].split(" (")[0]


@unittest.skipIf(distributed is None, "Dask distributed is not installed (python3-distributed)")
class IndexDask(CliCase):
    PREFIX = "raiiaf-cli-dask-"

    @classmethod
    def setUpClass(cls):
        cls.env = python_env()
        # the worker processes load the same package and library the same way (spawned
        # workers get this environment, and this process's sys.path)
        os.environ.update(cls.env)
        sys.path.insert(0, PYDIR)
        try:
            cls.cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                   dashboard_address=None, silence_logs=40)
        except (OSError, RuntimeError) as e:
            raise unittest.SkipTest("a distributed.LocalCluster cannot start here (%s)" % e)
        cls.addr = cls.cluster.scheduler_address
        cls.root = tempfile.mkdtemp(prefix="raiiaf-cli-dask-lib-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        cls.make_library(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def make_library(cls, root):
        seeds = []
        for k in range(24):  # distinct rows, from the CLI's own writer
            p = os.path.join(root, "s%02d.raiiaf" % k)
            args = ["create", "-o", p, "--latent", "final=" + LATENT, "--prompt", "a %s number %d" % (
                "fox" if k % 2 else "cat", k), "--seed", str(k * 1000003), "--steps", str(20 + k % 4),
                    "--sampler", "euler", "--cfg-scale", str(4 + k % 5), "--tag", "t%d" % (k % 3), "-q"]
            if k % 3 == 0:
                args += ["--model", "model-%d" % k, "--negative-prompt", "blurry", "--scheduler", "karras"]
            if k % 4 == 0:
                args += ["--image", os.path.join(DATA, "sd-webui.png")]
            r = run(*args)
            assert r.returncode == 0, r.stderr
            seeds.append(p)
        for name in ("sd-webui.png", "comfyui.png", "forge.png", "sd-webui.jpg"):  # the "tool" column
            p = os.path.join(root, "imp-" + name + ".raiiaf")
            r = run("import", os.path.join(DATA, name), "-o", p, "-q")
            assert r.returncode == 0, r.stderr
            seeds.append(p)
        for k in range(N - len(seeds)):
            sub = os.path.join(root, "d%d" % (k % 4))
            os.makedirs(sub, exist_ok=True)
            shutil.copyfile(seeds[k % len(seeds)], os.path.join(sub, "c%05d.raiiaf" % k))
        with open(os.path.join(root, "d2", "damaged.raiiaf"), "wb") as fh:
            fh.write(b"\x89RAIIAF but not really" * 4)

    def dask(self, *args, env=None):
        e = dict(self.env)
        e.update(env or {})
        return run("index", "--dask", self.addr, *args, env=e, timeout=300)

    def test_same_database_as_plain_index(self):
        plain, viadask = self.p("plain.sqlite"), self.p("dask.sqlite")
        a = run("index", self.root, "--db", plain)
        b = self.dask("--db", viadask, self.root)
        self.assertEqual(a.returncode, 3, a.stderr)  # the damaged file, both times
        self.assertEqual(b.returncode, 3, b.stderr)
        self.assertEqual(a.stderr.decode().splitlines(), b.stderr.decode().splitlines())
        self.assertIn("damaged.raiiaf: skipped: ", b.stderr.decode())
        self.assertEqual(summary_counts(a.stdout), summary_counts(b.stdout))
        self.assertIn("%d files seen: %d added, 0 updated, 0 unchanged, 0 removed, 1 unreadable" % (N + 1, N),
                      b.stdout.decode())
        self.assertEqual(self.ok("search", "--db", plain, "--json"), self.ok("search", "--db", viadask, "--json"))
        self.assertEqual(table_rows(plain), table_rows(viadask))
        # again: nothing read on the cluster but the damaged file (no row: retried, as plain index does)
        c = self.dask("--db", viadask, self.root)
        self.assertEqual(c.returncode, 3, c.stderr)
        self.assertIn("%d unchanged, 0 removed, 1 unreadable" % N, c.stdout.decode())
        self.assertIn("1 read on the cluster)", c.stdout.decode())
        # -q: no messages, no summary; the status still says a file was unreadable
        d = self.dask("--db", viadask, "-q", self.root)
        self.assertEqual((d.returncode, d.stdout, d.stderr), (3, b"", b""))

    def test_missing_pieces_are_status_6(self):
        db = self.p("x.sqlite")
        r = self.dask("--db", db, self.root, env={"RAIIAF_PYTHON": self.p("no-such-python")})
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn(b"cannot run", r.stderr)
        empty = self.p("empty")
        os.mkdir(empty)
        r = self.dask("--db", db, self.root, env={"PYTHONPATH": empty, "PYTHONNOUSERSITE": "1"})
        # (when the package is also installed system-wide, it is found there: nothing to check)
        sys_has = subprocess.run([sys.executable, "-c", "import raiiaf"], capture_output=True,
                                 env={"PYTHONPATH": empty, "PYTHONNOUSERSITE": "1", "PATH": os.environ.get("PATH", "")}
                                 ).returncode == 0
        if not sys_has:
            self.assertEqual(r.returncode, 6, r.stderr)
            self.assertIn(b"the raiiaf Python package cannot be imported", r.stderr)
        # dask.distributed missing: a `distributed` that fails to import, first on the path
        fake = os.path.join(empty, "distributed")
        os.mkdir(fake)
        with open(os.path.join(fake, "__init__.py"), "w") as fh:
            fh.write("raise ImportError('simulated: no dask.distributed here')\n")
        r = self.dask("--db", db, self.root, env={"PYTHONPATH": empty + os.pathsep + PYDIR})
        self.assertEqual(r.returncode, 6, r.stderr)
        self.assertIn(b"dask.distributed is not installed", r.stderr)
        self.assertFalse(os.path.exists(db))

    def test_usage(self):
        r = run("index", "--dask")
        self.assertEqual(r.returncode, 2)
        r = run("index", "--dask", self.addr, self.root)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"no database given", r.stderr)
        r = self.dask("--db", self.p("x.sqlite"), self.p("missing"))
        self.assertEqual(r.returncode, 3)
        self.assertIn(b"missing: No such file or directory", r.stderr)


if __name__ == "__main__":
    unittest.main()
