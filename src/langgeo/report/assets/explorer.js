"use strict";
(function () {
const DATA = JSON.parse(document.getElementById("langgeo-data").textContent);
const NS = "http://www.w3.org/2000/svg";  // an XML namespace name, never fetched
// tab20, strong colours first (as in the PNG figures).
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
  "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
  "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5"];
const $ = (id) => document.getElementById(id);
const svg = $("svg");
// Colour by transfer cost: the grey of languages outside the pruning panel, the legend groups.
const NEUTRAL = "#d0d0d0", INSIDE = "in the pruning panel", OUTSIDE = "not in the pruning panel";
const state = { conf: 0, layout: "MDS", colourBy: "family", selected: null, k: 10,
  mst: false, codes: true, hidden: new Set(), view: null,
  source: DATA.transfer ? DATA.transfer.panel[0] : null, layerOf: new Map() };
const distanceCache = new Map();

const conf = () => DATA.configurations[state.conf];
const xy = () => conf().layouts[state.layout];
// Placed texts (langgeo place) have coordinates in the first configuration's MDS map only.
const placed = () => (state.conf === 0 && state.layout === "MDS" ? DATA.placed || [] : []);
const byText = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function lang(code) {
  const [name, family, branch] = DATA.languages[code];
  return { name, family, branch };
}

function distances(c) {
  // Upper triangle of float64 (little-endian), row-major, decoded once per configuration.
  if (!distanceCache.has(c.name)) {
    const raw = atob(c.distances), view = new DataView(new ArrayBuffer(raw.length));
    for (let i = 0; i < raw.length; i++) view.setUint8(i, raw.charCodeAt(i));
    const n = c.codes.length, d = new Float64Array(n * n);
    let p = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const v = view.getFloat64(8 * p++, true);
        d[i * n + j] = v;
        d[j * n + i] = v;
      }
    }
    distanceCache.set(c.name, d);
  }
  return distanceCache.get(c.name);
}

function neighbours(i, k) {
  // Nearest first; ties by position, as numpy's stable argsort orders them.
  const c = conf(), n = c.codes.length, d = distances(c);
  const idx = [];
  for (let j = 0; j < n; j++) if (j !== i) idx.push(j);
  idx.sort((a, b) => d[i * n + a] - d[i * n + b] || a - b);
  return idx.slice(0, k).map((j) => ({ j, distance: d[i * n + j] }));
}

function layersOf(model) {
  // The configurations of a model's representation geometry, in depth order.
  const all = DATA.configurations;
  return all.map((_, i) => i).filter((i) => all[i].layer && all[i].layer.model === model)
    .sort((a, b) => all[a].layer.layer - all[b].layer.layer);
}

function costOf(i) {
  // R[source, target] for the language at position i; null outside the pruning panel.
  const t = DATA.transfer, j = t.panel.indexOf(conf().codes[i]);
  return j < 0 ? null : t.cost[t.panel.indexOf(state.source)][j];
}

function costColour(v) {
  // As matplotlib maps a value through the colormap's lookup table (cost.png).
  const t = DATA.transfer, [lo, hi] = t.range, n = t.lut.length;
  const x = hi > lo ? (v - lo) / (hi - lo) : 0;
  return t.lut[Math.min(n - 1, Math.max(0, Math.floor(x * n)))];
}

function gradient() {
  const lut = DATA.transfer.lut, stops = [];
  for (let k = 0; k <= 10; k++) stops.push(lut[Math.round(k * (lut.length - 1) / 10)]);
  return "linear-gradient(to right, " + stops.join(", ") + ")";
}

const isSource = (i) => state.colourBy === "transfer" && conf().codes[i] === state.source;

function groupOf(i) {
  const c = conf();
  if (state.colourBy === "cluster") return "cluster " + c.clusters[i];
  if (state.colourBy === "transfer") return costOf(i) === null ? OUTSIDE : INSIDE;
  return lang(c.codes[i])[state.colourBy];
}

