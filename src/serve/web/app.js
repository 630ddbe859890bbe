// raiiaf serve: the grid and the detail page.  Every string from a file is
// put in the page with textContent or as an attribute value, never as HTML:
// prompts come from strangers.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 60;
let offset = 0, loading = false, exhausted = false;

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) e.append(k);
  return e;
}

function params() { return new URLSearchParams(location.search); }

function searchUrl(off) {
  const p = new URLSearchParams();
  for (const [k, v] of params()) if (k !== "file" && v) p.set(k, v);
  p.set("limit", PAGE); p.set("offset", off);
  return "/api/search?" + p;
}

// Integers beyond 2^53 (seeds go to 2^64-1) would be rounded by JSON.parse:
// keep them as their exact decimal text (the reviver sees the source text).
async function exactJson(r) {
  const text = await r.text();
  return JSON.parse(text, (k, v, ctx) =>
    typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v) && ctx && ctx.source ? ctx.source : v);
}

async function loadMore() {
  if (loading || exhausted) return;
  loading = true;
  try {
    const r = await fetch(searchUrl(offset));
    const j = await exactJson(r);
    if (!r.ok) { $("count").textContent = j.error; exhausted = true; return; }
    for (const it of j.items) {
      const pic = it.image_format ? el("img", { src: "/api/file/" + it.id + "/thumb", alt: "", loading: "lazy" })
                                  : el("div", { className: "noimage", textContent: "no image" });
      const card = el("a", { className: "card", href: "?file=" + encodeURIComponent(it.id) }, pic,
        el("span", { textContent: it.prompt || "(no prompt)", title: it.prompt || "" }));
      $("grid").append(card);
    }
    offset += j.items.length;
    if (j.items.length < PAGE) exhausted = true;
    $("count").textContent = offset + (exhausted ? "" : "+") + " files";
  } finally { loading = false; }
}

function showGrid() {
  const p = params();
  for (const k of ["q", "model", "seed", "tag", "sampler", "from", "to"]) $(k).value = p.get(k) || "";
  for (const k of ["has_latents", "signed", "fails_verification"]) $(k).checked = p.get(k) === "1";
  new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) loadMore(); }).observe($("more"));
  loadMore();
}

function fmtBytes(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }

function link(href, text) { return el("li", {}, el("a", { href, textContent: text, download: "" })); }

function drawLatent(id) {
  const name = $("latent-name").value;
  if (!name) return;
  const ch = $("channel").value;
  const q = ch === "" ? "family=" + encodeURIComponent($("family").value) : "channel=" + encodeURIComponent(ch);
  const img = new Image();
  img.onload = () => {
    const c = $("latent"), ctx = c.getContext("2d");
    c.width = img.width; c.height = img.height;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0);
    c.dataset.drawn = name + "|" + q;
    $("latent-note").textContent = name + ": " + img.width + "x" + img.height + " latent";
  };
  img.onerror = () => { $("latent-note").textContent = "no preview for " + name + " (" + q + ")"; };
  img.src = "/api/file/" + id + "/tensor/" + encodeURIComponent(name) + "/preview.png?" + q;
}

async function showDetail(id) {
  $("grid-view").hidden = true;
  $("detail-view").hidden = false;
  const r = await fetch("/api/file/" + encodeURIComponent(id));
  const j = await exactJson(r);
  if (!r.ok) { $("prompt").textContent = j.error; return; }
  const ix = j.index, m = (j.manifest && j.manifest.raiiaf_metadata) || j.manifest || {};
  if (ix.image_format) $("full").src = "/api/file/" + id + "/image"; else $("full").hidden = true;
  $("prompt").textContent = ix.prompt || "";
  $("negative").textContent = ix.negative_prompt || "";
  for (const b of document.querySelectorAll("[data-copy]"))
    b.onclick = () => navigator.clipboard && navigator.clipboard.writeText($(b.dataset.copy).textContent);
  const st = $("settings");
  for (const k of ["model", "model_hash", "seed", "steps", "sampler", "scheduler", "cfg_scale", "width", "height",
                   "image_format", "tool", "format", "digest", "created", "signature", "signature_key"]) {
    const v = k === "format" ? j.format : ix[k];
    // signature: the index's state (as the file was when indexed); the live check is #signature
    const name = k === "signature" ? "signature (indexed)" : k;
    if (v !== null && v !== undefined) st.append(el("tr", {}, el("th", { textContent: name }), el("td", { textContent: String(v) })));
  }
  st.append(el("tr", {}, el("th", { textContent: "manifest version" }), el("td", { textContent: String(j.version) })));
  showTags(id, j.tags);
  showSignature(j.signature);
  showEnv(j.env);
  showHistory(j.history);
  fetch("/api/file/" + id + "/verify").then((v) => v.json()).then((v) => {
    const p = $("verify");
    if (v.error) { p.textContent = "cannot verify: " + v.error; p.className = "bad"; return; }
    p.className = v.ok ? "good" : "bad";
    p.textContent = v.ok ? "OK: every checksum, digest and the schema hold"
      : "FAILS: " + (v.failed_check ? v.failed_check.status + ": " + v.failed_check.message : "")
        + (v.problems.length > 1 ? " (" + v.problems.length + " problems: "
          + v.problems.map((q) => q.status + ": " + q.message).join("; ") + ")" : "");
  });
  const dl = $("downloads");
  dl.append(link("/api/file/" + id + "/image", "image as stored"), link("/api/file/" + id + "/manifest", "manifest JSON"),
            link("/api/file/" + id + "/parameters", "A1111 parameters text"));
  const tb = $("tensors").tBodies[0], sel = $("latent-name"), steps = [];
  for (const t of j.tensors) {
    const base = "/api/file/" + id + "/tensor/" + encodeURIComponent(t.name);
    const codec = t.recipe ? "regenerated from seed " + t.recipe.seed + ", verified" : t.codec;
    tb.append(el("tr", {}, el("td", { textContent: t.name }), el("td", { textContent: t.dtype }),
      el("td", { textContent: "[" + t.shape.join(", ") + "]" }), el("td", { textContent: codec }),
      el("td", { textContent: fmtBytes(t.stored_size) }),
      el("td", {}, el("a", { href: base + ".npy", textContent: ".npy" }), " ", el("a", { href: base + ".safetensors", textContent: ".safetensors" }))));
    const s = t.shape.length === 4 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape;
    if (t.dtype === "float32" && s.length === 3 && s[0] <= 64) {
      sel.append(el("option", { value: t.name, textContent: t.name }));
      if (/step_?\d+/.test(t.name)) steps.push(t.name);
    }
  }
  const first = j.tensors.find((t) => t.name === sel.value);
  const ch = first ? (first.shape.length === 4 ? first.shape[1] : first.shape[0]) : 4;
  // The family the manifest names (model, architecture, import family), else by channel count.
  $("family").value = j.latent_family || (ch === 16 ? "sd3" : "sd1");
  for (let i = 0; i < ch; i++) $("channel").append(el("option", { value: i, textContent: "channel " + i + " (gray)" }));
  if (steps.length > 1) {
    steps.sort();
    $("scrub-row").hidden = false;
    $("scrub").max = steps.length - 1;
    $("scrub").oninput = () => { sel.value = steps[$("scrub").value]; $("scrub-label").textContent = sel.value; drawLatent(id); };
  }
  for (const c of [sel, $("family"), $("channel")]) c.onchange = () => drawLatent(id);
  drawLatent(id);
}

