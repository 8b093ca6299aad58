// gaitloop live page, two-sleeve section: with a left and a right knee board the stream process
// computes each step from both legs at the front heel strike (docs/mgait.md, "Two knee
// sleeves"); this file only shows it. It listens to the frames live.js receives
// ("gaitloop:frame" events) so the main page script stays as it is. As in live.js, a frame only
// stores the data: the DOM and the canvas are written at the next animation frame, and only
// when the view changed (the page's main thread is the last stage of the latency).
"use strict";
(() => {
  const THRESHOLD = 25;  // % : the boards' buzzer threshold on the per-stride asymmetry
  const $ = id => document.getElementById(id);
  const stats = window.gaitloop.twoSleeves = {draws: 0, steps: 0, strides: 0};  // read by the browser tests
  let last = null, pending = null, key = null, scheduled = false, size = null;
  function m(v) { return v == null ? "–" : v.toFixed(2) + " m"; }
  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

  function onFrame(ts) {
    pending = ts || null;
    if (!scheduled) { scheduled = true; requestAnimationFrame(render); }
  }

  function render() {
    scheduled = false;
    const ts = pending, k = JSON.stringify(ts);
    if (k === key) return;  // the same view as drawn (most frames: no step since)
    key = k;
    show(ts);
  }

  function show(ts) {
    const sec = $("twosleeves");
    if (!ts) { sec.hidden = true; return; }
    sec.hidden = false; stats.draws++; stats.steps = ts.n_steps; stats.strides = ts.strides.length;
    setText($("ts-boards"), `${ts.boards[0] || "?"} (left leg) + ${ts.boards[1] || "?"} (right leg)`);
    stats.view = ts;
    setText($("ts-stepL"), m(ts.last_l_m));
    setText($("ts-stepR"), m(ts.last_r_m));
    setText($("ts-medL"), `last step; median ${m(ts.median_l_m)}`);
    setText($("ts-medR"), `last step; median ${m(ts.median_r_m)}`);
    setText($("ts-stride"), m(ts.stride_m));
    const a = $("ts-asym");
    setText(a, ts.asymmetry_pct == null ? "–" : ts.asymmetry_pct.toFixed(1) + " %");
    a.style.color = ts.asymmetry_pct != null && ts.asymmetry_pct > THRESHOLD ? "#d62728" : "";
    const notes = [];
    if (ts.error) notes.push(`two-sleeve display stopped: ${ts.error} (streaming and recording go on)`);
    else if (ts.waiting) notes.push("waiting for steps: each leg's angles start at a 2 s stand, then both legs must walk");
    else notes.push(`${ts.n_steps} steps` + (ts.rejected ? `, ${ts.rejected} outside 0.1-1.5 m left out (as the boards do)` : ""));
    if (ts.link_gaps) notes.push(`samples lost on a link ${ts.link_gaps} x: that leg started again at its next stand`);
    if (ts.restarts) notes.push(`this display fell behind ${ts.restarts} x and started again at a stand (the recording has every sample)`);
    setText($("ts-note"), notes.join(" · "));
    last = ts; draw();
  }

  function draw() {
    const c = $("ts-plot");
    if (!c || !size || $("twosleeves").hidden) return;
    const dpr = devicePixelRatio, [w, h] = size;
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
    const g = c.getContext("2d"), strides = last ? last.strides : [];
    const L = 34 * dpr, R = w - 4 * dpr, T = 4 * dpr, B = h - 4 * dpr;
    const top = Math.max(50, ...strides.map(s => s[1] * 1.1));
    const Y = v => B - Math.min(v, top) / top * (B - T);
    g.clearRect(0, 0, w, h);
    g.font = `${10 * dpr}px sans-serif`; g.fillStyle = "#666"; g.textBaseline = "middle";
    g.fillText(`${top.toFixed(0)} %`, 2, T + 5 * dpr); g.fillText("0", 2, B - 4 * dpr);
    g.strokeStyle = "#ccc"; g.lineWidth = 1; g.strokeRect(L, T, R - L, B - T);
    const n = 20, bw = (R - L) / n;
    strides.forEach(([, v], i) => {
      const x = L + (n - strides.length + i) * bw;
      g.fillStyle = v > THRESHOLD ? "#d62728" : "#2ca02c";
      g.fillRect(x + bw * 0.15, Y(v), bw * 0.7, B - Y(v));
    });
    g.strokeStyle = "#d62728"; g.setLineDash([4 * dpr, 3 * dpr]); g.beginPath();
    g.moveTo(L, Y(THRESHOLD)); g.lineTo(R, Y(THRESHOLD)); g.stroke(); g.setLineDash([]);
    g.fillStyle = "#d62728"; g.fillText("25 %", R - 30 * dpr, Y(THRESHOLD) - 7 * dpr);
  }

  document.addEventListener("gaitloop:frame", e => onFrame(e.detail.two_sleeves));
  // the canvas size from a ResizeObserver, never read in the middle of drawing (as live.js)
  new ResizeObserver(entries => {
    const e = entries[entries.length - 1], box = e.contentBoxSize && e.contentBoxSize[0];
    const w = box ? box.inlineSize : e.contentRect.width, h = box ? box.blockSize : e.contentRect.height;
    size = [Math.round(w * devicePixelRatio), Math.round(h * devicePixelRatio)];
    draw();
  }).observe($("ts-plot"));
})();
