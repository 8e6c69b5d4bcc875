// The live web view, served by the admin listener at `/`. One self-contained page (no external
// resources, no framework): it reads the same JSON API and Server-Sent Events stream the CLI and
// dashboards read — /api/cluster (polled once a second and after every finding), /api/findings, and
// /api/events — so what it shows is exactly what RaftGuard reconstructed. SSE is read with fetch()
// rather than EventSource so that a bearer token (admin listeners off loopback) can travel in the
// Authorization header; the token is taken from the URL fragment (#token=…), which browsers never
// send to the server or write to its logs, and kept in sessionStorage.
//
// Everything from the wire is inserted as text (textContent), never as HTML: member IDs, entry data
// and finding messages come from traffic RaftGuard does not control.

export const WEB_VIEW_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>RaftGuard</title>
<style>
  :root { --bg:#0f1419; --panel:#171d24; --line:#2a333d; --fg:#d8dee6; --dim:#8a96a3; --ok:#3fb950; --warn:#d29922; --crit:#f85149; --info:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:var(--bg); color:var(--fg); }
  header { display:flex; flex-wrap:wrap; gap:1.5em; align-items:baseline; padding:12px 16px; border-bottom:1px solid var(--line); background:var(--panel); }
  header h1 { font-size:16px; margin:0; }
  .kv b { color:var(--dim); font-weight:normal; margin-right:.4em; }
  #status[data-state="live"] { color:var(--ok); } #status[data-state="down"] { color:var(--crit); } #status[data-state="connecting"] { color:var(--warn); }
  main { display:grid; grid-template-columns: minmax(0,3fr) minmax(0,2fr); gap:16px; padding:16px; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:6px; padding:10px 12px; min-width:0; }
  section h2 { font-size:13px; color:var(--dim); text-transform:uppercase; letter-spacing:.05em; margin:0 0 8px; }
  table { border-collapse:collapse; width:100%; }
  th, td { text-align:right; padding:3px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th:first-child, td:first-child, td.role, th.role { text-align:left; }
  tr[data-role="leader"] td:first-child::before { content:"★ "; color:var(--warn); }
  tr[data-stale="true"] { color:var(--dim); }
  .sev-critical { color:var(--crit); } .sev-warning { color:var(--warn); } .sev-info { color:var(--info); }
  ul { list-style:none; margin:0; padding:0; }
  #findings li { border-bottom:1px solid var(--line); padding:6px 0; }
  #findings li details summary { cursor:pointer; }
  #findings .msg { margin:4px 0 0 1em; white-space:pre-wrap; }
  #findings .rec { margin:4px 0 0 1em; color:var(--dim); white-space:pre-wrap; }
  #findings .ev { margin:2px 0 0 2em; color:var(--dim); white-space:pre-wrap; }
  #open li { padding:4px 0; }
  #events { max-height:420px; overflow:auto; font-size:12px; }
  #events li { white-space:nowrap; overflow:hidden; text-overflow:ellipsis; border-bottom:1px solid var(--line); padding:1px 0; }
  .dim { color:var(--dim); }
  button { background:var(--line); color:var(--fg); border:0; border-radius:4px; padding:2px 8px; font:inherit; cursor:pointer; }
  @media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>RaftGuard</h1>
  <span class="kv"><b>cluster</b><span id="cluster">…</span></span>
  <span class="kv"><b>term</b><span id="term">…</span></span>
  <span class="kv"><b>leader</b><span id="leader">…</span></span>
  <span class="kv"><b>commit</b><span id="commit">…</span></span>
  <span class="kv"><b>observed</b><span id="complete">…</span></span>
  <span class="kv"><b>findings</b><span id="counts">…</span></span>
  <span class="kv"><b>stream</b><span id="status" data-state="connecting">connecting</span></span>
</header>
<main>
  <div>
    <section>
      <h2>Members</h2>
      <table id="members">
        <thead><tr><th>member</th><th class="role">role</th><th>term</th><th>last index</th><th>last term</th><th>commit</th><th>match</th><th>behind</th><th>last seen</th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="dim" id="asof"></p>
    </section>
    <section style="margin-top:16px">
      <h2>Open conditions</h2>
      <ul id="open"><li class="dim">none</li></ul>
    </section>
    <section style="margin-top:16px">
      <h2>Findings (newest first)</h2>
      <ul id="findings"><li class="dim">none</li></ul>
    </section>
  </div>
  <section>
    <h2>Decoded events <button id="pause" type="button">pause</button> <span class="dim" id="rate"></span></h2>
    <ul id="events"></ul>
  </section>
</main>
<script>
"use strict";
(function () {
  const MAX_EVENTS = 200, MAX_FINDINGS = 200;
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.get("token")) { sessionStorage.setItem("raftguard-token", frag.get("token")); history.replaceState(null, "", location.pathname); }
  const token = sessionStorage.getItem("raftguard-token");
  const headers = token ? { authorization: "Bearer " + token } : {};
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  };
  const ms = (v) => v === undefined || v === null ? "-" : v >= 10000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
  let paused = false, lastSnap = null, seenEvents = 0, rateFrom = performance.now(), rateCount = 0;
  const findings = [];
  const findingKeys = new Set();
  $("pause").onclick = () => { paused = !paused; $("pause").textContent = paused ? "resume" : "pause"; };

  function renderCluster(s) {
    lastSnap = s;
    $("cluster").textContent = s.cluster ?? "?";
    $("term").textContent = String(s.term);
    $("leader").textContent = s.leader ? s.leader.id + " (term " + s.leader.term + ")" : "none";
    $("commit").textContent = String(s.maxCommit);
    $("complete").textContent = s.complete ? "all voters" : "partial (checks needing every voter are off)";
    const tb = $("members").tBodies[0];
    const rows = [];
    const L = s.leader;
    for (const n of s.nodes) {
      const match = L && n.id !== L.id ? L.match[n.id] : undefined;
      const behind = L && match !== undefined ? Math.max(0, L.lastIndex - match) : undefined;
      const tr = el("tr", { "data-node": n.id, "data-role": n.role, "data-stale": String(L !== undefined && n.term < L.term) },
        el("td", {}, n.id + (n.voter ? "" : " (learner)")),
        el("td", { class: "role" }, n.role),
        el("td", {}, n.term),
        el("td", {}, n.lastIndex),
        el("td", {}, n.lastTerm),
        el("td", {}, n.commit),
        el("td", { "data-col": "match" }, L && n.id === L.id ? "leader" : match ?? "-"),
        el("td", {}, behind ?? "-"),
        el("td", {}, n.lastSeen > 0 ? ms(s.t - n.lastSeen) + " ago" : "never"));
      rows.push(tr);
    }
    tb.replaceChildren(...rows);
    $("asof").textContent = "as of t = " + ms(s.t) + " since the run started";
    const open = s.open || [];
    const ul = $("open");
    if (!open.length) ul.replaceChildren(el("li", { class: "dim" }, "none"));
    else ul.replaceChildren(...open.map((f) => el("li", { "data-code": f.code, class: "sev-" + f.severity },
      f.code + " " + f.name + " — open " + ms(s.t - f.t) + ": " + f.message)));
  }

  function addFinding(f) {
    const key = f.code + "|" + f.t + "|" + (f.nodes || []).join(",");
    if (findingKeys.has(key)) return;
    findingKeys.add(key);
    f.__key = key;
    findings.unshift(f);
    if (findings.length > MAX_FINDINGS) findingKeys.delete(findings.pop().__key);
    renderFindings();
  }

  function renderFindings() {
    const ul = $("findings");
    if (!findings.length) { ul.replaceChildren(el("li", { class: "dim" }, "none")); }
    else ul.replaceChildren(...findings.map((f) => {
      const evs = (f.evidence || []).slice(0, 8).map((e) => el("div", { class: "ev" }, "· " + e.note + (e.event ? "  [" + e.event.type + " " + e.event.from + "→" + e.event.to + " term " + e.event.term + " at " + ms(e.event.t) + "]" : "")));
      return el("li", { "data-code": f.code, "data-severity": f.severity },
        el("details", {},
          el("summary", {}, el("span", { class: "sev-" + f.severity }, f.severity.toUpperCase() + " " + f.code), " " + f.name + " at " + ms(f.t) + (f.term !== undefined ? ", term " + f.term : "") + ", nodes " + (f.nodes || []).join(", ")),
          el("div", { class: "msg" }, f.message),
          el("div", { class: "rec" }, "→ " + f.recommendation),
          ...evs));
    }));
    const c = { critical: 0, warning: 0, info: 0 };
    for (const f of findings) c[f.severity] = (c[f.severity] || 0) + 1;
    $("counts").textContent = c.critical + " critical, " + c.warning + " warning, " + c.info + " info";
    $("counts").className = c.critical ? "sev-critical" : c.warning ? "sev-warning" : "";
  }

  function describe(ev) {
    switch (ev.type) {
      case "append": return "append " + ev.from + "→" + ev.to + " t" + ev.term + " prev " + ev.prevIndex + "/" + ev.prevTerm + " +" + (ev.entries ? ev.entries.length : 0) + " commit " + ev.commit;
      case "append_resp": return "append_resp " + ev.from + "→" + ev.to + " t" + ev.term + (ev.success ? " ok match " + ev.match : " reject" + (ev.hint !== undefined ? " hint " + ev.hint : ""));
      case "heartbeat": return "heartbeat " + ev.from + "→" + ev.to + " t" + ev.term + " commit " + ev.commit;
      case "vote": return (ev.pre ? "prevote " : "vote ") + ev.from + "→" + ev.to + " t" + ev.term + " last " + ev.lastIndex + "/" + ev.lastTerm;
      case "vote_resp": return (ev.pre ? "prevote_resp " : "vote_resp ") + ev.from + "→" + ev.to + " t" + ev.term + (ev.granted ? " granted" : " rejected");
      case "dropped": return "… " + ev.count + " events not shown: this page fell behind the stream (the API and metrics count them all)";
      default: return ev.type + " " + (ev.from || "") + "→" + (ev.to || "") + (ev.term !== undefined ? " t" + ev.term : "");
    }
  }

  function addEvent(ev) {
    seenEvents++; rateCount++;
    if (paused) return;
    const ul = $("events");
    ul.prepend(el("li", { "data-type": ev.type }, el("span", { class: "dim" }, ms(ev.t) + " "), describe(ev)));
    while (ul.childElementCount > MAX_EVENTS) ul.lastElementChild.remove();
  }

  setInterval(() => {
    const now = performance.now();
    $("rate").textContent = (rateCount * 1000 / Math.max(1, now - rateFrom)).toFixed(0) + " events/s";
    rateCount = 0; rateFrom = now;
  }, 2000);

  async function getJson(path) {
    const r = await fetch(path, { headers, cache: "no-store" });
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  }
  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try { renderCluster(await getJson("/api/cluster")); } catch (e) { setStatus("down", String(e.message || e)); } finally { refreshing = false; }
  }

  function setStatus(state, text) { const s = $("status"); s.dataset.state = state; s.textContent = text; }

  // Server-Sent Events over fetch: frames are "event: X\\ndata: JSON\\n\\n".
  async function stream() {
    for (;;) {
      try {
        setStatus("connecting", "connecting");
        const r = await fetch("/api/events", { headers, cache: "no-store" });
        if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
        setStatus("live", "live");
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\\n\\n")) >= 0) {
            const frame = buf.slice(0, i); buf = buf.slice(i + 2);
            let kind = "message", data = "";
            for (const line of frame.split("\\n")) {
              if (line.startsWith("event: ")) kind = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            let obj; try { obj = JSON.parse(data); } catch { continue; }
            if (kind === "event") addEvent(obj);
            else if (kind === "finding") { addFinding(obj); refresh(); }
            else if (kind === "dropped") addEvent({ type: "dropped", count: obj.count, t: lastSnap ? lastSnap.t : 0 });
          }
        }
        setStatus("down", "stream ended; reconnecting");
      } catch (e) {
        setStatus("down", "disconnected (" + String(e.message || e) + "); reconnecting");
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  (async () => {
    try { for (const f of await getJson("/api/findings")) addFinding(f); } catch (e) { setStatus("down", String(e.message || e)); }
    renderFindings();
    await refresh();
    setInterval(refresh, 1000);
    stream();
  })();
})();
</script>
</body>
</html>
`;