function colours() {
  // Largest groups first, then by name: the same order as the PNG legends. Past 20 groups
  // colours repeat; those groups get a dotted outline to tell them apart.
  const counts = new Map();
  conf().codes.forEach((_, i) => counts.set(groupOf(i), (counts.get(groupOf(i)) || 0) + 1));
  if (state.colourBy === "transfer") {
    // Each panel language its own colour on the continuous scale; the others neutral.
    return { groups: [INSIDE, OUTSIDE].filter((g) => counts.has(g)), counts, alt: new Set(),
      fill: (i) => (costOf(i) === null ? NEUTRAL : costColour(costOf(i))),
      swatch: (g) => (g === OUTSIDE ? NEUTRAL : gradient()) };
  }
  const groups = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a) || byText(a, b));
  const colour = new Map(groups.map((g, i) => [g, PALETTE[i % PALETTE.length]]));
  const alt = new Set(groups.filter((_, i) => Math.floor(i / PALETTE.length) % 2 === 1));
  return { groups, counts, alt, fill: (i) => colour.get(groupOf(i)), swatch: (g) => colour.get(g) };
}

function el(tag, attrs, parent, ns) {
  const e = ns ? document.createElementNS(NS, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) e.setAttribute(key, value);
  if (parent) parent.appendChild(e);
  return e;
}

function option(select, value, text) { el("option", { value }, select).textContent = text; }

function size() { const r = svg.getBoundingClientRect(); return [r.width, r.height]; }

function fit() {
  const all = xy().concat(placed().map((p) => p.xy));
  const [w, h] = size(), pad = 30, xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const scale = Math.min((w - 2 * pad) / ((x1 - x0) || 1), (h - 2 * pad) / ((y1 - y0) || 1));
  state.view = { scale, tx: w / 2 - scale * (x0 + x1) / 2, ty: h / 2 + scale * (y0 + y1) / 2 };
}

function screen(i) { return toScreen(xy()[i]); }

function toScreen([x, y]) {
  const v = state.view;
  return [v.tx + v.scale * x, v.ty - v.scale * y];  // data y points up
}

let pending = false;
function schedulePlace() {
  if (!pending) {
    pending = true;
    requestAnimationFrame(() => { pending = false; place(); });
  }
}

function place() {
  // Moves the existing elements (zoom and pan): sizes stay constant on screen.
  const pos = conf().codes.map((_, i) => screen(i));
  const set = (e, attrs) => { for (const k in attrs) e.setAttribute(k, attrs[k]); };
  for (const c of $("points").children) {
    const [x, y] = pos[+c.dataset.i];
    set(c, { cx: x, cy: y });
  }
  for (const t of $("codes").children) {
    const [x, y] = pos[+t.dataset.i];
    set(t, { x: x + 6, y: y - 5 });
  }
  for (const e of $("placed").children) {
    const [x, y] = toScreen(placed()[+e.dataset.p].xy);
    if (e.tagName === "rect") set(e, { x: x - 5, y: y - 5, transform: `rotate(45 ${x} ${y})` });
    else set(e, { x: x + 8, y: y + 4 });
  }
  for (const l of [...$("edges").children, ...$("links").children]) {
    const a = pos[+l.dataset.a], b = pos[+l.dataset.b];
    set(l, { x1: a[0], y1: a[1], x2: b[0], y2: b[1] });
  }
}

