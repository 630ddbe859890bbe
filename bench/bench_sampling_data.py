#!/usr/bin/python3
"""Where files are made and where they are used: raiiaf.Recorder's overhead
per sampling step, and raiiaf.data.Dataset throughput through a torch
DataLoader (1 and 2 workers, local files and the same files through nginx
with HTTP range requests).  Run by bench/bench_python.py (--part sampling),
or alone:

    RAIIAF_LIBRARY=build/libraiiaf.so PYTHONPATH=python /usr/bin/python3 bench/bench_sampling_data.py --runs 5

Recorder: a 30-step loop over a (1,4,128,128) float32 latent (SDXL's at
1024x1024) where each "step" is x = 0.98 * x + 0.01 (a cheap stand-in, so
the overhead is not hidden behind a network); timed with no recorder, with
rec.step() every step, with every=5, and with steps=False; plus the write
at the end of the block (seed-recipe check, delta chain, fsync, rename).
Dataset: N files, each a 64x64 PNG and two (1,4,128,128) float32 latents
(initial_noise stored as a seed recipe, final as values); one pass of
DataLoader(batch_size=16) reading seed + "final" (through nginx: the
requests and bytes nginx logged for the pass, against the files' size).
Every number is the median of --runs runs after one warm-up.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "python", "tests"))

import raiiaf  # noqa: E402


def med(xs):
    return statistics.median(xs)


def bench_recorder(torch, tmp, runs, steps=30, shape=(1, 4, 128, 128)):
    g = torch.Generator().manual_seed(1)

    def loop(rec, path):
        """(loop seconds, write seconds, [seconds of each rec.step call], loop CPU seconds)."""
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        c0 = time.thread_time()
        t0 = time.perf_counter()
        if rec is None:
            for i in range(steps):
                x = 0.98 * x + 0.01
            return time.perf_counter() - t0, 0.0, [0.0], time.thread_time() - c0
        calls = []
        cpu0 = time.thread_time()
        with raiiaf.Recorder(path, model="bench", seed=1, **rec) as r:
            r.initial_noise(x, seed=1)
            for i in range(steps):
                x = 0.98 * x + 0.01
                c0 = time.perf_counter()
                r.step(i, 999 - 33 * i, x)
                calls.append(time.perf_counter() - c0)
            t1 = time.perf_counter()
            cpu = time.thread_time()
        return t1 - t0, time.perf_counter() - t1, calls, cpu - cpu0

    variants = [("no recorder", None), ("every step", {}), ("every=5", {"every": 5}),
                ("steps=False", {"steps": False})]
    res = {k: ([], [], [], []) for k, _ in variants}
    for run in range(runs + 1):
        for k, v in variants:
            loop_s, write_s, calls, cpu_s = loop(v, os.path.join(tmp, "rec.raiiaf"))
            if run:
                res[k][0].append(loop_s)
                res[k][1].append(write_s)
                res[k][2].extend(calls)
                res[k][3].append(cpu_s)
    del g
    base = med(res["no recorder"][0]) / steps
    base_cpu = med(res["no recorder"][3]) / steps
    size = {}
    for k, v in variants[1:]:
        loop(v, os.path.join(tmp, "rec-%s.raiiaf" % k.replace(" ", "_").replace("=", "")))
        size[k] = os.path.getsize(os.path.join(tmp, "rec-%s.raiiaf" % k.replace(" ", "_").replace("=", "")))
    print("Recorder, %d steps of a %s float32 latent (%d KiB), median of %d:" %
          (steps, "x".join(map(str, shape)), 4 * int(torch.tensor(shape).prod()) // 1024, runs))
    print("  %-14s %12s %12s %12s %12s %9s %11s" % ("", "loop us/step", "overhead", "CPU overhead",
                                                   "median step", "write ms", "file bytes"))
    for k, _ in variants:
        per = med(res[k][0]) / steps
        cpu = med(res[k][3]) / steps
        print("  %-14s %12.1f %12.1f %12.1f %12.1f %9.2f %11s" % (
            k, per * 1e6, (per - base) * 1e6, (cpu - base_cpu) * 1e6, med(res[k][2]) * 1e6,
            med(res[k][1]) * 1e3, size.get(k, "-")))
    print("  (us per step: overhead = the loop's wall time per step minus the loop without a recorder;")
    print("   CPU overhead = the same in this thread's CPU time (page faults of fresh memory included,")
    print("   waiting for a busy CPU not); median step = the typical single rec.step() call, wall time)")


def make_files(torch, folder, n, png):
    os.makedirs(folder, exist_ok=True)
    for k in range(n):
        a = torch.randn((1, 4, 128, 128), generator=torch.Generator().manual_seed(k))
        raiiaf.write(os.path.join(folder, "f%05d.raiiaf" % k), image=png,  # two latents stored as values
                     latents={"noise": a * 14.6, "final": torch.tanh(a + 1)}, model="bench", seed=k,
                     prompt="file %d" % k, env=False)


def bench_dataloader(torch, tmp, runs, n):
    from raiiaf import data
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 90, 200)).save(buf, "PNG")
    folder = os.path.join(tmp, "www")
    make_files(torch, folder, n, buf.getvalue())
    sources = {"local": folder}
    srv = None
    try:
        import nginx_server
        if nginx_server.nginx_binary():
            srv = nginx_server.Nginx(folder, os.path.join(tmp, "nginx"))
            sources["nginx"] = [srv.url + f for f in sorted(os.listdir(folder))]
    except Exception as e:  # noqa: BLE001 - the local numbers still stand
        print("  (nginx not used: %s)" % e)
    try:
        res = {}
        modes = [("%s %s" % (where, what), where, src, lat) for where, src in sources.items()
                 for what, lat in (("meta", ()), ("final", ["final"]))]
        for run in range(runs + 1):
            for label, where, src, lat in modes:
                ds = data.Dataset(src, fields=["seed"], latents=lat)
                for nw in (0, 1, 2):
                    loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=nw)
                    if srv is not None and where == "nginx":
                        srv.clear_log()
                    t0 = time.perf_counter()
                    count = sum(len(b["path"]) for b in loader)
                    dt = time.perf_counter() - t0
                    assert count == n
                    if run:
                        res.setdefault((label, nw), []).append(dt)
                    if srv is not None and where == "nginx" and (label, nw, "log") not in res:
                        log = srv.log()
                        res[(label, nw, "log")] = (len(log), sum(r[3] for r in log))
        fsize = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print()
        print("DataLoader over %d files (%d bytes each, two (1,4,128,128) float32 latents); meta: the seed only, "
              "final: the seed and one latent; "
              "batch 16, median of %d:" % (n, fsize // n, runs))
        print("  %-12s %-8s %10s %12s  %s" % ("source read", "workers", "files/s", "x local final",
                                               "requests, bytes per pass"))
        base = n / med(res[("local final", 0)])
        for (where, nw) in [k for k in res if len(k) == 2]:
            fps = n / med(res[(where, nw)])
            extra = ""
            if (where, nw, "log") in res:
                rq, by = res[(where, nw, "log")]
                extra = "%d requests, %d bytes (%.2f of the files)" % (rq, by, by / fsize)
            label = "main" if nw == 0 else str(nw)
            print("  %-12s %-8s %10.0f %12.2f %s" % (where, label, fps, fps / base, extra))
    finally:
        if srv is not None:
            srv.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--files", type=int, default=400)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    base = args.dir or ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    tmp = tempfile.mkdtemp(prefix="raiiaf-bench-sd-", dir=base)
    try:
        print("bench_sampling_data: libraiiaf %s from %s, torch %s" % (raiiaf.library_version, raiiaf.library_path,
                                                                      torch.__version__))
        bench_recorder(torch, tmp, args.runs)
        bench_dataloader(torch, tmp, args.runs, args.files)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
