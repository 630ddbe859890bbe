#!/usr/bin/python3
"""The environment record through the `raiiaf` tool: `raiiaf env`, `env show`,
`env diff`, create's --env/--no-env/--env-include, and the drift summary that
info and extract print on stderr.

Run by CTest with RAIIAF_CLI, RAIIAF_TEST_DATA and RAIIAF_NVML_STUB (a stand-in
for libnvidia-ml.so.1 reporting two fake GPUs).  Standard library only.
"""

import ctypes.util
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RAIIAF_CLI") or os.path.join(HERE, "..", "build", "raiiaf")
DATA = os.environ.get("RAIIAF_TEST_DATA") or os.path.join(HERE, "data")
STUB = os.environ.get("RAIIAF_NVML_STUB")
NPY = os.path.join(DATA, "npy", "f16_5.npy")
NO_NVML = "/nonexistent/libnvidia-ml.so.1"


def run(*args, nvml=NO_NVML, cwd=None):
    env = dict(os.environ)
    env.pop("NVML_STUB_FAIL", None)
    env.pop("NVML_STUB_COUNT", None)
    if nvml is None:
        env.pop("RAIIAF_NVML_LIBRARY", None)
    else:
        env["RAIIAF_NVML_LIBRARY"] = nvml
    p = subprocess.run([CLI] + [str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Env(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="raiiaf-cli-env-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def p(self, name):
        return os.path.join(self.dir, name)

    def create(self, name, *args, nvml=NO_NVML):
        out = self.p(name)
        rc, o, e = run("create", "-q", "-o", out, "--latent", "x=" + NPY, *args, nvml=nvml)
        self.assertEqual((rc, o, e), (0, "", ""))
        return out

    def record(self, path):
        rc, out, err = run("env", "show", "--json", path)
        self.assertEqual((rc, err), (0, ""))
        return json.loads(out)

    def test_env_prints_this_machine(self):
        rc, out, err = run("env")
        self.assertEqual((rc, err), (0, ""))
        ids = [line.split()[0] for line in out.splitlines()]
        self.assertEqual(ids, sorted(ids))
        for want in ("os", "arch", "cpu", "ram", "libc", "libraiiaf", "zstd", "zfp", "openssl", "spng", "jansson"):
            self.assertIn(want, ids)
        self.assertNotIn("gpu", ids)
        self.assertNotIn("hostname", ids)
        u = os.uname()
        self.assertIn("os         name=os;version=%s %s\n" % (u.sysname, u.release), out)
        self.assertIn("name=cpu;", out)
        self.assertIn(";cores=%d" % os.sysconf("SC_NPROCESSORS_ONLN"), out)

        rc, out, err = run("env", "--json")
        self.assertEqual((rc, err), (0, ""))
        rec = json.loads(out)
        self.assertEqual(rec["env_version"], 2)
        for c in rec["components"]:
            self.assertEqual(c["sha256"], hashlib.sha256(c["canonical"].encode()).hexdigest())
        self.assertEqual([c["id"] for c in rec["components"]], ids)

        rc, out, err = run("env", "--env-include", "hostname")
        self.assertEqual(rc, 0)
        self.assertIn("hostname", [line.split()[0] for line in out.splitlines()])
        self.assertEqual(run("env", "--env-include", "user")[0], 2)
        self.assertEqual(run("env", "bogus")[0], 2)
        self.assertEqual(run("env", "diff")[0], 2)
        self.assertEqual(run("env", "--help")[0], 0)

    @unittest.skipUnless(STUB and os.path.exists(STUB), "the NVML stub library is not built")
    def test_gpus_through_nvml_stub(self):
        rc, out, err = run("env", nvml=STUB)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("gpu        name=gpu;model=NVIDIA Stub A100-SXM4-40GB;driver=535.104.05\n", out)
        self.assertIn("gpu1       name=gpu;index=1;model=NVIDIA Stub H100 80GB HBM3;memory_bytes=85520809984;"
                      "driver=535.104.05;cuda=12.2\n", out)
        f = self.create("g.raiiaf", nvml=STUB)
        rc, out, err = run("info", "--json", f)
        hw = json.loads(out)["raiiaf_metadata"]["model_info"]["hardware_info"]
        self.assertEqual([g["name"] for g in hw["gpu"]], ["NVIDIA Stub A100-SXM4-40GB", "NVIDIA Stub H100 80GB HBM3"])
        self.assertEqual(hw["gpu"][0]["memory_gb"], 40.0)
        # read where there is no GPU: the GPUs were removed
        rc, out, err = run("env", "diff", f)
        self.assertEqual(rc, 1)
        self.assertIn("removed   gpu0\n  file:    name=gpu;index=0;", out)
        self.assertIn("environment differs: 0 changed, 0 added, 3 removed", out)

    def test_create_options(self):
        spec = self.p("env.json")
        with open(spec, "w") as fh:
            json.dump({"components": [{"id": "diffusers", "canonical": "name=diffusers;version=0.27.2"},
                                      {"id": "model", "canonical": "name=model;sha256=31e35c80fc"}]}, fh)
        f = self.create("c.raiiaf", "--env", "torch=name=torch;version=2.3.0;cuda=12.1;cudnn=8902",
                        "--env=python=name=python;version=3.11.2", "--env", spec)
        rec = self.record(f)
        comps = {c["id"]: c for c in rec["components"]}
        self.assertEqual(comps["torch"]["canonical"], "name=torch;version=2.3.0;cuda=12.1;cudnn=8902")
        self.assertEqual(comps["python"]["sha256"],
                         "19fbff73c36145aa4515e0d802080b2f9a41c64adf44090217f1a5459f70162c")
        self.assertEqual(comps["diffusers"]["canonical"], "name=diffusers;version=0.27.2")
        self.assertIn("model", comps)
        self.assertIn("os", comps)
        self.assertEqual([c["id"] for c in rec["components"]], sorted(comps))
        rc, out, err = run("verify", f)
        self.assertEqual((rc, out, err), (0, f + ": OK\n", ""))
        rc, out, err = run("info", f)
        self.assertEqual((rc, err), (0, ""))  # the caller's components are not drift
        self.assertRegex(out, r"\nEnvironment: 15 components, os [^\n]+ \(raiiaf env show\)\n")

        # --no-env: no record at all
        f = self.create("n.raiiaf", "--no-env")
        rc, out, err = run("info", "--json", f)
        meta = json.loads(out)["raiiaf_metadata"]
        self.assertEqual([c["type"] for c in meta["chunks"]], ["TENS"])
        self.assertNotIn("environment", meta)
        self.assertNotIn("hardware_info", meta["model_info"])
        rc, out, err = run("env", "show", f)
        self.assertEqual(rc, 3)
        self.assertIn("no environment record", err)
        self.assertEqual(run("env", "diff", f)[0], 3)

        # refused: bad strings, bad ids, contradictions, duplicates
        for bad in (["--env", "torch=name=torch;version"], ["--env", "Torch=name=torch;version=2"],
                    ["--env", "torch=name=torch;version=a=b"], ["--no-env", "--env", "a=b=c"],
                    ["--env-include", "username"], ["--env", "a=k=1", "--env", "a=k=2"]):
            rc, out, err = run("create", "-o", self.p("bad.raiiaf"), "--latent", "x=" + NPY, *bad)
            self.assertEqual(rc, 2, (bad, err))
            self.assertTrue(err.startswith("raiiaf: "), err)
            self.assertFalse(os.path.exists(self.p("bad.raiiaf")))
        rc, out, err = run("create", "-o", self.p("bad.raiiaf"), "--latent", "x=" + NPY, "--env", self.p("missing.json"))
        self.assertEqual(rc, 3)
        self.assertIn("missing.json", err)
        # not ID=KEY=VALUE: taken as a file name, and the message says what was expected
        rc, out, err = run("create", "-o", self.p("bad.raiiaf"), "--latent", "x=" + NPY, "--env", "torch=version")
        self.assertEqual(rc, 3)
        self.assertIn("expected ID=KEY=VALUE;... or a .json file", err)

    def test_privacy(self):
        host = socket.gethostname()
        f = self.create("p.raiiaf")
        with open(f, "rb") as fh:
            raw = fh.read()
        rc, text, err = run("env", "show", "--json", f)
        rc2, manifest, err2 = run("info", "--json", f)
        for s in filter(lambda s: s and len(s) >= 4, (host, os.environ.get("USER"), os.environ.get("HOME"), self.dir)):
            self.assertNotIn(s, text)
            self.assertNotIn(s, manifest)
            self.assertNotIn(s.encode(), raw)
        self.assertNotIn("hostname", text)
        self.assertNotIn("machine_name", manifest)
        f = self.create("h.raiiaf", "--env-include", "hostname")
        comps = {c["id"]: c["canonical"] for c in self.record(f)["components"]}
        self.assertEqual(comps["hostname"], "name=hostname;value=" + host)
        rc, out, err = run("info", "--json", f)
        self.assertEqual(json.loads(out)["raiiaf_metadata"]["model_info"]["hardware_info"]["machine_name"], host)
        # compared like with like: no drift on the machine that wrote it
        rc, out, err = run("env", "diff", f)
        self.assertEqual((rc, err), (0, ""), out)

    def test_drift_summary_and_diff(self):
        f = self.create("d.raiiaf", "--env", "numpy=name=numpy;version=1.24.2")
        # the same machine: nothing on stderr, diff exits 0
        for args in (["info", f], ["info", "--json", f], ["extract", f, "--meta", self.p("m.json")]):
            rc, out, err = run(*args)
            self.assertEqual((rc, err), (0, ""), args)
        rc, out, err = run("env", "diff", f)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out, "unchecked numpy (recorded by the program that wrote the file; not visible from here)\n"
                              "  file:    name=numpy;version=1.24.2\n"
                              "%s: environment matches (1 component not checked)\n" % f)

        # a record from another machine: edited components through --env
        other = self.create("o.raiiaf", "--env", "os=name=os;version=Linux 5.10.0",
                            "--env", "zstd=name=zstd;version=1.4.8", "--env", "gpu=name=gpu;model=RTX 3090;driver=535")
        rc, out, err = run("info", other)
        self.assertEqual(rc, 0)
        self.assertEqual(err, "raiiaf: %s: environment differs from the file's: 2 changed (os, zstd), 0 added, "
                              "1 removed (gpu); see raiiaf env diff %s\n" % (other, other))
        rc, out, err = run("info", "-q", other)
        self.assertEqual((rc, err), (0, ""))
        rc, out, err = run("extract", other, "--meta", self.p("m2.json"))
        self.assertEqual(rc, 0)
        self.assertIn("environment differs from the file's: 2 changed (os, zstd)", err)
        rc, out, err = run("extract", "--quiet", other, "--meta", self.p("m3.json"))
        self.assertEqual((rc, err), (0, ""))

        rc, out, err = run("env", "diff", other)
        self.assertEqual((rc, err), (1, ""))
        lines = out.splitlines()
        self.assertEqual(lines[0], "removed   gpu")
        self.assertEqual(lines[1], "  file:    name=gpu;model=RTX 3090;driver=535")
        self.assertEqual(lines[2], "changed   os")
        self.assertEqual(lines[3], "  file:    name=os;version=Linux 5.10.0")
        self.assertTrue(lines[4].startswith("  current: name=os;version="))
        self.assertEqual(lines[5], "changed   zstd")
        self.assertEqual(lines[-1], "%s: environment differs: 2 changed, 0 added, 1 removed" % other)
        rc, out, err = run("env", "diff", "--json", other)
        self.assertEqual(rc, 1)
        j = json.loads(out)
        self.assertEqual((j["equal"], j["changed"], j["added"], j["removed"]), (False, 2, 0, 1))
        self.assertEqual([(d["id"], d["kind"]) for d in j["differences"]], [("gpu", "removed"), ("os", "changed"),
                                                                            ("zstd", "changed")])
        self.assertIsNone(j["differences"][0]["current"])
        rc, out, err = run("env", "diff", "--ignore", "os", "--ignore", "zstd", "--ignore", "gpu", other)
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.endswith(": environment matches\n"), out)
        rc, out, err = run("env", "diff", "--ignore", "os", other)
        self.assertEqual(rc, 1)
        self.assertNotIn(" os\n", out)

    @unittest.skipUnless(STUB and os.path.exists(STUB), "the NVML stub library is not built")
    def test_added_gpus(self):
        f = self.create("a.raiiaf")
        rc, out, err = run("info", f, nvml=STUB)
        self.assertEqual(err, "raiiaf: %s: environment differs from the file's: 0 changed, 3 added (gpu, gpu0, gpu1), "
                              "0 removed; see raiiaf env diff %s\n" % (f, f))

    def test_format1_file(self):
        f1 = os.path.join(DATA, "format1", "two_latents.raiiaf")
        if not os.path.exists(f1):
            self.skipTest("tests/data/format1 is not there")
        rc, out, err = run("env", "show", f1)
        if rc == 3 and "format 1" in err:
            self.skipTest("this build does not read format 1")
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("numpy   name=numpy;version=1.24.2\n", out)
        rc, out, err = run("env", "diff", "--json", f1)
        j = json.loads(out)
        kinds = {d["id"]: d["kind"] for d in j["differences"]}
        self.assertEqual(kinds["torch"], "unchecked")
        self.assertEqual(kinds["numpy"], "unchecked")
        self.assertEqual(kinds["zstd"], "added")
        u = os.uname()
        self.assertEqual(kinds.get("os"), None if "%s %s" % (u.sysname, u.release) == "Linux 6.18.44-fc-v595" else "changed")

    def test_real_gpu(self):
        """On a machine with an NVIDIA driver, the GPUs nvidia-smi lists are captured."""
        if not ctypes.util.find_library("nvidia-ml") and not os.path.exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"):
            self.skipTest("no NVIDIA driver here (libnvidia-ml not found); CI has no GPU")
        smi = shutil.which("nvidia-smi")
        rc, out, err = run("env", nvml=None)
        self.assertEqual((rc, err), (0, ""))
        gpus = [line for line in out.splitlines() if line.startswith("gpu")]
        if smi:
            names = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], stdout=subprocess.PIPE,
                                   timeout=60).stdout.decode().split("\n")
            names = [n.strip() for n in names if n.strip()]
            for i, n in enumerate(names):
                self.assertRegex(out, r"(?m)^gpu%d +name=gpu;index=%d;model=%s;" % (i, i, re.escape(n)))
        self.assertTrue(gpus, out)


if __name__ == "__main__":
    unittest.main(verbosity=1)
