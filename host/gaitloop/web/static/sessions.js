// gaitloop sessions page: recordings with summaries; a report made by `gaitloop report`'s code.
"use strict";
function fmt(v, d, unit) { return v == null ? "–" : v.toFixed(d) + (unit || ""); }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

async function load() {
  const r = await fetch("/api/sessions"), j = await r.json();
  document.getElementById("folder").textContent = `recordings in ${j.folder}` +
    (j.recording ? ` · now recording ${j.recording}` : "");
  const rows = document.getElementById("rows");
  if (!j.sessions.length) { rows.innerHTML = `<tr><td colspan="9" class="muted">no recordings yet: start one on the live page</td></tr>`; return; }
  rows.innerHTML = j.sessions.map(s => s.error ?
    `<tr><td>${esc(s.name)}</td><td colspan="8" class="muted">unreadable: ${esc(s.error)}</td></tr>` :
    `<tr data-name="${esc(s.name)}"><td>${esc(s.name)}</td><td>${s.created ? esc(new Date(s.created * 1000).toLocaleString()) : ""}</td><td>${fmt(s.duration_s, 1, " s")}</td>
     <td>${esc(s.boards.join(", "))}</td><td>${s.steps}</td><td>${fmt(s.mean_step_m, 2, " m")}</td>
     <td>${fmt(s.step_si_pct, 1, " %")}</td><td>${fmt(s.stance_si_pct, 1, " %")}</td>
     <td>${s.name === j.recording ? "recording…" : `<button data-open="${esc(s.name)}">Report</button>`}</td></tr>`).join("");
  for (const b of rows.querySelectorAll("button[data-open]")) b.onclick = () => openReport(b.dataset.open);
  const want = decodeURIComponent(location.hash.slice(1));
  if (want && j.sessions.some(s => s.name === want && !s.error)) openReport(want);
}

async function openReport(name) {
  const div = document.getElementById("report");
  div.innerHTML = `<p class="muted">making the report of ${esc(name)}…</p>`;
  const r = await fetch(`/api/sessions/${encodeURIComponent(name)}/report`, {method: "POST"});
  const j = await r.json();
  if (!r.ok) { div.innerHTML = `<p class="bad">${esc(j.error)}</p>`; return; }
  const base = `/files/${encodeURIComponent(name)}/`;
  const links = j.files.map(f => `<a data-testid="download" href="${base}${encodeURIComponent(f)}">${esc(f)}</a>`).join(" · ");
  div.innerHTML = `<h2>${esc(name)}</h2><p>download: ${links}</p>
    <iframe data-testid="report-frame" src="${base}report.html?inline=1" style="width:100%;height:80vh;border:1px solid #ccc;background:#fff"></iframe>`;
}
load();