function draw() {
  // Rebuilds every element: on a change of configuration, layout, colour or selection.
  const c = conf(), { groups, counts, alt, fill, swatch } = colours();
  const near = state.selected === null ? [] : neighbours(state.selected, state.k);
  const nearSet = new Set(near.map((x) => x.j));
  for (const id of ["edges", "links", "points", "codes", "placed"]) $(id).replaceChildren();
  placed().forEach((p, k) => {
    el("rect", { width: 10, height: 10, "data-p": k, "data-name": p.name, class: "placed" },
      $("placed"), true);
    el("text", { "data-p": k }, $("placed"), true).textContent = p.name;
  });
  if (state.mst) {
    for (const [a, b] of c.mst) {
      el("line", { "data-a": a, "data-b": b, "data-codes": c.codes[a] + "-" + c.codes[b] },
        $("edges"), true);
    }
  }
  for (const x of near) el("line", { "data-a": state.selected, "data-b": x.j }, $("links"), true);
  // The selection and its neighbours are drawn last, on top; the transfer source above
  // the rest, never dimmed.
  const rank = (i) => (i === state.selected ? 2 : nearSet.has(i) ? 1 : 0);
  const depth = (i) => rank(i) + (isSource(i) ? 0.5 : 0);
  const order = c.codes.map((_, i) => i).sort((a, b) => depth(a) - depth(b));
  for (const i of order) {
    const g = groupOf(i), source = isSource(i);
    const dim = !source && (state.hidden.has(g) || state.selected !== null);
    const role = ((["", "neighbour", "selected"][rank(i)] || (dim ? "dim" : ""))
      + (source ? " source" : "")).trim();
    el("circle", { r: [source ? 6 : 4.5, 6, 8][rank(i)], fill: fill(i), "data-i": i,
      "data-code": c.codes[i], class: (role + (alt.has(g) ? " alt" : "")).trim() },
    $("points"), true);
    if (state.codes || rank(i) > 0 || source) {
      el("text", { "data-i": i, class: role }, $("codes"), true).textContent = c.codes[i];
    }
  }
  place();
  $("legend").replaceChildren();
  $("legend-title").textContent = (state.colourBy === "transfer"
    ? "transfer cost R from " + state.source + " — " + lang(state.source).name
    : state.colourBy) + " (click: show one group, then add or remove)";
  drawScale();
  for (const g of groups) {
    const li = el("li", { "data-group": g, class: state.hidden.has(g) ? "off" : "" }, $("legend"));
    el("span", { class: alt.has(g) ? "swatch alt" : "swatch", style: "background:" + swatch(g) },
      li);
    li.appendChild(document.createTextNode(g + " (" + counts.get(g) + ")"));
  }
  drawNeighbours(near);
  $("status").className = "";
  $("status").textContent = c.codes.length + " languages · " + c.name + " · " + state.layout;
}

function drawScale() {
  // The colour bar of the transfer cost: one scale, the range of the whole R matrix.
  const transfer = state.colourBy === "transfer";
  $("scale").hidden = !transfer;
  if (!transfer) return;
  const t = DATA.transfer, [lo, hi] = t.range;
  const ticks = el("div", { id: "scale-ticks" });
  for (const v of [lo, (lo + hi) / 2, hi]) el("span", {}, ticks).textContent = v.toFixed(3);
  const note = el("p");
  note.textContent = "R[source, b] = log P[source, b] − log P[b, b] (nats per token; P: "
    + "held-out perplexity on b of the model pruned with the source's text), colour map "
    + t.colormap + " as in reports/pruning/cost.png. Ringed: the source. Grey: languages "
    + "outside the panel of " + t.panel.length + ", which have no R.";
  $("scale").replaceChildren(el("div", { id: "scale-bar", style: "background:" + gradient() }),
    ticks, note);
}

function drawNeighbours(near) {
  const body = $("neighbours").tBodies[0], transfer = state.colourBy === "transfer";
  body.replaceChildren();
  $("neighbour-panel").hidden = state.selected === null;
  $("cost-head").hidden = !transfer;
  $("cost-head").textContent = transfer ? "R from " + state.source : "";
  if (state.selected === null) return;
  const c = conf(), code = c.codes[state.selected];
  $("neighbour-title").textContent =
    "Nearest to " + lang(code).name + " (" + code + ") in " + c.name;
  near.forEach((x, rank) => {
    const other = c.codes[x.j], l = lang(other), cost = transfer ? costOf(x.j) : null;
    const tr = el("tr", { "data-code": other, "data-distance": String(x.distance) }, body);
    const cells = [[rank + 1, "num"], [other, ""], [l.name, "clip"], [l.family, "clip"],
      [x.distance.toFixed(5), "num"]];
    if (transfer) {
      tr.dataset.cost = cost === null ? "" : String(cost);
      cells.push([cost === null ? "—" : cost.toFixed(4), "num"]);
    }
    for (const [text, cls] of cells) el("td", { class: cls, title: text }, tr).textContent = text;
  });
}

