"""The trace viewer's page: styles and script inline, no network. `{{TITLE}}` is replaced by
the HTML-escaped title, `{{DATA}}` by the run as script-safe JSON (`checker.viewer`)."""

BASE_STYLE = r"""<style>
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#1d2330;background:#f6f7f9;
 display:flex;flex-direction:column;height:100vh}
header{padding:8px 14px;background:#fff;border-bottom:1px solid #d8dce3}
h1{font-size:17px;margin:0 0 2px}
.sub{color:#566;font-size:13px}
"""  # the pages' common look: the trace viewer's and the timeline's

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}} — deepdives trace</title>
""" + BASE_STYLE + (
    r""".controls{display:flex;gap:10px;align-items:center;padding:6px 14px;background:#fff;
 border-bottom:1px solid #d8dce3;flex-wrap:wrap}
.controls input[type=range]{flex:1;min-width:160px}
button{font:inherit;padding:2px 10px;border:1px solid #aab;border-radius:4px;background:#fff;
 cursor:pointer}
button:hover{background:#eef}
#where{font-variant-numeric:tabular-nums;min-width:210px}
main{flex:1;display:flex;min-height:0}
#diagram{flex:3;display:flex;flex-direction:column;min-width:0;border-right:1px solid #d8dce3}
#lanes-head{position:relative;height:28px;background:#fff;border-bottom:1px solid #d8dce3;
 flex:none}
#scroll{flex:1;overflow:auto;position:relative;background:#fff}
#spacer{position:relative}
.row{position:absolute;left:0;right:0;height:26px;cursor:pointer;white-space:nowrap}
.row:hover{background:#f1f4fa}
.row.sel{background:#dde8ff}
.row.out{opacity:.45}
.row.violation{background:#ffe3e3}
.row.violation.sel{background:#ffc9c9}
.gutter{position:absolute;left:4px;top:4px;width:100px;color:#667;font-size:12px;
 font-variant-numeric:tabular-nums}
.lane{position:absolute;top:0;bottom:0;width:1px;background:#d5d9e0}
.arrow{position:absolute;top:15px;height:0;border-top:2px solid #3a5fcd}
.arrow.left:before,.arrow.right:after{position:absolute;top:-7px;font-size:11px;
 color:#3a5fcd}
.arrow.right:after{content:"\25B6";right:-4px}
.arrow.left:before{content:"\25C0";left:-4px}
.arrow.drop{border-top:2px dashed #c62828}
.arrow.drop:after,.arrow.drop:before{content:"\2716";color:#c62828}
.arrow.duplicate{border-top:4px double #e07b00}
.label{position:absolute;top:0;font-size:11.5px;overflow:hidden;text-overflow:ellipsis;
 color:#233}
.dot{position:absolute;top:9px;width:9px;height:9px;margin-left:-4px;border-radius:50%;
 background:#3a5fcd}
.fault .dot{background:#c62828;border-radius:1px;transform:rotate(45deg)}
.fault .label{color:#b71c1c;font-weight:600}
.band{position:absolute;top:11px;height:5px;border-top:2px dashed #c62828;
 border-bottom:2px dashed #c62828}
.band.heal{border-color:#2e7d32}
.implied .label{color:#778;font-style:italic}
#inspector{flex:2;overflow:auto;padding:10px 14px;min-width:320px}
h2{font-size:14px;margin:14px 0 6px;color:#334}
#step-text{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-word;
 background:#fff;border:1px solid #d8dce3;padding:6px 8px;border-radius:4px}
.alarm{background:#ffe3e3;border:1px solid #e57373;border-radius:4px;padding:8px;
 margin-top:8px}
.alarm b{color:#b71c1c}
.alarm pre{white-space:pre-wrap;word-break:break-word;margin:4px 0 0;font-size:12.5px}
#nodes{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:8px}
.card{background:#fff;border:1px solid #d8dce3;border-radius:4px;padding:6px 8px}
.card.here{border-color:#3a5fcd;box-shadow:0 0 0 1px #3a5fcd}
.card.down{background:#f3f3f3;color:#777}
.card h3{margin:0 0 4px;font-size:13px;display:flex;gap:6px;align-items:baseline}
.badge{font-size:11px;font-weight:600;padding:0 5px;border-radius:3px;background:#eee}
.badge.down{background:#c62828;color:#fff}
.badge.off{background:#7b1fa2;color:#fff}
table{border-collapse:collapse;width:100%;font-size:12px}
td{vertical-align:top;padding:1px 4px;border-top:1px solid #eef0f3}
td.k{color:#556;white-space:nowrap;width:1%}
td.v{font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
tr.changed td{background:#fff3b0}
ul.plain{list-style:none;margin:0;padding:0;font-family:ui-monospace,monospace;
 font-size:12px}
ul.plain li{padding:1px 0;word-break:break-all}
ul.plain li.new{background:#fff3b0}
.none{color:#889;font-style:italic}
.legend{font-size:12px;color:#556}
.legend span{margin-right:10px}
kbd{border:1px solid #aab;border-radius:3px;padding:0 4px;font-size:12px;background:#fff}
</style></head>
<body>
<header><h1 id="title"></h1><div class="sub" id="subtitle"></div></header>
<div class="controls">
 <button id="prev" title="previous step (Left arrow)">&larr;</button>
 <input id="slider" type="range" min="0" max="0" value="0" aria-label="step">
 <button id="next" title="next step (Right arrow)">&rarr;</button>
 <span id="where"></span>
 <label><input id="only-slice" type="checkbox" checked> causal slice only</label>
 <button id="to-violation">go to the violation</button>
 <span class="legend"><kbd>&larr;</kbd> <kbd>&rarr;</kbd> step,
 <kbd>Home</kbd> <kbd>End</kbd></span>
</div>
<main>
 <section id="diagram"><div id="lanes-head"></div>
  <div id="scroll"><div id="spacer"></div></div></section>
 <section id="inspector">
  <div id="step-text"></div><div id="alarm"></div>
  <h2>Nodes</h2><div id="nodes"></div>
  <h2>Messages in flight</h2><ul class="plain" id="messages"></ul>
  <h2>Timers pending</h2><ul class="plain" id="timers"></ul>
  <h2>Partition</h2><div id="partition"></div>
 </section>
</main>
<script type="application/json" id="run-data">{{DATA}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("run-data").textContent);
const ROW = 26, GUTTER = 108;
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}
const steps = D.steps, last = D.violation.step;
const groups = D.groups.map((g, n) => ({n: n + 1, first: g[0], last: g[g.length - 1],
  slice: g.some(i => steps[i].slice)}));
const byKind = {message: [], timer: [], status: [], island: [], state: {}};
D.intervals.forEach((iv, n) => {
  iv.n = n;
  const kind = iv[0];
  if (kind.startsWith("state:")) (byKind.state[kind.slice(6)] ||= []).push(iv);
  else byKind[kind].push(iv);
});
const startOf = iv => iv[iv.length - 2], endOf = iv => iv[iv.length - 1];
const holds = (iv, s) => startOf(iv) <= s && (endOf(iv) === null || s < endOf(iv));
const since = (iv, s) => startOf(iv) === s;
const EVERY = 64;  // a checkpoint of what holds every EVERY steps, made when first needed
function indexed(ivs) {
  const starts = new Map();
  for (const iv of ivs) {
    if (!starts.has(startOf(iv))) starts.set(startOf(iv), []);
    starts.get(startOf(iv)).push(iv);
  }
  return {starts, marks: [ivs.filter(iv => holds(iv, -1))]};
}
function holding(ix, s) {  // the intervals that hold after step s, in their original order
  const c = Math.floor((s + 1) / EVERY);
  for (let m = ix.marks.length; m <= c; m++)
    ix.marks.push(grow(ix, ix.marks[m - 1], (m - 1) * EVERY - 1, m * EVERY - 1));
  return grow(ix, ix.marks[c], c * EVERY - 1, s).sort((a, b) => a.n - b.n);
}
function grow(ix, held, from, to) {  // what holds after step `to`, from what held after `from`
  const found = held.filter(iv => holds(iv, to));
  for (let s = from + 1; s <= to; s++)
    for (const iv of ix.starts.get(s) || []) if (holds(iv, to)) found.push(iv);
  return found;
}
const index = {message: indexed(byKind.message), timer: indexed(byKind.timer),
  status: indexed(byKind.status), island: indexed(byKind.island), state: {}};
for (const node in byKind.state) index.state[node] = indexed(byKind.state[node]);
let rows = [], cur = 0;

function chooseRows(keepStep) {
  rows = $("only-slice").checked ? groups.filter(g => g.slice || g.last === last) : groups;
  const slider = $("slider");
  slider.max = Math.max(0, rows.length - 1);
  let at = rows.findIndex(g => g.last >= keepStep);
  cur = at < 0 ? rows.length - 1 : at;
  $("spacer").style.height = rows.length * ROW + "px";
  drawRows(true);
  select(cur, true);
}
function laneX(node) {
  const width = Math.max(300, $("scroll").clientWidth - GUTTER - 20);
  const i = D.nodes.indexOf(node);
  return GUTTER + (i + 0.5) * width / D.nodes.length;
}
function drawHead() {
  const head = $("lanes-head");
  head.replaceChildren();
  for (const node of D.nodes) {
    const name = el("div", "label", node);
    name.style.left = laneX(node) - 40 + "px";
    name.style.width = "80px";
    name.style.textAlign = "center";
    name.style.top = "6px";
    name.style.fontWeight = "600";
    head.append(name);
  }
}
function drawRow(r) {
  const g = rows[r], step = steps[g.first];
  const row = el("div", "row");
  row.dataset.row = r;
  row.style.top = r * ROW + "px";
  if (!g.slice) row.classList.add("out");
  if (g.last === last) row.classList.add("violation");
  if (r === cur) row.classList.add("sel");
  row.append(el("div", "gutter", g.n + ".  t=" + step.t));
  for (const node of D.nodes) {
    const lane = el("div", "lane");
    lane.style.left = laneX(node) + "px";
    row.append(lane);
  }
  if (step.phase === "implied") {
    row.classList.add("implied");
    const counts = {};
    for (let i = g.first; i <= g.last; i++) {
      const name = steps[i].node + " '" + steps[i].timer + "'";
      counts[name] = (counts[name] || 0) + 1;
    }
    const what = Object.entries(counts).map(([k, n]) => n > 1 ? k + " \u00d7" + n : k);
    addLabel(row, GUTTER + 6, 2000, "time passes to t=" + steps[g.last].t + ": "
      + what.join(", "));
  } else drawStep(row, step);
  row.addEventListener("click", () => select(r));
  return row;
}
function addLabel(row, x, width, text) {
  const label = el("div", "label", text);
  label.style.left = x + "px";
  label.style.maxWidth = width + "px";
  label.title = text;
  label.style.top = "5px";
  row.append(label);
  return label;
}
function drawStep(row, step) {
  if (step.fault) row.classList.add("fault");
  const prefix = step.phase === "quiesce" ? "(ending) " : "";
  if (step.src !== undefined && step.src !== step.dst) {
    const a = laneX(step.src), b = laneX(step.dst);
    const arrow = el("div", "arrow " + (a < b ? "right " : "left ") + step.kind);
    arrow.style.left = Math.min(a, b) + "px";
    arrow.style.width = Math.abs(b - a) + "px";
    row.append(arrow);
    const text = step.kind === "deliver" ? step.label : step.text;
    const label = addLabel(row, Math.min(a, b) + 6, Math.max(240, Math.abs(b - a) - 12),
      prefix + text);
    label.style.top = "0px";
  } else if (step.island !== undefined || step.kind === "heal") {
    const band = el("div", "band" + (step.kind === "heal" ? " heal" : ""));
    band.style.left = GUTTER + "px";
    band.style.right = "10px";
    row.append(band);
    addLabel(row, GUTTER + 10, 2000, prefix + step.text).style.background = "#fff";
  } else {
    const x = laneX(step.node !== undefined ? step.node : step.src);
    const dot = el("div", "dot");
    dot.style.left = x + "px";
    row.append(dot);
    const label = addLabel(row, x + 9, 2000, prefix + step.text);
    if (x > $("scroll").clientWidth / 2) {  // on the right: the label reads leftwards
      label.style.left = "";
      label.style.right = $("scroll").clientWidth - x + 9 + "px";
      label.style.textAlign = "right";
      label.style.maxWidth = x - GUTTER - 12 + "px";
    }
  }
}
let drawn = new Map();
function drawRows(all) {
  const scroll = $("scroll"), spacer = $("spacer");
  if (all) { spacer.replaceChildren(); drawn = new Map(); }
  const from = Math.max(0, Math.floor(scroll.scrollTop / ROW) - 15);
  const to = Math.min(rows.length, Math.ceil((scroll.scrollTop + scroll.clientHeight) / ROW)
    + 15);
  for (const [r, row] of drawn) if (r < from || r >= to) { row.remove(); drawn.delete(r); }
  for (let r = from; r < to; r++) if (!drawn.has(r)) {
    const row = drawRow(r);
    spacer.append(row);
    drawn.set(r, row);
  }
}
function select(r, scrollTo) {
  cur = Math.max(0, Math.min(rows.length - 1, r));
  $("slider").value = cur;
  for (const [i, row] of drawn) row.classList.toggle("sel", i === cur);
  if (scrollTo !== false) {
    const scroll = $("scroll"), top = cur * ROW;
    if (top < scroll.scrollTop || top > scroll.scrollTop + scroll.clientHeight - ROW)
      scroll.scrollTop = top - scroll.clientHeight / 2;
  }
  drawRows(false);
  inspect(rows[cur]);
}
function inspect(g) {
  const s = g.last, step = steps[s];
  const where = $("where");
  where.textContent = "step " + g.n + " \u00b7 t=" + step.t + " \u00b7 row " + (cur + 1)
    + " of " + rows.length + (g.slice ? "" : " \u00b7 not in the slice");
  where.dataset.step = s;
  let text = g.n + ". t=" + step.t + "  ";
  if (step.phase === "implied") text += "time passes: " + (g.last - g.first + 1)
    + " timer(s) fire on their own, up to t=" + step.t;
  else text += (step.phase === "quiesce" ? "(ending) " : "") + step.text;
  $("step-text").textContent = text;
  const alarm = $("alarm");
  alarm.replaceChildren();
  if (s === last && D.violation.status === "violated") {
    const box = el("div", "alarm");
    box.id = "violation";
    box.append(el("b", "", "\u26a0 " + D.violation.invariant + " violated after this step"));
    box.append(el("pre", "", D.violation.explanation));
    alarm.append(box);
  }
  drawNodes(s, step);
  drawList("messages", holding(index.message, s), s, iv => iv[0] + " \u2192 " + iv[1]
    + " #" + iv[2] + ": " + iv[3], "none in flight");
  drawList("timers", holding(index.timer, s).sort((a, b) => a[2] - b[2]), s,
    iv => iv[0] + ": " + iv[1] + " due t=" + iv[2], "none");
  const island = holding(index.island, s)[0];
  const part = $("partition");
  part.replaceChildren();
  if (island) {
    const rest = D.nodes.filter(n => !island[0].includes(n));
    part.append(el("div", "", "{" + island[0].join(", ") + "}  cut off from  {"
      + rest.join(", ") + "}"));
  } else part.append(el("span", "none", "none: every node can reach every other"));
}
function drawNodes(s, step) {
  const box = $("nodes");
  box.replaceChildren();
  const here = new Set([step.node, step.dst, ...(step.island || [])]);
  for (const node of D.nodes) {
    const card = el("div", "card");
    card.dataset.node = node;
    if (here.has(node)) card.classList.add("here");
    const title = el("h3", "", "");
    title.append(el("span", "", node));
    const status = holding(index.status, s).find(iv => iv[0] === node);
    if (status) {
      title.append(el("span", "badge " + (status[1] === "down" ? "down" : "off"),
        status[1]));
      if (status[1] === "down") card.classList.add("down");
    }
    if (D.clients.includes(node)) title.append(el("span", "badge", "client"));
    card.append(title);
    const table = el("table");
    for (const iv of index.state[node] ? holding(index.state[node], s) : []) {
      const tr = el("tr", since(iv, s) ? "changed" : "");
      tr.dataset.key = iv[1];
      tr.append(el("td", "k", iv[1]), el("td", "v", iv[2]));
      table.append(tr);
    }
    if (table.childElementCount) card.append(table);
    else card.append(el("div", "none", status ? "(no state while down)" : "(no state)"));
    box.append(card);
  }
}
function drawList(id, ivs, s, words, empty) {
  const list = $(id);
  list.replaceChildren();
  for (const iv of ivs) list.append(el("li", since(iv, s) ? "new" : "", words(iv)));
  if (!list.childElementCount) list.append(el("li", "none", empty));
}
$("title").textContent = D.title + " \u2014 " + D.violation.invariant + " "
  + D.violation.status;
$("subtitle").textContent = "config " + D.config + " \u00b7 " + steps.length + " steps ("
  + D.slice.chosen + " chosen events). Causal slice: " + D.slice.steps + " of "
  + D.slice.of + " steps, " + D.slice.chosenInSlice + " of the chosen events \u2014 "
  + D.slice.means + ".";
$("slider").addEventListener("input", e => select(Number(e.target.value)));
$("prev").addEventListener("click", () => select(cur - 1));
$("next").addEventListener("click", () => select(cur + 1));
$("to-violation").addEventListener("click", () => select(rows.length - 1));
$("only-slice").addEventListener("change", () => chooseRows(rows[cur].last));
$("scroll").addEventListener("scroll", () => drawRows(false));
window.addEventListener("resize", () => { drawHead(); drawRows(true); });
document.addEventListener("keydown", e => {
  if (e.target.tagName === "INPUT" && e.target.type !== "checkbox"
      && e.target.type !== "range") return;
  const moves = {ArrowLeft: cur - 1, ArrowRight: cur + 1, Home: 0, End: rows.length - 1};
  if (e.key in moves) { e.preventDefault(); select(moves[e.key]); }
});
drawHead();
chooseRows(-1);
</script>
</body></html>
""")
