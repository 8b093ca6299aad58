// gaitloop live page: one WebSocket of display frames (25/s), traces drawn on <canvas>.
// No libraries, no build step: the page must work offline on a clinic laptop.
"use strict";
const WINDOW_S = 6;              // seconds of board time shown per trace
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const EV = {HS: 16, FF: 17, HO: 18, TO: 19, STEP: 48, SPEED: 50, ASYM: 54,
            BUZZ: 55, BUZZ_OFF: 56, LED: 57, LED_OFF: 58, TREND: 59};
const boards = {};               // link -> state
const stats = {frames: 0, points: 0, stances: 0, steps: 0, feedback: 0, drops: 0, latency_ms: [], latency_link: [], stages: [], pushes: []};
let pendingLatency = [];         // host times of newest samples received, measured when drawn
window.gaitloop = stats;         // read by the browser tests
let asym = null, knee = {}, cadenceInsole = {};
let dirty = false;

function fmt(v, d, unit) { return v == null || isNaN(v) ? "–" : v.toFixed(d) + (unit || ""); }

function boardState(b) {
  let s = boards[b.link];
  if (!s) {
    const div = document.createElement("div");
    div.className = "board"; div.dataset.testid = "board";
    div.innerHTML = `<div class="tools"><span class="calib" data-testid="calib"></span>` +
      `<button class="push" data-testid="push" hidden>Write calibration…</button>` +
      `<span class="modelstate" data-testid="modelstate"></span>` +
      `<button class="model" data-testid="push-model" hidden>Push model…</button></div>` +
      `<h2></h2><div class="health"></div><canvas></canvas><div class="legend"></div>`;
    document.getElementById("boards").appendChild(div);
    s = boards[b.link] = {div, t: [], v: [], stance: [], openHS: null, steps: [], now: null, plotted: null};
  }
  if (b.device && !s.titled) {
    s.titled = true;
    const what = b.kind === "insole" ? "insole: heel and ball force, stance shaded" :
                 b.kind === "knee" ? "knee sleeve: knee angles, steps marked" : b.kind;
    s.div.querySelector("h2").textContent = `${b.device} (${b.side}) — ${what}`;
    // plot the channels in the first channel's unit: forces (N) or knee angles (deg)
    s.plotted = b.channels.map((c, i) => i);  // the server sends the channels to draw
    s.div.querySelector(".legend").innerHTML = s.plotted.map((i, k) =>
      `<span><i class="sw" style="background:${COLORS[k % 4]}"></i>${b.channels[i]} (${b.units[i]})</span>`).join("") +
      (b.kind === "insole" ? `<span><i class="sw" style="background:#cfe3f7"></i>stance (heel strike → toe off)</span><span><i class="sw" style="background:#fff;border:1px solid #ccc"></i>swing</span>` : "") +
      (b.kind === "knee" ? `<span>| step: length at contact (L/R)</span>` : "");
    s.kind = b.kind; s.units = b.units; s.device = b.device; s.port = b.port; s.link = b.link;
    const pb = s.div.querySelector("button.push");
    pb.hidden = false; pb.onclick = () => openPush(s);
    const mb = s.div.querySelector("button.model");
    mb.hidden = false; mb.onclick = () => openModel(s);
  }
  return s;
}