function select(i) { state.selected = i; draw(); }

function show(index) {
  // Another configuration or layer: the selected language stays selected where it exists.
  const code = state.selected === null ? null : conf().codes[state.selected];
  state.conf = index;
  if (conf().layer) state.layerOf.set(conf().layer.model, index);
  const i = code === null ? -1 : conf().codes.indexOf(code);
  state.selected = i < 0 ? null : i;
  state.hidden.clear();
  fillConfigurationControls();
  fit();
  draw();
}

function resolve(query) {
  // Exact code, exact name, "code — name" from the list, then prefixes, then substrings.
  const q = query.trim().toLowerCase(), c = conf();
  if (!q) return null;
  const rows = c.codes.map((code, i) => [i, code.toLowerCase(), lang(code).name.toLowerCase()])
    .sort((a, b) => byText(a[2], b[2]));
  const tests = [(r) => r[1] === q, (r) => r[2] === q, (r) => q === r[1] + " — " + r[2],
    (r) => r[1].startsWith(q) || r[2].startsWith(q), (r) => r[2].includes(q)];
  for (const test of tests) {
    const hit = rows.find(test);
    if (hit) return hit[0];
  }
  return -1;
}

function search(final) {
  const text = $("search").value.trim(), i = resolve(text);
  if (i === null) return;
  if (i === -1) {
    if (final) {
      $("status").className = "error";
      $("status").textContent = "no language matches \"" + text + "\" in " + conf().name;
    }
    return;
  }
  // While typing, jump only on an exact code or name; Enter takes the best match.
  const q = text.toLowerCase(), code = conf().codes[i];
  const exact = q === code.toLowerCase() || q === lang(code).name.toLowerCase();
  if (final || exact || q.includes(" — ")) select(i);
}

function fillControls() {
  // Weight configurations one entry each; a model's layers one entry, with a layer slider.
  DATA.configurations.forEach((c, i) => {
    if (!c.layer) option($("configuration"), i, c.name);
    else if (!state.layerOf.has(c.layer.model)) {
      // A model opens on its layer of highest mean ILO, where languages overlap most.
      const ilo = (k) => DATA.configurations[k].layer.ilo;
      state.layerOf.set(c.layer.model,
        layersOf(c.layer.model).reduce((a, b) => (ilo(b) > ilo(a) ? b : a)));
      option($("configuration"), "layers:" + c.layer.model, "representation, " + c.layer.model);
    }
  });
  for (const code of DATA.transfer ? DATA.transfer.panel : []) {
    option($("transfer-source"), code, code + " — " + lang(code).name);
  }
  fillConfigurationControls();
}

function fillConfigurationControls() {
  const c = conf(), layer = c.layer;
  $("configuration").value = layer ? "layers:" + layer.model : String(state.conf);
  $("layer-control").hidden = !layer;
  if (layer) {
    // The slider steps through the embedded layers only; the label gives the model's depth
    // and, where the page's size budget left layers out, which are here and where all are.
    const layers = layersOf(layer.model);
    const { layers: every, embedded, source } = DATA.representations.find(
      (r) => r.model === layer.model);
    $("layer").max = layers.length - 1;
    $("layer").value = layers.indexOf(state.conf);
    $("layer-info").textContent = "layer " + layer.layer + " (" + every[0] + "–"
      + every[every.length - 1] + ") · mean ILO " + layer.ilo.toFixed(3)
      + " · retrieval P@1 " + layer.retrieval_p1.toFixed(3)
      + (embedded.length < every.length ? " · " + embedded.length + " of " + every.length
        + " layers on this page (" + embedded.join(", ") + "), all in " + source : "");
  }
  for (const id of ["layout", "colour-by", "language-list"]) $(id).replaceChildren();
  for (const name of Object.keys(c.layouts)) option($("layout"), name, name);
  if (!(state.layout in c.layouts)) state.layout = "MDS";
  $("layout").value = state.layout;
  for (const by of ["family", "branch"].concat(c.clusters ? ["cluster"] : [])) {
    option($("colour-by"), by, by);
  }
  if (DATA.transfer) option($("colour-by"), "transfer", "transfer cost R from source");
  if (state.colourBy === "cluster" && !c.clusters) state.colourBy = "family";
  $("colour-by").value = state.colourBy;
  $("source-control").hidden = state.colourBy !== "transfer";
  $("transfer-source").value = state.source;
  for (const code of c.codes) {
    el("option", { value: code + " — " + lang(code).name }, $("language-list"));
  }
  $("k").max = c.codes.length - 1;
}

