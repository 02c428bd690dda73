"""The study page: plain HTML, CSS and JavaScript served by :mod:`.web` (no build step, no CDN)."""

HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ivosw-bench study</title>
<link rel="stylesheet" href="/static/study.css">
</head>
<body>
<header>
  <div class="brand">ivosw-bench <span>frame choice study</span></div>
  <div id="counters">
    <span id="c-participant" class="pill"></span>
    <span id="c-sample" class="pill">sample –</span>
    <span id="c-round" class="pill">choice –</span>
  </div>
  <button id="pause" type="button" disabled title="Space or P">Pause</button>
</header>
<main id="choose" hidden>
  <section id="preview-pane">
    <div id="preview-wrap"><img id="preview" alt="selected frame"></div>
    <div id="preview-bar">
      <span id="sel-label">frame –</span>
      <span id="sel-hist"></span>
      <span id="sel-q"></span>
      <button id="submit" type="button">Annotate this frame</button>
    </div>
    <p class="help">Which frame should be annotated next? Click a thumbnail or use
      <kbd>&larr;</kbd> <kbd>&rarr;</kbd> <kbd>&uarr;</kbd> <kbd>&darr;</kbd> <kbd>Home</kbd> <kbd>End</kbd>
      to look; <kbd>Enter</kbd>, a double-click or the button chooses; <kbd>Space</kbd> pauses the clock.
      Coloured areas are the current segmentation; <span class="mark">&#9998;</span> marks frames already annotated.</p>
  </section>
  <section id="strip" role="listbox" aria-label="frames of the video"></section>
</main>
<div id="screen" class="screen">
  <div class="card">
    <div id="spinner" class="spinner"></div>
    <h1 id="sc-title">Connecting&hellip;</h1>
    <p id="sc-text"></p>
    <div id="sc-extra"></div>
    <button id="sc-button" type="button" hidden>Resume</button>
  </div>