function onFrame(f) {
  stats.frames++; stats.drops = f.drops || 0;
  for (const b of f.boards) {
    const s = boardState(b);
    for (let i = 0; i < b.t.length; i++) { s.t.push(b.t[i]); s.v.push(b.v[i]); }
    stats.points += b.t.length;
    if (b.now != null) s.now = b.now;
    if (b.t.length && b.shown_host != null)
      pendingLatency.push([b.link, b.shown_host, b.shown_rx, f.built, f.fwd, f.sent, f.recv]);
    const h = b.health;
    s.div.querySelector(".health").textContent =
      `link ${b.port} · ${h.rx_rate_hz == null ? "–" : h.rx_rate_hz.toFixed(0)} samples/s received (board ${b.rate_hz || "?"} Hz) · ` +
      `${h.gaps} frame gaps · ${h.samples_missing} samples missing · ${h.crc_errors} CRC errors` +
      (h.resumes ? ` · ${h.resumes} BLE (re)connects` : "") + ` · ${h.samples} samples`;
    if (s.now != null) {
      const cut = s.now - WINDOW_S - 1;
      let k = 0; while (k < s.t.length && s.t[k] < cut) k++;
      if (k) { s.t.splice(0, k); s.v.splice(0, k); }
      s.stance = s.stance.filter(p => p[1] == null || p[1] > cut);
      s.steps = s.steps.filter(p => p.t > cut);
    }
  }
  for (const e of f.events) onEvent(e);
  knee = f.knee || {}; asym = f.asymmetry;
  showNumbers(f);
  if (f.recording) showRecording(f.recording);
  dirty = true;
}

function onEvent(e) {
  const s = boards[e.link]; if (!s) return;
  const side = e.side === 0 ? "left" : "right";
  if (e.code === EV.HS) { s.openHS = e.t; s.stance.push([e.t, null]); stats.stances++; }
  else if (e.code === EV.TO) {
    const open = s.stance.length && s.stance[s.stance.length - 1][1] == null ? s.stance[s.stance.length - 1] : null;
    if (open) open[1] = e.t; else s.stance.push([e.t - e.a / 1000, e.t]);
    if (e.b) cadenceInsole[side] = e.b / 100;
  } else if (e.code === EV.STEP) { s.steps.push({t: e.t, mm: e.a, side}); stats.steps++; }
  if (e.feedback) addFeedback(e, side);
}

function addFeedback(e, side) {
  const ul = document.getElementById("feedback");
  if (!stats.feedback) ul.innerHTML = "";
  stats.feedback++;
  const b = boards[e.link];
  const text = {
    [EV.BUZZ]: ["buzz", `buzzer ON: step asymmetry ${(e.a / 100).toFixed(0)} %`],
    [EV.BUZZ_OFF]: ["buzz", `buzzer off (asymmetry ${(e.a / 100).toFixed(0)} %)`],
    [EV.LED]: ["led", `LED ON: steps shorter (recent ${(e.a / 1000).toFixed(2)} m vs baseline ${(e.b / 1000).toFixed(2)} m)`],
    [EV.LED_OFF]: ["led", `LED off (recent ${(e.a / 1000).toFixed(2)} m)`],
    [EV.TREND]: ["speed", `speed notice: ${(e.a / 1000).toFixed(2)} m/s, ${(e.b / 100).toFixed(0)} % slower`],
  }[e.code] || ["", e.name];
  const li = document.createElement("li");
  li.className = text[0];
  li.textContent = `${new Date().toLocaleTimeString()} · ${b && b.titled ? b.div.querySelector("h2").textContent.split(" ")[0] : "board " + e.link} · ${text[1]}`;
  ul.prepend(li);
  while (ul.children.length > 50) ul.lastChild.remove();
}

function showNumbers(f) {
  document.getElementById("stepL").textContent = fmt(knee.step_left_m, 2, " m");
  document.getElementById("stepR").textContent = fmt(knee.step_right_m, 2, " m");
  const ci = Object.values(cadenceInsole);
  let cad = knee.cadence_spm, src = "steps / min (knee sleeve)";
  if (cad == null && ci.length) { cad = ci.reduce((a, b) => a + b, 0) / ci.length; src = "steps / min (insoles)"; }
  document.getElementById("cadence").textContent = fmt(cad, 0);
  document.getElementById("cadsrc").textContent = src;
  document.getElementById("speed").textContent = fmt(knee.speed_m_s, 2, " m/s");
  for (const [id, side] of [["phaseL", "left"], ["phaseR", "right"]]) {
    const st = asym && asym.stance[side + "_ms"], sw = asym && asym.swing[side + "_ms"];
    document.getElementById(id).textContent = st == null ? "–" : `${st.toFixed(0)} / ${fmt(sw, 0)}`;
  }
  document.getElementById("display").textContent =
    `display frames: ${stats.frames} · dropped by this page: ${stats.drops}`;
}

