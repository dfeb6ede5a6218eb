// Quill console: a small single-page app over /api/. Every value from the
// server reaches the page through textContent or an attribute set with
// setAttribute on an element we built (never an HTML parser), so record keys,
// values, topic and group names cannot inject markup.
"use strict";

const view = document.getElementById("view");
let timers = []; // cleared on every route change

// h builds an element: h("td", {class: "num"}, "text", childNode, ...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    // Through the CSSOM: the Content-Security-Policy blocks style attributes.
    if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function link(href, text) { return h("a", { href }, text); }
const enc = encodeURIComponent;

async function api(path) {
  const r = await fetch("/api/" + path, { headers: { Accept: "application/json" } });
  let body;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || r.status + " " + r.statusText);
  return body;
}

function fmtBytes(n) {
  if (n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
}
function fmtNum(n) { return n < 0 ? "–" : Number(n).toLocaleString("en-US"); }
function fmtRate(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return n >= 10 || n === 0 ? n.toFixed(0) : n.toFixed(1);
}
function fmtTime(ms) { return ms < 0 ? "–" : new Date(ms).toISOString().replace("T", " ").replace("Z", ""); }
function ids(a) { return (a || []).join(", "); }

function card(label, value, opts) {
  opts = opts || {};
  return h("div", { class: "card" + (opts.bad ? " bad" : ""), "data-card": opts.id || label },
    h("div", { class: "label" }, label),
    h("div", { class: "value" + (opts.small ? " small" : "") }, value));
}

function table(headers, rows, opts) {
  opts = opts || {};
  const head = h("tr", null, headers.map(c => h("th", { class: /^(#|Partitions|RF|Messages|Size|Lag|Total lag|Members|Offset|Log start|High watermark|Log end|Committed|End)$/.test(c) ? "num" : null }, c)));
  const body = rows.length ? rows : [h("tr", null, h("td", { colspan: headers.length, class: "muted" }, opts.empty || "None."))];
  return h("table", { id: opts.id }, h("thead", null, head), h("tbody", null, body));
}
function num(v, fmt) { return h("td", { class: "num" }, (fmt || fmtNum)(v)); }

function show(title, ...content) {
  view.replaceChildren(h("h1", null, title), ...content);
}
function showError(err) {
  view.append(h("p", { class: "error" }, String(err.message || err)));
}
function done(page) { view.setAttribute("data-page", page); view.setAttribute("data-loaded", "1"); }

function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }

// ---------- overview ----------

async function pageOverview() {
  const cards = h("div", { class: "cards", id: "overview-cards" });
  const brokers = h("div");
  const bytesChart = new Chart("Bytes per second", [["in", "--in"], ["out", "--out"]], fmtBytes);
  const recChart = new Chart("Records in and requests per second", [["records in", "--in"], ["requests", "--out"]], fmtRate);
  show("Cluster overview", cards,
    h("h2", null, "Live throughput"),
    h("div", { class: "charts" }, bytesChart.el, recChart.el),
    h("h2", null, "Brokers"), brokers);
  let first = true;
  every(5000, async () => {
    try {
      const c = await api("cluster");
      document.getElementById("cluster-id").textContent = "cluster " + c.clusterId;
      cards.replaceChildren(
        card("Brokers", c.brokers.length, { id: "brokers" }),
        card("Controller", c.controllerId < 0 ? "none" : "node " + c.controllerId, { id: "controller", bad: c.controllerId < 0 }),
        card("Topics", c.topics, { id: "topics" }),
        card("Partitions", c.partitions, { id: "partitions" }),
        card("Under-replicated", c.underReplicatedPartitions, { id: "under-replicated", bad: c.underReplicatedPartitions > 0 }),
        card("Offline", c.offlinePartitions, { id: "offline", bad: c.offlinePartitions > 0 }),
        card("Log size (this node)", fmtBytes(c.logSize), { id: "log-size" }),
        card("Consumer groups", c.groups < 0 ? "…" : c.groups, { id: "groups" }),
        card("Cluster id", c.clusterId, { id: "cluster-id", small: true }),
        card("Version", c.version || "dev", { id: "version", small: true }));
      brokers.replaceChildren(table(["Node", "Host", "Port", "Rack", "Role"], c.brokers.map(b =>
        h("tr", null, h("td", null, b.id), h("td", null, b.host), h("td", null, b.port), h("td", null, b.rack || "–"),
          h("td", null, (b.id === c.controllerId ? "controller, " : "") + "broker" + (b.id === c.nodeId ? " (this node)" : "")))), { id: "brokers-table" }));
      if (first) { first = false; done("overview"); }
    } catch (e) { cards.replaceChildren(h("p", { class: "error" }, e.message)); }
  });
  let prev = null;
  every(1000, async () => {
    try {
      const t = await api("throughput");
      if (prev && t.time > prev.time) {
        const dt = (t.time - prev.time) / 1000;
        bytesChart.push([(t.bytesIn - prev.bytesIn) / dt, (t.bytesOut - prev.bytesOut) / dt]);
        recChart.push([(t.recordsIn - prev.recordsIn) / dt, (t.requests - prev.requests) / dt]);
      }
      prev = t;
    } catch (e) { /* keep the last points; the cards show the error */ }
  });
}

// Chart draws a few series of the last N points on a canvas.
class Chart {
  constructor(title, series, fmt) {
    this.series = series; this.fmt = fmt; this.points = []; this.max = 90;
    this.canvas = h("canvas", { width: 600, height: 180 });
    this.now = h("span", { class: "muted" });
    this.el = h("div", { class: "chart" },
      h("div", null, h("strong", null, title), " ", this.now),
      this.canvas,
      h("div", { class: "legend" }, series.map(([name, color]) => h("span", { style: "--c: var(" + color + ")" }, name))));
    this.draw();
  }
  push(values) {
    this.points.push(values);
    if (this.points.length > this.max) this.points.shift();
    this.now.textContent = "now: " + values.map((v, i) => this.series[i][0] + " " + this.fmt(v)).join(", ");
    this.draw();
  }
  draw() {
    const c = this.canvas, ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 600, hgt = c.clientHeight || 180;
    if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(hgt * ratio); }
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const css = getComputedStyle(document.documentElement);
    const left = 64, right = 8, top = 8, bottom = 18;
    const pw = w - left - right, ph = hgt - top - bottom;
    let top_ = 0;
    for (const p of this.points) for (const v of p) top_ = Math.max(top_, v);
    top_ = niceCeil(top_ || 1);
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7385"; g.strokeStyle = "#e2e5eb"; g.lineWidth = 1;
    g.textAlign = "right"; g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, Math.round(y) + .5); g.lineTo(left + pw, Math.round(y) + .5); g.stroke();
      g.fillText(this.fmt((top_ * i) / 4), left - 6, y);
    }
    // The x axis spans the points we have (one a second), up to this.max.
    const span = Math.max(this.points.length - 1, 1);
    g.textAlign = "left"; g.textBaseline = "alphabetic";
    g.fillText(span + " s ago", left, hgt - 4);
    g.textAlign = "right"; g.fillText("now", left + pw, hgt - 4);
    if (this.points.length < 2) {
      g.textAlign = "center"; g.fillText("collecting…", left + pw / 2, top + ph / 2);
      return;
    }
    const step = pw / span, x0 = left;
    this.series.forEach(([, color], si) => {
      g.strokeStyle = css.getPropertyValue(color).trim() || "#333"; g.lineWidth = 2; g.beginPath();
      this.points.forEach((p, i) => {
        const x = x0 + i * step, y = top + ph - (ph * p[si]) / top_;
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    });
  }
}
function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---------- topics ----------

async function pageTopics() {
  show("Topics");
  try {
    const ts = await api("topics");
    view.append(table(["Topic", "Partitions", "RF", "Messages", "Size", "Status"], ts.map(t =>
      h("tr", { class: t.underReplicated || t.offline ? "bad" : null, "data-topic": t.name },
        h("td", null, link("#/topics/" + enc(t.name), t.name), t.internal ? h("span", { class: "badge" }, "internal") : null),
        num(t.partitions), num(t.replicationFactor), num(t.messages), num(t.size, fmtBytes),
        h("td", null, t.offline ? h("span", { class: "badge warn" }, t.offline + " offline")
          : t.underReplicated ? h("span", { class: "badge warn" }, t.underReplicated + " under-replicated")
            : h("span", { class: "badge ok" }, "ok")))), { id: "topics-table", empty: "No topics." }));
  } catch (e) { showError(e); }
  done("topics");
}

async function pageTopic(name) {
  show("Topic " + name, h("p", null, link("#/messages/" + enc(name), "Browse messages →")));
  try {
    const t = await api("topics/" + enc(name));
    view.append(h("p", { class: "muted mono" }, "id " + t.id + (t.internal ? " · internal" : "")),
      h("h2", null, "Partitions"),
      table(["#", "Leader", "Replicas", "ISR", "Log start", "High watermark", "Log end", "Size"], t.partitions.map(p =>
        h("tr", { class: p.leader < 0 || p.isr.length < p.replicas.length ? "bad" : null, "data-partition": p.partition },
          num(p.partition), h("td", null, p.leader < 0 ? "none" : p.leader), h("td", null, ids(p.replicas)), h("td", null, ids(p.isr)),
          num(p.logStartOffset), num(p.highWatermark), num(p.logEndOffset), num(p.size, fmtBytes))), { id: "partitions-table" }));
  } catch (e) { showError(e); done("topic"); return; }
  const cfgs = h("div", null, h("p", { class: "muted" }, "Loading configs…"));
  view.append(h("h2", null, "Configs"), cfgs);
  try {
    const cs = await api("topics/" + enc(name) + "/configs");
    cfgs.replaceChildren(table(["Name", "Value", "Source"], cs.map(c =>
      h("tr", { "data-config": c.name }, h("td", { class: "mono" }, c.name),
        h("td", { class: "mono" }, c.sensitive ? "(sensitive)" : c.value),
        h("td", null, c.source === "default" ? h("span", { class: "muted" }, "default") : h("strong", null, c.source.replace(/_/g, " "))))),
    { id: "configs-table" }));
  } catch (e) { cfgs.replaceChildren(h("p", { class: "error" }, "configs: " + e.message)); }
  done("topic");
}

// ---------- messages ----------

function b64bytes(s) {
  if (s === null || s === undefined) return null;
  const bin = atob(s), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function decode(bytes, mode) {
  if (bytes === null) return h("span", { class: "null" }, "null");
  if (mode === "hex") {
    const parts = [];
    for (let i = 0; i < bytes.length; i += 16) {
      const row = Array.from(bytes.subarray(i, i + 16), b => b.toString(16).padStart(2, "0")).join(" ");
      parts.push(i.toString(16).padStart(6, "0") + "  " + row);
    }
    return h("pre", null, parts.join("\n"));
  }
  const text = new TextDecoder("utf-8").decode(bytes);
  if (mode === "json") {
    try { return h("pre", null, JSON.stringify(JSON.parse(text), null, 2)); }
    catch (e) { return h("pre", { title: "not JSON; shown as text" }, text); }
  }
  return h("pre", null, text);
}

async function pageMessages(topic, params) {
  let topics = [];
  try { topics = await api("topics"); } catch (e) { show("Messages"); showError(e); done("messages"); return; }
  if (!topic && topics.length) topic = (topics.find(t => !t.internal) || topics[0]).name;
  const mode = params.get("timestamp") ? "timestamp" : params.get("offset") ? "offset" : "latest";
  const topicSel = h("select", { name: "topic", id: "msg-topic" }, topics.map(t => h("option", { value: t.name, selected: t.name === topic }, t.name)));
  const part = h("input", { name: "partition", id: "msg-partition", type: "number", min: 0, value: params.get("partition") || 0, style: "width:6em" });
  const from = h("select", { name: "from", id: "msg-from" },
    h("option", { value: "latest", selected: mode === "latest" }, "latest"),
    h("option", { value: "offset", selected: mode === "offset" }, "offset"),
    h("option", { value: "timestamp", selected: mode === "timestamp" }, "timestamp"));
  const off = h("input", { name: "offset", id: "msg-offset", type: "number", min: 0, value: params.get("offset") || 0, style: "width:9em" });
  const ts = h("input", { name: "timestamp", id: "msg-timestamp", type: "datetime-local", step: 1 });
  if (params.get("timestamp")) ts.value = new Date(Number(params.get("timestamp")) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  const limit = h("input", { name: "limit", id: "msg-limit", type: "number", min: 1, max: 500, value: params.get("limit") || 20, style: "width:6em" });
  const fmt = h("select", { name: "format", id: "msg-format" }, ["text", "json", "hex"].map(f => h("option", { value: f, selected: f === (params.get("format") || "text") }, f)));
  const form = h("form", { class: "query", id: "msg-form" },
    h("label", null, "Topic", topicSel), h("label", null, "Partition", part), h("label", null, "From", from),
    h("label", null, "Offset", off), h("label", null, "Time (local)", ts), h("label", null, "Count", limit),
    h("label", null, "Show as", fmt), h("button", { type: "submit" }, "Read"));
  const results = h("div", { id: "msg-results" });
  show("Messages", form, results);
  const sync = () => { off.disabled = from.value !== "offset"; ts.disabled = from.value !== "timestamp"; };
  from.addEventListener("change", sync); sync();
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    const q = new URLSearchParams({ partition: part.value, limit: limit.value, format: fmt.value });
    if (from.value === "offset") q.set("offset", off.value);
    if (from.value === "timestamp" && ts.value) q.set("timestamp", String(new Date(ts.value).getTime()));
    location.hash = "#/messages/" + enc(topicSel.value) + "?" + q.toString();
  });
  let page = null;
  const render = () => {
    if (!page) return;
    results.replaceChildren(
      h("p", { class: "muted" }, `partition ${page.partition} · log start ${fmtNum(page.logStartOffset)} · high watermark ${fmtNum(page.highWatermark)} · reading from ${fmtNum(page.startOffset)} · ${page.messages.length} shown`),
      table(["Offset", "Timestamp", "Key", "Value", "Headers"], page.messages.map(m =>
        h("tr", { "data-offset": m.offset },
          num(m.offset), h("td", { class: "mono" }, fmtTime(m.timestamp)),
          h("td", { class: "key" }, decode(b64bytes(m.key), fmt.value)),
          h("td", { class: "value" }, decode(b64bytes(m.value), fmt.value)),
          h("td", { class: "headers" }, m.headers.map(hd => h("div", null, h("span", { class: "mono" }, hd.key + ": "), decode(b64bytes(hd.value), fmt.value)))))),
      { id: "messages-table", empty: "No messages in that range." }));
  };
  fmt.addEventListener("change", render);
  if (topic) {
    const q = new URLSearchParams({ partition: part.value, limit: limit.value });
    if (mode === "offset") q.set("offset", params.get("offset"));
    if (mode === "timestamp") q.set("timestamp", params.get("timestamp"));
    results.replaceChildren(h("p", { class: "muted" }, "Reading…"));
    try { page = await api("topics/" + enc(topic) + "/messages?" + q.toString()); render(); }
    catch (e) { results.replaceChildren(h("p", { class: "error" }, e.message)); }
  }
  done("messages");
}

// ---------- groups ----------

async function pageGroups() {
  show("Consumer groups");
  try {
    const gs = await api("groups");
    view.append(table(["Group", "State", "Type", "Members", "Total lag"], gs.map(g =>
      h("tr", { "data-group": g.group },
        h("td", null, link("#/groups/" + enc(g.group), g.group), g.error ? h("span", { class: "badge warn", title: g.error }, "error") : null),
        h("td", null, g.state), h("td", null, g.protocolType || "–"), num(g.members), num(g.totalLag))),
    { id: "groups-table", empty: "No consumer groups." }));
  } catch (e) { showError(e); }
  done("groups");
}

async function pageGroup(name) {
  show("Group " + name);
  try {
    const g = await api("groups/" + enc(name));
    view.append(h("div", { class: "cards" },
      card("State", g.state, { id: "state" }), card("Members", g.members, { id: "members" }),
      card("Total lag", fmtNum(g.totalLag), { id: "total-lag", bad: g.totalLag > 0 }),
      card("Protocol", (g.protocolType || "–") + (g.protocol ? " / " + g.protocol : ""), { id: "protocol", small: true }),
      card("Coordinator", "node " + g.coordinator, { id: "coordinator" })),
    h("div", null, g.error ? h("p", { class: "error" }, g.error) : null),
    h("h2", null, "Members"),
    table(["Member", "Client id", "Host", "Assigned"], g.memberList.map(m =>
      h("tr", null, h("td", { class: "mono" }, m.memberId + (m.instanceId ? " (" + m.instanceId + ")" : "")),
        h("td", null, m.clientId), h("td", null, m.clientHost),
        h("td", null, Object.keys(m.assigned).sort().map(t => h("div", null, t + ": " + ids(m.assigned[t])))))),
    { id: "members-table", empty: "No members (the group is empty)." }),
    h("h2", null, "Lag by partition"),
    table(["Topic", "Partition", "Committed", "End", "Lag", "Consumer"], g.partitions.map(p =>
      h("tr", { "data-tp": p.topic + "/" + p.partition },
        h("td", null, link("#/topics/" + enc(p.topic), p.topic)), num(p.partition), num(p.committed), num(p.end), num(p.lag),
        h("td", null, p.clientId || (p.error ? h("span", { class: "error" }, p.error) : h("span", { class: "muted" }, "unassigned"))))),
    { id: "lag-table", empty: "No committed offsets." }));
  } catch (e) { showError(e); }
  done("group");
}

// ---------- routing ----------

function route() {
  timers.forEach(clearInterval); timers = [];
  view.removeAttribute("data-loaded");
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?");
  const parts = path.split("/").map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const section = parts[0] || "overview";
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.nav === section));
  switch (section) {
    case "topics": return parts[1] ? pageTopic(parts[1]) : pageTopics();
    case "messages": return pageMessages(parts[1] || "", params);
    case "groups": return parts[1] ? pageGroup(parts[1]) : pageGroups();
    default: return pageOverview();
  }
}
window.addEventListener("hashchange", route);
route();
