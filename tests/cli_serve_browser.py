"""`raiiaf serve` in headless Chromium (Selenium): the grid shows every
file, a search narrows it, the detail page shows the prompt and settings,
the latent preview canvas is drawn (not blank), and a hostile prompt is
shown as text without running.  Screenshots go to $RAIIAF_SCREENSHOTS (or
the test's temporary folder, printed).  Skips with a message when
chromium, chromedriver or selenium is missing."""

import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_serve import HOSTILE, SEEDS, make_library, start_server  # noqa: E402

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver") or ("/usr/lib/chromium/chromedriver" if os.path.exists("/usr/lib/chromium/chromedriver") else None)
MISSING = None if (HAVE_SELENIUM and CHROMIUM and DRIVER) else \
    "needs chromium, chromium-driver and python3-selenium (scripts/bootstrap.sh installs them)"


@unittest.skipIf(MISSING, MISSING)
class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="raiiaf-browser-")
        cls.shots = os.environ.get("RAIIAF_SCREENSHOTS") or cls.dir
        os.makedirs(cls.shots, exist_ok=True)
        files = os.path.join(cls.dir, "files")
        os.mkdir(files)
        make_library(files)
        # A trajectory: four step_NN latents, each a different picture.
        import numpy as np
        from clitest import run
        args = []
        for k in range(4):
            lat = os.path.join(cls.dir, "step%d.npy" % k)
            np.save(lat, np.random.default_rng(k).standard_normal((1, 4, 16, 16)).astype(np.float32) * (k + 1))
            args += ["--latent", "step_%02d=%s" % (k, lat)]
        r = run("create", "-o", os.path.join(files, "traj.raiiaf"), *args, "--prompt", "trajectory of a hare",
                "--model", "sd_xl_base_1.0", "--seed", "7")
        assert r.returncode == 0, r.stderr
        cls.files = files
        # --allow-edit: the tag editing step (the read-only default is cli_serve.py's).
        cls.proc, cls.base, _ = start_server([files, "--db", os.path.join(cls.dir, "lib.sqlite"), "--allow-edit"])
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,1000", "--user-data-dir=" + os.path.join(cls.dir, "profile")):
            opts.add_argument(a)
        cls.drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
        cls.drv.set_page_load_timeout(20)
        cls.drv.set_script_timeout(10)

    @classmethod
    def tearDownClass(cls):
        cls.drv.quit()
        cls.proc.terminate()
        cls.proc.wait(timeout=30)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        if cls.shots == cls.dir:
            print("screenshots were in", cls.dir, "(removed; set RAIIAF_SCREENSHOTS to keep them)")
        shutil.rmtree(cls.dir, ignore_errors=True)

    def wait(self, cond, what):
        WebDriverWait(self.drv, 10).until(lambda d: cond(d), what)

    def cards(self):
        return self.drv.find_elements(By.CSS_SELECTOR, "#grid .card")

    def test_grid_search_detail_preview(self):
        d = self.drv
        d.get(self.base + "/")
        self.wait(lambda _: len(self.cards()) == 4, "four cards")
        self.wait(lambda _: all(d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i)
                                for i in d.find_elements(By.CSS_SELECTOR, "#grid img")), "thumbnails loaded")
        d.save_screenshot(os.path.join(self.shots, "grid.png"))
        # The hostile prompt is text in a card, and no alert ran.
        texts = [c.text for c in self.cards()]
        self.assertIn(HOSTILE, texts)
        self.assertEqual(d.execute_script("return document.querySelectorAll('#grid img').length"), 3)  # one has no image
        # Search by prompt word: the URL holds the query.
        box = d.find_element(By.ID, "q")
        box.send_keys("fox")
        d.find_element(By.CSS_SELECTOR, "#search button").click()
        self.wait(lambda _: "q=fox" in d.current_url and len(self.cards()) == 2, "two foxes")
        # Detail page of the first result.
        self.cards()[0].click()
        self.wait(lambda _: d.find_element(By.ID, "prompt").text.startswith("a red fox"), "prompt shown")
        settings = d.find_element(By.ID, "settings").text
        self.assertIn("sd_xl_base_1.0", settings)
        self.assertIn("seed", settings)
        self.wait(lambda _: d.execute_script("return !!document.getElementById('latent').dataset.drawn"), "latent drawn")
        stats = d.execute_script("""
            const c = document.getElementById('latent'), x = c.getContext('2d');
            const p = x.getImageData(0, 0, c.width, c.height).data; const seen = new Set(); let lit = 0;
            for (let i = 0; i < p.length; i += 4) { seen.add(p[i] + ',' + p[i+1] + ',' + p[i+2]); if (p[i] + p[i+1] + p[i+2] > 0) lit++; }
            return [c.width, c.height, seen.size, lit];""")
        self.assertEqual(stats[:2], [16, 16])
        self.assertGreater(stats[2], 10)   # many distinct colours: a picture, not a fill
        self.assertGreater(stats[3], 200)  # of 256 pixels, nearly all lit
        d.save_screenshot(os.path.join(self.shots, "detail.png"))

    def test_trajectory_scrubber_changes_the_picture(self):
        d = self.drv
        d.get(self.base + "/?seed=7")
        self.wait(lambda _: len(self.cards()) == 1, "one card")
        self.cards()[0].click()
        self.wait(lambda _: d.execute_script("return !!document.getElementById('latent').dataset.drawn"), "drawn")
        self.assertFalse(d.find_element(By.ID, "scrub-row").get_attribute("hidden"))
        pixels = "const c = document.getElementById('latent'); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(',');"
        first = d.execute_script(pixels)
        d.execute_script("const s = document.getElementById('scrub'); s.value = 3; s.dispatchEvent(new Event('input'));")
        self.wait(lambda _: d.execute_script("return document.getElementById('latent').dataset.drawn").startswith("step_03"), "step 3 drawn")
        self.assertNotEqual(d.execute_script(pixels), first)
        self.assertEqual(d.find_element(By.ID, "scrub-label").text, "step_03")
        d.execute_script("document.getElementById('latent').scrollIntoView({block: 'center'});")  # the preview in the shot
        d.save_screenshot(os.path.join(self.shots, "trajectory.png"))

    def test_hostile_detail_runs_no_script(self):
        d = self.drv
        d.get(self.base + "/?seed=%d" % SEEDS[2])
        self.wait(lambda _: len(self.cards()) == 1, "one card")
        self.cards()[0].click()
        self.wait(lambda _: d.find_element(By.ID, "prompt").text == HOSTILE, "hostile prompt as text")
        # the seed 2^64-1 is shown exactly (JSON.parse alone would round it)
        self.assertIn(str(SEEDS[2]), d.find_element(By.ID, "detail-view").text)
        self.assertEqual(d.execute_script("return document.querySelectorAll('#detail-view script, #detail-view img[src=\"x\"]').length"), 0)
        self.assertEqual(d.execute_script("return typeof window.__pwned"), "undefined")

    def test_add_tag_in_the_page(self):
        d = self.drv
        d.get(self.base + "/?seed=7")
        self.wait(lambda _: len(self.cards()) == 1, "one card")
        self.cards()[0].click()
        self.wait(lambda _: not d.find_element(By.ID, "tag-form").get_attribute("hidden"), "tag form shown")
        # The panels: environment (captured at create on this machine: no drift), history, signature.
        self.wait(lambda _: "no drift" in d.find_element(By.ID, "env-note").text, "environment panel")
        self.assertIn("version 1", d.find_element(By.ID, "history").text)
        self.assertEqual(d.find_element(By.ID, "signature").text, "not signed")
        self.wait(lambda _: d.find_element(By.ID, "verify").text.startswith("OK"), "verified")
        hostile_tag = '<img src=x onerror="window.__pwned=1">'
        for tag in ("hare", hostile_tag):
            box = d.find_element(By.ID, "new-tag")
            box.send_keys(tag)
            d.find_element(By.CSS_SELECTOR, "#tag-form button").click()
            # Read in one script: the list is rebuilt when the answer comes.
            self.wait(lambda _: tag in d.execute_script(
                "return Array.from(document.querySelectorAll('#tags li'), (li) => li.firstChild.textContent)"),
                "tag listed")
        self.assertEqual(d.execute_script("return typeof window.__pwned"), "undefined")
        d.save_screenshot(os.path.join(self.shots, "tags.png"))
        from clitest import run
        info = run("info", os.path.join(self.files, "traj.raiiaf")).stdout.decode()
        self.assertIn("hare", info)
        self.assertEqual(run("verify", os.path.join(self.files, "traj.raiiaf")).returncode, 0)


if __name__ == "__main__":
    unittest.main()