function asymRows() {
  const rows = [];
  if (asym) {
    rows.push(["step time (insoles)", asym.step.si_pct]);
    rows.push(["stance time (insoles)", asym.stance.si_pct]);
  }
  if (knee.asym_pct != null) rows.push(["step length (knee)", knee.asym_pct]);
  return rows;
}

function drawAsym() {
  const c = document.getElementById("asym"), g = fit(c), W = c.width, H = c.height;
  const rows = asymRows(), max = 50, xv = W * 0.46, x0 = W * 0.62, bw = W - x0 - 8;
  g.clearRect(0, 0, W, H);
  const rh = H / Math.max(rows.length, 1);
  g.font = `${Math.min(12, rh * 0.6) * devicePixelRatio}px sans-serif`; g.textBaseline = "middle";
  rows.forEach(([name, v], i) => {
    const y = i * rh;
    g.fillStyle = "#333"; g.fillText(name, 4, y + rh / 2);
    if (v == null) { g.fillText("–", xv, y + rh / 2); return; }
    const a = Math.min(Math.abs(v), max);  // bars end at 50 %; the number is exact
    g.fillStyle = Math.abs(v) > 25 ? "#d62728" : "#2ca02c";
    g.fillRect(x0, y + rh * 0.2, bw * a / max, rh * 0.6);
    g.fillText(`${Math.abs(v).toFixed(1)} %`, xv, y + rh / 2);
  });
  const lx = x0 + bw * 25 / max;
  g.strokeStyle = "#d62728"; g.setLineDash([4, 3]); g.beginPath(); g.moveTo(lx, 0); g.lineTo(lx, H); g.stroke(); g.setLineDash([]);
  document.getElementById("asymtext").textContent = rows.length ?
    "symmetry index |L−R| / mean(L,R); dashed line: 25 %" : "waiting for left and right steps";
}

function fit(c) {
  const w = Math.round(c.clientWidth * devicePixelRatio), h = Math.round(c.clientHeight * devicePixelRatio);
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  return c.getContext("2d");
}

function drawBoard(s) {
  const c = s.div.querySelector("canvas"), g = fit(c), W = c.width, H = c.height, dpr = devicePixelRatio;
  g.clearRect(0, 0, W, H);
  if (s.now == null || !s.plotted) return;
  const t1 = s.now, t0 = t1 - WINDOW_S, L = 44 * dpr, R = W - 6 * dpr, T = 6 * dpr, B = H - 16 * dpr;
  const X = t => L + (t - t0) / WINDOW_S * (R - L);
  for (const [a, b] of s.stance) {   // stance shaded, swing left white
    const xa = Math.max(X(a), L), xb = Math.min(X(b == null ? t1 : b), R);
    if (xb > xa) { g.fillStyle = "#cfe3f7"; g.fillRect(xa, T, xb - xa, B - T); }
  }
  let lo = Infinity, hi = -Infinity;
  for (const v of s.v) for (const i of s.plotted) { lo = Math.min(lo, v[i]); hi = Math.max(hi, v[i]); }
  if (!isFinite(lo)) return;
  if (hi - lo < 1e-6) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.05; lo -= pad; hi += pad;
  const Y = v => B - (v - lo) / (hi - lo) * (B - T);
  g.strokeStyle = "#ccc"; g.fillStyle = "#666"; g.font = `${10 * dpr}px sans-serif`; g.lineWidth = 1;
  g.strokeRect(L, T, R - L, B - T);
  g.fillText(hi.toFixed(0) + " " + s.units[s.plotted[0]], 2, T + 10 * dpr);
  g.fillText(lo.toFixed(0), 2, B);
  g.fillText(`last ${WINDOW_S} s (board time)`, L, H - 3 * dpr);
  s.plotted.forEach((ci, k) => {
    g.strokeStyle = COLORS[k % 4]; g.lineWidth = 1.5 * dpr; g.beginPath();
    let started = false;
    for (let j = 0; j < s.t.length; j++) {
      if (s.t[j] < t0) continue;
      const x = X(s.t[j]), y = Y(s.v[j][ci]);
      if (!started) { g.moveTo(x, y); started = true; } else g.lineTo(x, y);
    }
    g.stroke();
  });
  g.lineWidth = 1;
  for (const st of s.steps) {
    const x = X(st.t); if (x < L) continue;
    g.strokeStyle = st.side === "left" ? "#1f77b4" : "#d62728";
    g.beginPath(); g.moveTo(x, T); g.lineTo(x, B); g.stroke();
    g.fillStyle = g.strokeStyle;
    g.fillText(`${st.side[0].toUpperCase()} ${(st.mm / 1000).toFixed(2)} m`, x + 2, T + 10 * dpr);
  }
}

