"""What the CLI tests of writers share (cli_trust.py, cli_concurrency.py,
cli_files.py): where the tool, the data and the shims are, running the
tool, and a test case with its own temporary folder.  Not a test itself
(CTest runs tests/cli_*.py).

CTest sets RAIIAF_CLI, RAIIAF_TEST_DATA, RAIIAF_KILL_SHIM (the LD_PRELOAD
crash-injection library), RAIIAF_IO_SHIM (the same without malloc
interposition: usable with ASan) and RAIIAF_SANITIZED ("1" in ASan builds)."""

import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
SHIM = os.environ.get("RAIIAF_KILL_SHIM", "")
IO_SHIM = os.environ.get("RAIIAF_IO_SHIM", "")
SANITIZED = os.environ.get("RAIIAF_SANITIZED", "0") in ("1", "ON", "TRUE", "true")
IMAGE = os.path.join(DATA, "sd-webui.webp")
LATENT = os.path.join(DATA, "npy", "f32_1x4x8x8_v1.npy")


def run(*args, env=None, timeout=120):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([CLI, *map(str, args)], capture_output=True, timeout=timeout, env=e)


class CliCase(unittest.TestCase):
    """A test case with a fresh folder (PREFIX names it) and the tool."""

    PREFIX = "raiiaf-cli-"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix=self.PREFIX)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def ok(self, *args, env=None):
        r = run(*args, env=env)
        self.assertEqual(r.returncode, 0, (args, r.stdout, r.stderr))
        return r.stdout.decode()

    def shim_env(self, **kv):
        """The environment that preloads the crash-injection shim with its
        settings kv.  Under ASan the shim without malloc interposition (ASan
        keeps the allocator; the io shim only counts and fails I/O)."""
        if SANITIZED:
            opts = os.environ.get("ASAN_OPTIONS", "")
            env = {"LD_PRELOAD": IO_SHIM, "ASAN_OPTIONS": (opts + ":" if opts else "") + "verify_asan_link_order=0"}
        else:
            env = {"LD_PRELOAD": SHIM}
        env.update({k: str(v) for k, v in kv.items()})
        return env

    def need_shim(self):
        if not os.path.exists(IO_SHIM if SANITIZED else SHIM):
            self.skipTest("the LD_PRELOAD shim was not built")