function csv() {
  const c = conf(), n = c.codes.length, { fill } = colours(), [w, h] = size();
  const d = state.selected === null ? null : distances(c);
  const transfer = state.colourBy === "transfer";
  const quote = (v) => (/[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : v);
  const rows = [["configuration", "layout", "code", "name", "family", "branch", "cluster",
    "x", "y", "colour_group", "colour", "in_view", "selected", "distance_to_selected",
    "transfer_source", "transfer_cost"]];
  c.codes.forEach((code, i) => {
    const l = lang(code), [x, y] = xy()[i], [sx, sy] = screen(i);
    const cost = transfer ? costOf(i) : null;
    rows.push([c.name, state.layout, code, l.name, l.family, l.branch,
      c.clusters ? c.clusters[i] : "", x, y, groupOf(i), fill(i),
      sx >= 0 && sx <= w && sy >= 0 && sy <= h, i === state.selected,
      d ? d[state.selected * n + i] : "", transfer ? state.source : "",
      cost === null ? "" : cost]);
  });
  return rows.map((r) => r.map(quote).join(",")).join("\n") + "\n";
}

function exportCsv() {
  const a = $("download"), url = URL.createObjectURL(new Blob([csv()], { type: "text/csv" }));
  a.href = url;
  a.download = "langgeo-" + conf().name.replace(/[^\w.-]+/g, "_") + "-" + state.layout + ".csv";
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function tooltip(event) {
  const t = $("tooltip"), target = event.target;
  if (target.tagName === "rect" && target.dataset.p !== undefined) {
    const p = placed()[+target.dataset.p];
    const lines = [p.name + " (placed text)", "family guess: " + p.family, "branch guess: "
      + p.branch, "nearest: " + p.neighbours.map((x) => x[0] + " " + x[1].toFixed(5)).join(", ")];
    t.replaceChildren(...lines.flatMap((line, k) => (k ? [el("br"), line] : [line])));
    t.hidden = false;
    const box = $("plot").getBoundingClientRect();
    t.style.left = (event.clientX - box.left + 12) + "px";
    t.style.top = (event.clientY - box.top + 12) + "px";
    return;
  }
  if (target.tagName !== "circle") { t.hidden = true; return; }
  const i = +target.dataset.i, c = conf(), code = c.codes[i], l = lang(code), s = state.selected;
  const lines = [code + " — " + l.name, "family: " + l.family, "branch: " + l.branch];
  if (c.clusters) lines.push("cluster: " + c.clusters[i]);
  if (state.colourBy === "transfer") {
    const cost = costOf(i);
    lines.push(cost === null ? "R: not in the pruning panel"
      : "R from " + state.source + ": " + cost.toFixed(4) + " nats/token");
  }
  if (s !== null && s !== i) {
    const d = distances(c)[s * c.codes.length + i];
    lines.push("distance to " + c.codes[s] + ": " + d.toFixed(5));
  }
  t.replaceChildren(...lines.flatMap((line, k) => (k ? [el("br"), line] : [line])));
  t.hidden = false;
  const box = $("plot").getBoundingClientRect();
  t.style.left = (event.clientX - box.left + 12) + "px";
  t.style.top = (event.clientY - box.top + 12) + "px";
}

function wireControls() {
  $("configuration").addEventListener("change", (e) => {
    const v = e.target.value;
    show(v.startsWith("layers:") ? state.layerOf.get(v.slice(7)) : +v);
  });
  $("layer").addEventListener("input", (e) => show(layersOf(conf().layer.model)[+e.target.value]));
  $("transfer-source").addEventListener("change", (e) => {
    state.source = e.target.value;
    draw();
  });
  $("layout").addEventListener("change", (e) => { state.layout = e.target.value; fit(); draw(); });
  $("colour-by").addEventListener("change", (e) => {
    state.colourBy = e.target.value;
    $("source-control").hidden = state.colourBy !== "transfer";
    state.hidden.clear();
    draw();
  });
  $("search").addEventListener("input", () => search(false));
  $("search").addEventListener("change", () => search(true));
  $("search").addEventListener("keydown", (e) => { if (e.key === "Enter") search(true); });
  // While typing, any whole number in range applies; leaving the field clamps what is left.
  $("k").addEventListener("input", (e) => {
    const k = +e.target.value;
    if (Number.isInteger(k) && k >= 1 && k < conf().codes.length && k !== state.k) {
      state.k = k;
      draw();
    }
  });
  $("k").addEventListener("change", (e) => {
    state.k = Math.max(1, Math.min(conf().codes.length - 1, Math.round(+e.target.value) || 10));
    e.target.value = state.k;
    draw();
  });
  $("mst").addEventListener("change", (e) => { state.mst = e.target.checked; draw(); });
  $("show-codes").addEventListener("change", (e) => { state.codes = e.target.checked; draw(); });
  $("reset").addEventListener("click", () => { fit(); place(); });
  $("export").addEventListener("click", exportCsv);
  $("neighbours").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-code]");
    if (tr) select(conf().codes.indexOf(tr.dataset.code));
  });
  $("legend").addEventListener("click", (e) => {
    const li = e.target.closest("li[data-group]");
    if (!li) return;
    const g = li.dataset.group, all = colours().groups;
    // The first click shows that group alone; later clicks toggle groups in and out.
    if (state.hidden.size === 0) all.forEach((x) => { if (x !== g) state.hidden.add(x); });
    else if (state.hidden.has(g)) state.hidden.delete(g);
    else state.hidden.add(g);
    if (state.hidden.size === all.length) state.hidden.clear();
    draw();
  });
}