function draw() {
  if (dirty) {
    dirty = false; for (const s of Object.values(boards)) drawBoard(s); drawAsym();
    // sample leaving the board -> drawn on the page (same host clock: the one timeline)
    const now = (performance.timeOrigin + performance.now()) / 1000;
    for (const [link, h, rx, built, fwd, sent, recv] of pendingLatency) {
      stats.latency_ms.push((now - h) * 1000); stats.latency_link.push(link);
      // by stage (ms): board -> read by the stream process, -> display frame built, -> read by
      // the server process, -> taken by this page's socket task, -> received here, -> drawn
      if (rx != null && built != null && fwd != null && sent != null && recv != null)
        stats.stages.push([rx - h, built - rx, fwd - built, sent - fwd, recv - sent, now - recv].map(x => x * 1000));
    }
    pendingLatency = [];
    if (stats.latency_ms.length > 20000) { stats.latency_ms.splice(0, 10000); stats.latency_link.splice(0, 10000); }
    if (stats.stages.length > 20000) stats.stages.splice(0, 10000);
  }
  requestAnimationFrame(draw);
}

function showRecording(r) {
  const b = document.getElementById("rec"), f = document.getElementById("recfile");
  if (r) { b.textContent = "Stop recording"; b.classList.add("on"); f.textContent = `● recording ${r.file} (${r.seconds.toFixed(0)} s)`; }
}

let recording = false;
document.getElementById("rec").onclick = async () => {
  const b = document.getElementById("rec"), f = document.getElementById("recfile");
  b.disabled = true;
  try {
    const action = recording ? "stop" : "start";  // frames may update `recording` meanwhile
    const r = await fetch(`/api/record/${action}`, {method: "POST"});
    const j = await r.json();
    if (!r.ok) { f.textContent = "error: " + j.error; return; }
    recording = action === "start";
    if (recording) { showRecording({file: j.file, seconds: 0}); }
    else { b.textContent = "Start recording"; b.classList.remove("on");
           f.innerHTML = `saved <a href="/sessions#${encodeURIComponent(j.file)}">${j.file}</a> (${j.seconds} s)`; }
  } finally { b.disabled = false; }
};