</div>
<div id="toast" role="status" hidden></div>
<script src="/static/study.js"></script>
</body>
</html>
"""

CSS = """
:root { --bg:#15161a; --panel:#1f2127; --fg:#e8e8ea; --dim:#9a9ca5; --acc:#ffd23f; --ok:#5fd38d; --bad:#ff6b6b; }
* { box-sizing: border-box; }
html, body { margin:0; height:100%; background:var(--bg); color:var(--fg);
  font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { display:flex; align-items:center; gap:16px; padding:8px 16px; background:var(--panel);
  border-bottom:1px solid #000; height:52px; }
.brand { font-weight:700; letter-spacing:.02em; } .brand span { font-weight:400; color:var(--dim); }
#counters { display:flex; gap:8px; flex:1; flex-wrap:wrap; }
.pill { background:#2b2e36; border-radius:999px; padding:3px 12px; white-space:nowrap; }
button { font:inherit; color:#111; background:var(--acc); border:0; border-radius:6px; padding:7px 16px;
  cursor:pointer; font-weight:600; }
button:disabled { opacity:.4; cursor:default; }
button.secondary, #pause { background:#3a3e48; color:var(--fg); }
main[hidden] { display:none; }
main { display:flex; flex-direction:column; height:calc(100% - 52px); padding:10px 16px 12px; gap:10px; }
#preview-pane { flex:0 0 auto; }
#preview-wrap { display:flex; justify-content:center; background:#000; border-radius:8px; height:46vh; }
#preview { max-width:100%; max-height:100%; object-fit:contain; image-rendering:auto; }
#preview-bar { display:flex; align-items:center; gap:14px; margin-top:8px; }
#sel-label { font-size:20px; font-weight:700; min-width:130px; }
#sel-hist { color:var(--acc); } #sel-q { color:var(--ok); }
#preview-bar button { margin-left:auto; }
.help { color:var(--dim); margin:6px 0 0; font-size:13px; }
kbd { background:#2b2e36; border:1px solid #444; border-radius:4px; padding:0 5px; font-size:12px; color:var(--fg); }
.mark { color:var(--acc); }
#strip { flex:1 1 0; min-height:120px; overflow-y:auto; display:grid; gap:8px; align-content:start;
  grid-template-columns:repeat(auto-fill, minmax(150px, 1fr)); grid-auto-rows:max-content; padding:4px; }
/* rows take the thumbnails' full height (the strip scrolls); never squeezed into strips */
.thumb { position:relative; padding:0; background:#000; border:3px solid transparent; border-radius:6px;
  cursor:pointer; overflow:hidden; }
.thumb img { display:block; width:100%; height:auto; aspect-ratio:attr(width) / attr(height); }
.thumb.sel { border-color:var(--acc); box-shadow:0 0 0 2px rgba(255,210,63,.35); }
.thumb:focus { outline:none; }
.badge { position:absolute; top:3px; left:3px; background:rgba(0,0,0,.75); color:#fff; border-radius:4px;
  padding:0 6px; font-size:13px; font-weight:700; }
.ann { position:absolute; top:3px; right:3px; background:var(--acc); color:#111; border-radius:4px;
  padding:0 5px; font-size:12px; font-weight:700; }
.q { position:absolute; bottom:3px; left:3px; background:rgba(0,0,0,.75); color:var(--ok); border-radius:4px;
  padding:0 5px; font-size:12px; }
.screen { position:fixed; inset:52px 0 0 0; display:flex; align-items:center; justify-content:center;
  background:rgba(21,22,26,.97); z-index:10; }
.screen[hidden] { display:none; }
.card { max-width:640px; text-align:center; padding:28px 36px; background:var(--panel); border-radius:12px;
  box-shadow:0 8px 40px rgba(0,0,0,.5); }
.card h1 { margin:.2em 0 .4em; font-size:26px; }
.card p { color:var(--dim); }
.card table { margin:10px auto; border-collapse:collapse; }
.card td { padding:2px 10px; text-align:left; } .card td:first-child { color:var(--dim); white-space:nowrap; }
.card td { word-break:break-all; }
.spinner { width:34px; height:34px; margin:0 auto 6px; border:4px solid #444; border-top-color:var(--acc);
  border-radius:50%; animation:spin 1s linear infinite; }
.spinner[hidden] { display:none; }
@keyframes spin { to { transform:rotate(360deg); } }
#toast { position:fixed; bottom:18px; left:50%; transform:translateX(-50%); background:var(--bad); color:#111;
  padding:8px 16px; border-radius:6px; font-weight:600; z-index:20; }
body.paused #choose { visibility:hidden; }
"""

JS = r"""
'use strict';
const $ = (id) => document.getElementById(id);
const S = { status: null, round: null, sel: 0, loaded: 0, previewLoaded: false, readySent: false,
            paused: false, submitting: false, failures: 0 };

async function api(path, body) {
  const opt = body === undefined ? { cache: 'no-store' }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  let j = {};
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) { const err = new Error(j.error || r.statusText); err.status = r.status; throw err; }
  return j;
}

function toast(msg) {
  const t = $('toast'); t.textContent = msg; t.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

function screen(title, text, opts = {}) {
  $('screen').hidden = false; $('choose').hidden = !opts.keepMain;
  $('sc-title').textContent = title; $('sc-text').textContent = text || '';
  $('spinner').hidden = !opts.spin;
  const extra = $('sc-extra'); extra.innerHTML = '';
  if (opts.extra) extra.appendChild(opts.extra);
  $('sc-button').hidden = !opts.button;
  if (opts.button) $('sc-button').textContent = opts.button;
}

function counters(r) {
  $('c-sample').textContent = `sample ${r.sample_no}/${r.n_samples || '?'} · ${r.sequence}`;
  $('c-round').textContent = `choice ${r.choice_no}/${r.n_choices} · round ${r.t}/${r.rounds}`;
}

function maybeReady() {
  const r = S.round;
  if (!r || S.readySent || S.loaded < r.n_frames || !S.previewLoaded) return;
  S.readySent = true;
  api('/api/ready', { round_id: r.id }).catch((e) => toast(e.message));
}

function buildRound(r) {
  S.round = r; S.loaded = 0; S.previewLoaded = false; S.readySent = false; S.submitting = false;
  S.sel = r.annotated.length ? r.annotated[r.annotated.length - 1] : 0;
  counters(r);
  const strip = $('strip'); strip.innerHTML = '';
  for (let i = 0; i < r.n_frames; i++) {
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'thumb'; b.id = 'thumb-' + i; b.dataset.frame = i;
    b.setAttribute('role', 'option'); b.setAttribute('aria-label', 'frame ' + i); b.tabIndex = -1;
    const img = document.createElement('img');
    img.alt = 'frame ' + i; img.width = r.thumb_size[0]; img.height = r.thumb_size[1];
    const done = () => { S.loaded++; maybeReady(); };
    img.addEventListener('load', done, { once: true });
    img.addEventListener('error', done, { once: true });
    img.src = `/img/${r.id}/thumb/${i}.jpg`;
    b.appendChild(img);
    const badge = document.createElement('span'); badge.className = 'badge'; badge.textContent = i;
    b.appendChild(badge);
    if (r.history[i] > 0) {
      const a = document.createElement('span'); a.className = 'ann';
      a.textContent = '\u270E' + (r.history[i] > 1 ? '\u00D7' + r.history[i] : '');
      a.title = `annotated ${r.history[i]} time(s)`; b.appendChild(a);
    }
    if (r.quality) {
      const q = document.createElement('span'); q.className = 'q'; q.textContent = 'q ' + r.quality[i].toFixed(2);
      b.appendChild(q);
    }
    b.addEventListener('click', () => select(i));
    b.addEventListener('dblclick', () => { select(i); submit(); });
    strip.appendChild(b);
  }
  $('screen').hidden = true; $('choose').hidden = false;
  $('pause').disabled = false;
  setPaused(r.paused);
  select(S.sel, true);
}

function select(i, first) {
  const r = S.round; if (!r) return;
  i = Math.max(0, Math.min(r.n_frames - 1, i));
  const old = $('thumb-' + S.sel); if (old) { old.classList.remove('sel'); old.setAttribute('aria-selected', 'false'); }
  S.sel = i;
  const t = $('thumb-' + i); t.classList.add('sel'); t.setAttribute('aria-selected', 'true');
  t.scrollIntoView({ block: 'nearest' });
  const p = $('preview');
  if (first) {
    p.onload = p.onerror = () => { if (!S.previewLoaded) { S.previewLoaded = true; maybeReady(); } };
  }
  p.src = `/img/${r.id}/full/${i}.jpg`;
  $('sel-label').textContent = `frame ${i} / ${r.n_frames - 1}`;
  $('sel-hist').textContent = r.history[i] > 0 ? `\u270E annotated ${r.history[i]}\u00D7` : '';
  $('sel-q').textContent = r.quality ? `quality ${r.quality[i].toFixed(3)}` : '';
  $('submit').textContent = `Annotate frame ${i}`;
}

function columns() {
  const thumbs = $('strip').children; if (!thumbs.length) return 1;
  const top = thumbs[0].offsetTop; let n = 0;
  for (const t of thumbs) { if (t.offsetTop !== top) break; n++; }
  return Math.max(1, n);
}

async function submit() {
  const r = S.round;
  if (!r || S.status !== 'choosing' || S.paused || S.submitting) return;
  S.submitting = true;
  try {
    const res = await api('/api/choose', { round_id: r.id, frame: S.sel });
    S.status = 'busy';
    screen(`Frame ${res.frame} chosen`, `${res.seconds.toFixed(1)} s. The robot scribbles it and the ` +
           'backend updates the segmentation\u2026', { spin: true });
    $('pause').disabled = true;
  } catch (e) {
    toast(e.message);
    S.submitting = false;
    if (e.status === 409) refresh();
  }
}

function setPaused(p) {
  S.paused = !!p;
  document.body.classList.toggle('paused', S.paused);
  $('pause').textContent = S.paused ? 'Resume' : 'Pause';
  if (S.paused) screen('Paused', 'The clock is stopped and the frames are hidden. Press Space or click Resume.',
                       { button: 'Resume', keepMain: true });
  else if (S.status === 'choosing') $('screen').hidden = true;
}

async function togglePause() {
  const r = S.round; if (!r || S.status !== 'choosing') return;
  try { const res = await api('/api/pause', { round_id: r.id, paused: !S.paused }); setPaused(res.paused); }
  catch (e) { toast(e.message); if (e.status === 409) refresh(); }
}

function endScreen(st) {
  const d = st.done || {};
  const tbl = document.createElement('table');
  const rows = [['participant', st.participant], ['choices made', d.n_choices],
                ['median seconds per choice', d.median_s == null ? '\u2013' : d.median_s.toFixed(2)],
                ['samples', d.n_samples], ['run folder', d.run_dir]];
  for (const [k, v] of rows) {
    const tr = tbl.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v == null ? '\u2013' : v;
  }
  $('c-round').textContent = 'finished'; $('c-sample').textContent = `${d.n_samples == null ? '' : d.n_samples + ' samples'}`;
  screen('Study complete \u2014 thank you!', 'All samples are done and your choices are saved. You can close this tab.',
         { extra: tbl });
  $('pause').disabled = true;
}

function render(st) {
  S.status = st.status;
  $('c-participant').textContent = st.participant;
  if (st.status === 'choosing' && st.round) {
    if (!S.round || st.round.id !== S.round.id) buildRound(st.round);
    else if (!!st.round.paused !== S.paused) setPaused(st.round.paused);
    return;
  }
  S.round = null; $('pause').disabled = true;
  if (st.status === 'done') endScreen(st);
  else if (st.status === 'stopped') screen('Study stopped', st.message + ' Reload this page once it runs again.');
  else screen(st.status === 'busy' ? 'Updating the segmentation\u2026' : 'Preparing\u2026', st.message, { spin: true });
}

async function refresh() {
  try { const st = await api('/api/state'); S.failures = 0; render(st); }
  catch (e) {
    if (++S.failures >= 3 && S.status !== 'done') {
      S.round = null;
      screen('The study server is not answering', 'If the study is not finished, it continues where it ' +
             'stopped when restarted with --resume (same participant); this page reconnects by itself.', {});
    }
  }
}

async function loop() {
  await refresh();
  setTimeout(loop, S.status === 'choosing' ? 1000 : S.status === 'done' ? 3000 : 300);
}

document.addEventListener('keydown', (ev) => {
  if (S.status !== 'choosing' || !S.round) return;
  if (ev.key === ' ' || ev.key === 'p' || ev.key === 'P') { ev.preventDefault(); togglePause(); return; }
  if (S.paused) return;
  const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns() };
  if (ev.key in moves) { ev.preventDefault(); select(S.sel + moves[ev.key]); }
  else if (ev.key === 'Home') { ev.preventDefault(); select(0); }
  else if (ev.key === 'End') { ev.preventDefault(); select(S.round.n_frames - 1); }
  else if (ev.key === 'Enter') { ev.preventDefault(); submit(); }
});
$('submit').addEventListener('click', submit);
$('pause').addEventListener('click', togglePause);
$('sc-button').addEventListener('click', togglePause);
loop();
"""
