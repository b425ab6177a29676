// The memory graph of lab.views.graphview: a Streamlit component (the v1 postMessage protocol) over
// cytoscape.js that stays mounted while the shown step changes. Each render message carries the whole
// graph at one step; the element set on screen is brought to it in place (new items added, gone items
// removed, changed items restyled), so positions, zoom and pan stay where they were. Clicking a node sends
// its id back to Python ("edge:<id>" for an edge, null for the background).
"use strict";

const graphDiv = document.getElementById("graph");
const legendDiv = document.getElementById("legend");
const tip = document.getElementById("tip");
const applied = (window.__applied = {}); // step -> epoch ms when its graph was drawn (read by bench ui)
window.__renders = 0;

function send(type, data) {
  window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
}

const cy = (window.cy = cytoscape({
  container: graphDiv,
  elements: [],
  layout: { name: "preset" },
  wheelSensitivity: 0.3,
  boxSelectionEnabled: false,
  autoungrabify: true,
  hideEdgesOnViewport: true,
  textureOnViewport: false,
  pixelRatio: 1,
  style: [
    { selector: "node", style: {
      "background-color": "data(color)", width: 10, height: 10, "border-width": 1, "border-color": "#ffffff",
      "font-size": 9, color: "#31333f", "text-valign": "top", "text-margin-y": -2, "min-zoomed-font-size": 7,
    } },
    { selector: "node[text]", style: { label: "data(text)" } },
    { selector: "node[stroke]", style: { "border-color": "data(stroke)", "border-width": 3, width: 14, height: 14 } },
    { selector: "edge", style: {
      "line-color": "data(color)", width: 1.5, opacity: 0.8, "curve-style": "haystack", "haystack-radius": 0,
    } },
    { selector: "edge[stroke]", style: { "line-color": "data(stroke)", width: 2.5, opacity: 0.9 } },
    { selector: ".removed", style: { opacity: 0.25 } },
    { selector: ".picked", style: { "border-color": "#000000", "border-width": 3 } },
  ],
}));

let shownRun = null;
let scale = 1; // layout units to pixels, fixed per run so that positions stay put across steps

// The factor that spreads the run's whole layout (`bounds`: x0, y0, x1, y1 in layout units) over the view at
// zoom 1, so nodes keep their pixel size and a run opened at its first step has room for what comes later.
function runScale(bounds, width, height) {
  const [x0, y0, x1, y1] = bounds;
  const fit = Math.min((width - 48) / ((x1 - x0) || 1), (height - 48) / ((y1 - y0) || 1));
  return Math.max(fit, 1e-6);
}

function nodeData(n) {
  const data = { id: "n:" + n.id, key: n.id, color: n.color, hover: n.hover };
  if (n.stroke) data.stroke = n.stroke;
  if (n.text) data.text = n.text;
  return data;
}

function edgeData(e) {
  const data = { id: "e:" + e.id, key: "edge:" + e.id, source: "n:" + e.source, target: "n:" + e.target,
                 color: e.color, hover: e.hover };
  if (e.stroke) data.stroke = e.stroke;
  return data;
}

// Bring the elements on screen to `items` (nodes or edges) in place: new ones added, gone ones removed,
// changed ones restyled (an edge whose ends changed is added anew: its ends cannot change in place).
function sync(items, group, toData) {
  const wanted = new Set();
  for (const item of items) {
    const data = toData(item);
    wanted.add(data.id);
    const sig = JSON.stringify(item);
    let el = cy.getElementById(data.id);
    if (!el.empty() && el.scratch("sig") === sig) continue;
    const position = group === "nodes" ? { x: item.x * scale, y: item.y * scale } : undefined;
    if (!el.empty() && group === "edges") { el.remove(); el = cy.collection(); }
    if (el.empty()) {
      el = cy.add({ group: group, data: data, position: position });
    } else {
      el.removeData();
      el.data(data);
      el.position(position);
    }
    el.classes(item.removed ? "removed" : "");
    el.scratch("sig", sig);
  }
  cy[group]().forEach((el) => { if (!wanted.has(el.id())) el.remove(); });
}

function legend(args) {
  const parts = [];
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  for (const [kind, color] of args.legend.nodes) parts.push(`<span><i class="dot" style="background:${color}"></i>${esc(kind)}</span>`);
  for (const [kind, color] of args.legend.edges) parts.push(`<span><i class="line" style="border-color:${color}"></i>${esc(kind)} edge</span>`);
  for (const [name, color] of args.legend.states) parts.push(`<span><i class="ring" style="border-color:${color}"></i>${esc(name)}</span>`);
  parts.push('<span><i class="dot" style="background:#4C78A8;opacity:0.25"></i>faded: removed</span>');
  const html = parts.join("");
  if (legendDiv.innerHTML !== html) legendDiv.innerHTML = html;
}

function render(args) {
  window.__renders++;
  graphDiv.style.height = args.height + "px";
  cy.resize();
  const fresh = shownRun !== args.run;
  if (fresh) {
    cy.elements().remove();
    shownRun = args.run;
    scale = runScale(args.bounds, graphDiv.clientWidth, args.height);
  }
  cy.batch(() => {
    sync(args.nodes, "nodes", nodeData);
    sync(args.edges, "edges", edgeData);
    cy.nodes(".picked").removeClass("picked");
    if (args.selected) cy.getElementById("n:" + args.selected).addClass("picked");
  });
  if (fresh) {
    cy.fit(undefined, 24);
    if (cy.zoom() > 2) { cy.zoom(2); cy.center(); } // a graph of a few nodes is not blown up
  }
  legend(args);
  send("streamlit:setFrameHeight", { height: document.body.scrollHeight });
  const step = args.step;
  requestAnimationFrame(() => requestAnimationFrame(() => { applied[step] = performance.timeOrigin + performance.now(); }));
}

cy.on("tap", "node, edge", (evt) => {
  send("streamlit:setComponentValue", { value: evt.target.data("key"), dataType: "json" });
});
cy.on("tap", (evt) => {
  if (evt.target === cy) send("streamlit:setComponentValue", { value: null, dataType: "json" });
});
cy.on("dbltap", (evt) => { if (evt.target === cy) cy.fit(undefined, 24); }); // back to the whole graph
cy.on("mouseover", "node, edge", (evt) => {
  tip.textContent = evt.target.data("hover");
  tip.style.display = "block";
});
cy.on("mousemove", (evt) => {
  const e = evt.originalEvent;
  if (e) { tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px"; }
});
cy.on("mouseout", "node, edge", () => { tip.style.display = "none"; });

window.addEventListener("message", (event) => {
  if (event.data && event.data.type === "streamlit:render") render(event.data.args || {});
});
send("streamlit:componentReady", { apiVersion: 1 });