// Writing to a board: a dialog names the board and shows what will be written; nothing is
// sent before "Write to <board>" is pressed, and the server logs every attempt (who, what, result).
let pushTarget = null, pushCal = null;
function calibText(c) {
  return c && c.sha256 ? `calibration v${c.version} (slot ${c.slot}, ${c.sha256.slice(0, 8)})` : "built-in calibration";
}
async function openPush(s) {
  pushTarget = s; pushCal = null;
  const $ = id => document.getElementById(id);
  $("pushboard").textContent = s.device; $("pushport").textContent = `(${s.kind}, ${s.port})`;
  $("pushfile").value = ""; $("pushwhat").textContent = ""; $("pushresult").textContent = "";
  $("pushsummary").textContent = "Choose a calibration file.";
  $("pushwho").value = localStorage.getItem("gaitloop.who") || "";
  $("pushok").textContent = `Write to ${s.device}`; pushReady();
  $("pushdlg").showModal();
  $("pushnow").textContent = "asking the board what it runs…";
  try {
    const r = await fetch(`/api/boards/${s.link}/info`), j = await r.json();
    $("pushnow").textContent = r.ok ? `now runs: ${calibText(j.calibration)}` : `board status unknown: ${j.error}`;
  } catch (e) { $("pushnow").textContent = "board status unknown"; }
}
function pushReady() {
  const who = document.getElementById("pushwho").value.trim();
  document.getElementById("pushok").disabled = !(pushCal && who);
}
document.getElementById("pushwho").oninput = pushReady;
document.getElementById("pushfile").onchange = async ev => {
  const $ = id => document.getElementById(id), file = ev.target.files[0];
  pushCal = null; $("pushwhat").textContent = "";
  if (file) {
    try {
      const cal = JSON.parse(await file.text());
      if (cal === null || typeof cal !== "object" || Array.isArray(cal)) throw new Error("not a JSON object");
      pushCal = {name: file.name, cal};
      $("pushwhat").textContent = JSON.stringify(cal, null, 1);
      $("pushsummary").textContent = `This writes the calibration "${file.name}" (${Object.keys(cal).join(", ")}) ` +
        `to ${pushTarget.device} on ${pushTarget.port}. The board checks it, switches to it and keeps the ` +
        `previous one (gaitloop push --rollback calibration undoes it). The write is logged with your name.`;
    } catch (e) { $("pushsummary").textContent = `${file.name}: ${e.message}`; }
  }
  pushReady();
};
document.getElementById("pushcancel").onclick = () => document.getElementById("pushdlg").close();
document.getElementById("pushok").onclick = async () => {
  const $ = id => document.getElementById(id), s = pushTarget, who = $("pushwho").value.trim();
  localStorage.setItem("gaitloop.who", who);
  $("pushok").disabled = true; $("pushresult").textContent = `writing to ${s.device}…`;
  try {
    const r = await fetch(`/api/boards/${s.link}/calibration`, {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({calibration: pushCal.cal, name: pushCal.name, confirm: s.device, who})});
    const j = await r.json();
    if (!r.ok) { $("pushresult").textContent = "not written: " + j.error; return; }
    const text = `${s.device} now runs ${calibText(j.calibration)}`;
    $("pushresult").textContent = "written: " + text;
    s.div.querySelector(".calib").textContent = calibText(j.calibration);
  } catch (e) { $("pushresult").textContent = "not written: " + e.message; }
  finally { pushReady(); }
};

