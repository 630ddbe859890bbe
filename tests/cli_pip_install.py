"""`pip install ./python` and `pip wheel ./python` as a Python user runs them:
in a fresh `python3 -m venv --system-site-packages`, offline (Debian 12's
pip, setuptools and wheel), with no RAIIAF_LIBRARY and no prior CMake build.
setup.py must build libraiiaf itself with CMake and bundle it; the installed
package must then load its own copy and write and read a file from any folder.

The sources are copied to a temporary folder first, so the build starts from
nothing (no stale build/ to pick up) and the checkout is left untouched.
Builds the library once (a minute or two on 2 cores); the wheel reuses it."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(ROOT, "tests", "data")
# Not needed to build the library: the tests' data, fuzz corpora, docs, builds.
SKIP_TOP = {".git", "tests", "fuzz", "docs", "demo-out"}


def clean_env(home):
    """An environment as a user's shell would have: no RAIIAF_*, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAIIAF_", "PYTHON", "PIP_", "VIRTUAL_ENV", "LD_PRELOAD", "ASAN_"))}
    env.update(HOME=home, PIP_DISABLE_PIP_VERSION_CHECK="1", CMAKE_BUILD_PARALLEL_LEVEL="2",
               PIP_NO_INPUT="1")
    # No network: pip must need nothing but what Debian installed.
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    return env


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class PipInstall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="raiiaf-pip-")
        cls.src = os.path.join(cls.tmp, "src")
        os.mkdir(cls.src)
        for name in os.listdir(ROOT):
            if name in SKIP_TOP or name.startswith("build"):
                continue
            p = os.path.join(ROOT, name)
            ign = shutil.ignore_patterns("build*", "__pycache__", "*.egg-info")
            if os.path.isdir(p):
                shutil.copytree(p, os.path.join(cls.src, name), ignore=ign)
            else:
                shutil.copy(p, cls.src)
        cls.venv = os.path.join(cls.tmp, "venv")
        cls.env = clean_env(cls.tmp)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", cls.venv],
                       check=True, env=cls.env, timeout=300)
        cls.pip = os.path.join(cls.venv, "bin", "pip")
        cls.py = os.path.join(cls.venv, "bin", "python")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def pip_run(self, *args):
        r = subprocess.run([self.pip, *args], cwd=self.tmp, env=self.env, capture_output=True,
                           text=True, timeout=900)
        self.assertEqual(r.returncode, 0, "pip %s failed:\n%s\n%s"
                         % (" ".join(args), r.stdout[-4000:], r.stderr[-4000:]))
        return r

    def test_install_then_wheel(self):
        pkg = os.path.join(self.src, "python")
        r = self.pip_run("install", "-v", "--no-index", pkg)  # -v: show setup.py's output
        self.assertIn("raiiaf: bundled", r.stdout + r.stderr)

        # From an unrelated folder, nothing pointing at the sources or a build.
        elsewhere = os.path.join(self.tmp, "elsewhere")
        os.mkdir(elsewhere)
        script = r"""
import os, sys, numpy as np, raiiaf
from raiiaf import _lib
venv = os.path.realpath(sys.prefix)
assert os.path.realpath(raiiaf.__file__).startswith(venv + os.sep), raiiaf.__file__
assert os.path.realpath(_lib.path).startswith(venv + os.sep), _lib.path
assert os.path.basename(_lib.path) == "libraiiaf.so", _lib.path
image = open(sys.argv[1], "rb").read()
noise = np.arange(4 * 8 * 8, dtype=np.float32).reshape(1, 4, 8, 8) / 7.0
raiiaf.write("cat.raiiaf", image=image, latents={"initial_noise": noise},
             model="SDXL", prompt="a cat", seed=42, steps=30)
with raiiaf.open("cat.raiiaf") as f:
    f.verify()
    assert f.image_bytes == image
    assert np.array_equal(np.asarray(f.latents["initial_noise"]), noise)
    mi = f.metadata["raiiaf_metadata"]["model_info"]
    assert mi["prompt"] == "a cat", mi
print(os.path.realpath(_lib.path))
"""
        image = os.path.join(DATA, "sd-webui.webp")
        r = subprocess.run([self.py, "-c", script, image], cwd=elsewhere, env=self.env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        installed = r.stdout.strip().splitlines()[-1]
        self.assertTrue(os.path.exists(os.path.join(elsewhere, "cat.raiiaf")))
        with open(installed, "rb") as fh:
            installed_so = fh.read()
        self.assertEqual(installed_so[:4], b"\x7fELF")

        # The wheel: a platform wheel (machine code inside) carrying the same library.
        dist = os.path.join(self.tmp, "dist")
        self.pip_run("wheel", "--no-index", "--no-deps", pkg, "-w", dist)
        wheels = [w for w in os.listdir(dist) if w.startswith("raiiaf-")]
        self.assertEqual(len(wheels), 1, os.listdir(dist))
        # Machine code inside (not -any), called through ctypes (any Python 3).
        self.assertRegex(wheels[0], r"-py3-none-linux_[a-z0-9_]+\.whl$")
        with zipfile.ZipFile(os.path.join(dist, wheels[0])) as z:
            names = z.namelist()
            self.assertIn("raiiaf/libraiiaf.so", names)
            self.assertIn("raiiaf/__init__.py", names)
            so = z.read("raiiaf/libraiiaf.so")
        self.assertEqual(sha256(so), sha256(installed_so))

        # RAIIAF_LIBRARY still names the library to bundle instead of building one.
        mine = os.path.join(self.tmp, "mine", "libraiiaf.so")
        os.mkdir(os.path.dirname(mine))
        shutil.copyfile(installed, mine)
        dist2 = os.path.join(self.tmp, "dist2")
        env = dict(self.env, RAIIAF_LIBRARY=mine)
        r = subprocess.run([self.pip, "wheel", "-v", "--no-index", "--no-deps", pkg, "-w", dist2],
                           cwd=self.tmp, env=env, capture_output=True, text=True, timeout=600)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-4000:])
        self.assertIn("raiiaf: bundled %s" % os.path.realpath(mine), r.stdout + r.stderr)
        # ... and a wrong one is an error naming it, not a silent fallback.
        env["RAIIAF_LIBRARY"] = mine + ".missing"
        r = subprocess.run([self.pip, "wheel", "-v", "--no-index", "--no-deps", pkg, "-w", dist2],
                           cwd=self.tmp, env=env, capture_output=True, text=True, timeout=600)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("RAIIAF_LIBRARY=%s does not exist" % env["RAIIAF_LIBRARY"], r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