function wirePlot() {
  svg.addEventListener("mousemove", tooltip);
  svg.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  svg.addEventListener("wheel", (e) => {
    e.preventDefault();
    const box = svg.getBoundingClientRect(), mx = e.clientX - box.left, my = e.clientY - box.top;
    const f = Math.exp(-e.deltaY * 0.0015), v = state.view;  // zoom about the cursor
    v.tx = mx - (mx - v.tx) * f;
    v.ty = my - (my - v.ty) * f;
    v.scale *= f;
    schedulePlace();
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY, tx: state.view.tx, ty: state.view.ty, moved: false,
      target: e.target };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 3) return;
    drag.moved = true;
    svg.classList.add("dragging");
    state.view.tx = drag.tx + dx;
    state.view.ty = drag.ty + dy;
    schedulePlace();
  });
  svg.addEventListener("pointerup", () => {
    // A press that did not move is a click: on a point it selects, elsewhere it clears.
    if (drag && !drag.moved) {
      select(drag.target.tagName === "circle" ? +drag.target.dataset.i : null);
    }
    drag = null;
    svg.classList.remove("dragging");
  });
  svg.addEventListener("dblclick", () => { fit(); place(); });
  window.addEventListener("resize", () => { fit(); place(); });
}

fillControls();
wireControls();
wirePlot();
fit();
draw();
document.body.dataset.ready = "true";
performance.mark("langgeo-ready");
})();