// Edits need the token this run of the server put in the page (--allow-edit).
const TOKEN = (document.querySelector('meta[name="raiiaf-token"]') || {}).content || "";

async function editTag(id, method, tag) {
  const r = await fetch("/api/file/" + encodeURIComponent(id) + "/tags?tag=" + encodeURIComponent(tag),
                        { method, headers: { "X-Raiiaf-Token": TOKEN } });
  const j = await r.json();
  $("tag-msg").textContent = r.ok ? "saved as version " + j.version : j.error;
  if (r.ok) showTags(id, j.tags);
}

function showTags(id, tags) {
  const ul = $("tags");
  ul.replaceChildren();
  if (!tags.length) ul.append(el("li", { textContent: "(none)" }));
  for (const t of tags) {
    const li = el("li", { textContent: t, className: "tag" });
    if (TOKEN) li.append(el("button", { type: "button", textContent: "remove", onclick: () => editTag(id, "DELETE", t) }));
    ul.append(li);
  }
  if (TOKEN) {
    $("tag-form").hidden = false;
    $("tag-form").onsubmit = (ev) => {
      ev.preventDefault();
      const t = $("new-tag").value.trim();
      if (t) editTag(id, "POST", t).then(() => { $("new-tag").value = ""; });
    };
  }
}

function showSignature(sg) {
  const p = $("signature");
  if (!sg || sg.state === "none") { p.textContent = "not signed"; return; }
  const key = sg.key_id ? " (key " + sg.key_id + ")" : "";
  p.className = sg.state === "valid" ? "good" : sg.state === "edited" ? "" : "bad";
  p.textContent = sg.state === "valid" ? "signature valid" + key
    : sg.state === "edited" ? "signed version " + sg.signed_version + key + ", edited since"
    : sg.state === "invalid" ? "signature INVALID" + key + ": " + sg.message
    : "signature cannot be checked: " + sg.message;
}

function showEnv(env) {
  const tb = $("env").tBodies[0];
  if (!env) { $("env-note").textContent = "the file holds no environment record"; $("env").hidden = true; return; }
  if (env.error) { $("env-note").textContent = "environment record: " + env.error; $("env").hidden = true; return; }
  $("env-note").textContent = !env.machine_captured ? "this machine's environment could not be captured"
    : env.differences ? env.differences + " difference(s) from this machine (highlighted)" : "no drift from this machine";
  const row = (id, file, cur, cls) => el("tr", { className: cls || "" }, el("th", { textContent: id }),
    el("td", { textContent: file === null ? "(absent)" : file }), el("td", { textContent: cur === null ? "" : cur }));
  for (const c of env.components) {
    const cls = c.drift === "changed" || c.drift === "removed" ? "drift" : c.drift === "unchecked" ? "drift-unchecked" : "";
    const cur = c.drift === "removed" ? "(absent)" : c.drift === "unchecked" ? "(not captured here)" : c.drift ? c.current : "same";
    tb.append(row(c.id, c.canonical, cur, cls));
  }
  for (const a of env.added) tb.append(row(a.id, null, a.current, "drift"));
}

function showHistory(h) {
  const ol = $("history");
  if (!Array.isArray(h)) { ol.append(el("li", { textContent: "history: " + (h && h.error) })); return; }
  for (const v of h) {
    const li = el("li", { textContent: "version " + v.version + (v.time ? " (" + v.time + ")" : "")
                                      + (v.version === 1 ? ": created" : v.changes.length ? ":" : ": no field changed") });
    if (v.changes.length) {
      const ul = el("ul");
      for (const c of v.changes) ul.append(el("li", { textContent: ({ added: "+ ", removed: "- ", changed: "~ " }[c.op] || "") + c.path }));
      li.append(ul);
    }
    ol.append(li);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const id = params().get("file");
  if (id) showDetail(id); else showGrid();
});
