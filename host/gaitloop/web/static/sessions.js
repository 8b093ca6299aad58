// gaitloop sessions page: recordings with summaries; a report made by `gaitloop report`'s own code
// (web/sessions.py calls report.write_report), downloadable as HTML, PNG and CSV.
"use strict";
function fmt(v, d, unit) { return v == null ? "–" : v.toFixed(d) + (unit || ""); }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
const COLS = 10;

function row(s, recording) {
  if (s.error)  // a file that cannot be read: one clear line, no report button
    return `<tr data-bad="${esc(s.name)}"><td>${esc(s.name)}</td><td colspan="${COLS - 1}" class="err">cannot be read: ${esc(s.error)}</td></tr>`;
  const note = s.note ? `<div class="warn" data-testid="note">recovered: ${esc(s.note)}</div>` : "";
  const button = s.name === recording ? "recording…" : `<button data-open="${esc(s.name)}">Report</button>`;
  return `<tr data-name="${esc(s.name)}"><td>${esc(s.name)}${note}</td>
    <td>${s.created ? esc(new Date(s.created * 1000).toLocaleString()) : "–"}</td>
    <td class="num">${fmt(s.duration_s, 1, " s")}</td><td>${esc(s.boards.join(", "))}</td><td class="num">${s.steps}</td>
    <td class="num">${fmt(s.mean_step_m, 2, " m")}</td><td class="num">${fmt(s.step_length_asym_pct, 1, " %")}</td>
    <td class="num">${fmt(s.step_si_pct, 1, " %")}</td><td class="num">${fmt(s.stance_si_pct, 1, " %")}</td><td>${button}</td></tr>`;
}

async function load() {
  const rows = document.getElementById("rows");
  let j;
  try {
    const r = await fetch("/api/sessions");
    j = await r.json();
    if (!r.ok) throw new Error(j.error || r.statusText);
  } catch (e) {
    rows.innerHTML = `<tr><td colspan="${COLS}" class="err">the sessions could not be listed: ${esc(e.message)}</td></tr>`;
    return;
  }
  document.getElementById("folder").textContent = `recordings in ${j.folder}` +
    (j.recording ? ` · now recording ${j.recording}` : "");
  if (!j.sessions.length) { rows.innerHTML = `<tr><td colspan="${COLS}" class="muted">no recordings yet: start one on the live page</td></tr>`; return; }
  rows.innerHTML = j.sessions.map(s => row(s, j.recording)).join("");
  for (const b of rows.querySelectorAll("button[data-open]")) b.onclick = () => openReport(b.dataset.open);
  const want = decodeURIComponent(location.hash.slice(1));
  if (want && j.sessions.some(s => s.name === want && !s.error)) openReport(want);
}

const MAIN = {"report.html": "HTML report", "report.png": "PNG (one page)", "steps.csv": "CSV (every step)"};

async function openReport(name) {
  const div = document.getElementById("report");
  for (const tr of document.querySelectorAll("#rows tr")) tr.classList.toggle("sel", tr.dataset.name === name);
  div.innerHTML = `<p class="muted">making the report of ${esc(name)}…</p>`;
  let r, j;
  try {
    r = await fetch(`/api/sessions/${encodeURIComponent(name)}/report`, {method: "POST"});
    j = await r.json();
  } catch (e) {
    div.innerHTML = `<p class="err" data-testid="report-error">no report: ${esc(e.message)}</p>`;
    return;
  }
  if (!r.ok) { div.innerHTML = `<p class="err" data-testid="report-error">no report: ${esc(j.error)}</p>`; return; }
  location.hash = encodeURIComponent(name);
  const base = `/files/${encodeURIComponent(name)}/`;
  // link text = the file's name (what lands in the downloads folder), its meaning beside it
  const link = (f, cls) => `<a class="${cls}" data-testid="download" data-file="${esc(f)}" href="${base}${encodeURIComponent(f)}" download>${esc(f)}</a>`;
  const main = Object.keys(MAIN).filter(f => j.files.includes(f))
    .map(f => `${link(f, "")}<span class="muted">${MAIN[f]}</span> `).join(" ");
  const more = j.files.filter(f => !(f in MAIN)).map(f => link(f, "more")).join("");
  div.innerHTML = `<h2>${esc(name)}</h2><div class="downloads">download: ${main}</div>
    <div class="downloads muted">signals and events of each board: ${more}</div>
    <iframe data-testid="report-frame" title="report of ${esc(name)}" src="${base}report.html?inline=1"
      style="width:100%;height:85vh;border:1px solid #ccc;background:#fff;margin-top:.5em"></iframe>`;
}
load();