// Pushing a model: the server lists the models it may push (shipped ones and the sessions
// folder's models/), each with its card; the page names one by its id, never a path. Nothing
// is sent before "Push to <board>" is pressed; progress comes over the WebSocket; the outcome
// (active / failed / rolled back / refused) is shown here and logged by the server.
let modelTarget = null, modelCards = {}, modelSigning = null, modelBusy = false, modelBoardProblem = null;
const kb = n => n == null ? "–" : n < 1024 ? `${n} bytes` : `${(n / 1024).toFixed(1)} KB (${n} bytes)`;
function modelText(m) {
  return m && m.sha256 ? `model v${m.version} (slot ${m.slot}, ${m.sha256.slice(0, 8)})` : "its built-in model";
}
async function openModel(s) {
  const $ = id => document.getElementById(id);
  modelTarget = s; modelCards = {}; modelBoardProblem = null;
  $("modelboard").textContent = s.device; $("modelport").textContent = `(${s.kind}, ${s.port})`;
  $("modelresult").textContent = ""; $("modelresult").className = "";
  $("modelprog").hidden = true; $("modelprogtext").textContent = "";
  $("modelwho").value = localStorage.getItem("gaitloop.who") || "";
  $("modelok").textContent = `Push to ${s.device}`;
  $("modeldlg").showModal();
  $("modelnow").textContent = "asking the board what it runs…";
  const pick = $("modelpick");
  pick.innerHTML = `<option value="">loading the models this server offers…</option>`;
  modelShow();
  const [info, list] = await Promise.all([
    fetch(`/api/boards/${s.link}/info`).then(async r => [r.ok, await r.json()]).catch(e => [false, {error: e.message}]),
    fetch("/api/models").then(async r => [r.ok, await r.json()]).catch(e => [false, {error: e.message}])]);
  $("modelnow").textContent = info[0] ? `now runs: ${modelText(info[1].model)}` : `board status unknown: ${info[1].error}`;
  const b = info[0] ? info[1].board || {} : {};  // the server checks these again on the push
  if (b.kind === "knee") modelBoardProblem = `${s.device} is a knee sleeve: it runs no student model`;
  else if (info[0] && !b.keyed) modelBoardProblem = `${s.device} has no update key; provision it with gaitloop flash`;
  if (!list[0]) { pick.innerHTML = `<option value="">cannot list models: ${list[1].error}</option>`; return; }
  modelSigning = list[1].signing;
  $("modelfolder").textContent = `shipped models, and the files in ${list[1].folder}`;
  pick.innerHTML = `<option value="">choose a model…</option>`;
  for (const m of list[1].models) {  // file names come from a folder: text, never HTML
    modelCards[m.id] = m;
    pick.add(new Option(`${m.source} · ${m.name}${m.error ? " (cannot be pushed)" : ""}`, m.id));
  }
  modelShow();
}
function modelShow() {
  const $ = id => document.getElementById(id), m = modelCards[$("modelpick").value], s = modelTarget;
  $("modelsummary").className = "warn";
  if (!m) { $("modelsummary").textContent = "Choose a model."; document.querySelector(".modelcard").hidden = true; return modelReady(); }
  document.querySelector(".modelcard").hidden = false;
  $("mc-name").textContent = `${m.name} (${m.id.startsWith("shipped/") ? "shipped with gaitloop" : "sessions folder"})`;
  $("mc-size").textContent = kb(m.size);
  $("mc-sha").textContent = m.sha256 || "–";
  $("mc-what").textContent = m.error ? "–" : `${m.task === "grf" ? "ground reaction force" : "gait phase"} student, ` +
    `${m.inputs} input channels × ${m.window} samples → ${m.outputs} output${m.outputs > 1 ? "s" : ""}, ` +
    `version ${m.version}${m.self_test ? ", with a self-test vector" : ", no self-test vector"}`;
  $("mc-sig").textContent = modelSigning ? modelSigning.text : "–";
  if (m.error) { $("modelsummary").textContent = "cannot be pushed: " + m.error; $("modelsummary").className = "err"; }
  else if (modelBoardProblem) { $("modelsummary").textContent = "cannot be pushed: " + modelBoardProblem; $("modelsummary").className = "err"; }
  else if (modelSigning && !modelSigning.ok) { $("modelsummary").textContent = "cannot be pushed: " + modelSigning.text; $("modelsummary").className = "err"; }
  else $("modelsummary").textContent = `This pushes the model "${m.name}" (SHA-256 ${m.sha256.slice(0, 12)}…) to ` +
    `${s.device} on ${s.port}, signed for that board. The board writes it to its spare slot while it streams, ` +
    `checks it and runs its self-test, then switches to it and keeps the previous model ` +
    `(gaitloop push --rollback model undoes it). The push is logged with your name.`;
  modelReady();
}
function modelReady() {
  const $ = id => document.getElementById(id), m = modelCards[$("modelpick").value];
  $("modelok").disabled = modelBusy || !(m && !m.error && !modelBoardProblem && modelSigning && modelSigning.ok &&
    $("modelwho").value.trim());
}
document.getElementById("modelpick").onchange = modelShow;
document.getElementById("modelwho").oninput = modelReady;
document.getElementById("modelcancel").onclick = () => document.getElementById("modeldlg").close();
function onPushProgress(p) {
  const s = boards[p.link];
  stats.pushes.push([p.link, p.stage, p.done, p.total]);  // read by the browser tests
  if (stats.pushes.length > 1000) stats.pushes.splice(0, 500);
  const text = p.stage === "sending" ? `sending ${p.file}: ${kb(p.done)} of ${kb(p.total)}` :
    p.stage === "on trial" ? `${p.file} verified and switched to; on trial (5 s of samples)` :
    p.stage === "refused" ? `${p.file}: not pushed` : `${p.file}: ${p.stage}`;
  if (s) s.div.querySelector(".modelstate").textContent = text;
  if (modelTarget && modelTarget.link === p.link && modelBusy) {
    const $ = id => document.getElementById(id);
    $("modelprog").hidden = false; $("modelprog").max = p.total || 1; $("modelprog").value = p.done;
    $("modelprogtext").textContent = text;
  }
}
document.getElementById("modelok").onclick = async () => {
  const $ = id => document.getElementById(id), s = modelTarget, m = modelCards[$("modelpick").value];
  const who = $("modelwho").value.trim();
  localStorage.setItem("gaitloop.who", who);
  modelBusy = true; modelReady(); $("modelpick").disabled = true;
  $("modelresult").className = ""; $("modelresult").textContent = `pushing ${m.name} to ${s.device}…`;
  let text, cls = "err";
  try {
    const r = await fetch(`/api/boards/${s.link}/model`, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({model: m.id, sha256: m.sha256, confirm: s.device, who})});
    const j = await r.json();
    if (j.outcome === "active") {
      cls = "";
      text = `active: ${s.device} runs ${m.name} as ${modelText(j.model)}` +
        (j.confirmed ? ", confirmed after its trial" : ", still on trial");
    } else if (j.outcome === "rolled back") text = `rolled back: ${j.error}; it runs ${modelText(j.model)}`;
    else if (j.outcome === "failed") text = `failed: ${j.error}; ${s.device} still runs its previous model`;
    else text = `not pushed: ${j.error}`;
    if (j.model) s.div.querySelector(".modelstate").textContent = modelText(j.model);
    else if (j.outcome) s.div.querySelector(".modelstate").textContent = "";
  } catch (e) { text = "not pushed: " + e.message; }
  finally { modelBusy = false; $("modelpick").disabled = false; modelReady(); }
  $("modelresult").textContent = text; $("modelresult").className = cls;
  $("modelprog").hidden = true; $("modelprogtext").textContent = "";
  fetch(`/api/boards/${s.link}/info`).then(r => r.ok ? r.json() : null).then(j => {
    if (j && modelTarget === s) $("modelnow").textContent = `now runs: ${modelText(j.model)}`;
  }).catch(() => {});
};

function connect() {
  const conn = document.getElementById("conn");
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onopen = () => { conn.textContent = "● live"; conn.className = "ok"; };
  ws.onmessage = m => {
    const f = JSON.parse(m.data);
    f.recv = (performance.timeOrigin + performance.now()) / 1000;
    if (f.type === "frame") { onFrame(f); recording = !!f.recording; if (!f.recording && document.getElementById("rec").classList.contains("on")) { document.getElementById("rec").classList.remove("on"); document.getElementById("rec").textContent = "Start recording"; } }
    else if (f.type === "push") onPushProgress(f);
    else if (f.type === "error") { conn.textContent = "stream stopped: " + f.error; conn.className = "bad"; }
  };
  ws.onclose = () => { conn.textContent = "disconnected, retrying…"; conn.className = "bad"; setTimeout(connect, 2000); };
}
connect();
requestAnimationFrame(draw);
