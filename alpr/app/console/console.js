// The dispatch console (policy 820.8). Everything it shows comes from the audited API with the
// session's bearer token: the live stream is read with fetch (EventSource cannot send the token),
// resumed with Last-Event-ID after any break, and images are fetched as blobs for the same reason.
"use strict";

const $ = (id) => document.getElementById(id);
const FIELD_LABELS = {corrected_plate: "Corrected plate", channel: "Radio channel", result_code: "CLETS result code",
  reference: "CLETS reference", outcome: "Outcome"};
const STEP_LABELS = {confirm_not_misread: "Not a misread", mark_misread: "Misread", broadcast: "Broadcast",
  record_clets_check: "CLETS check", broadcast_results: "Broadcast results", close: "Close",
  verify_visually: "Visually verified", confirm_clets: "CLETS confirmed"};

const state = {token: "", purpose: "", user: "", hits: new Map(), selected: null, lastId: "", live: false,
  audio: null, stream: null, cameras: new Map()};

async function api(path, options = {}) {
  const url = new URL(path, location.origin);
  if (state.purpose) url.searchParams.set("purpose", state.purpose);
  const headers = {...(options.headers || {}), Authorization: `Bearer ${state.token}`};
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {method: options.method || "GET", headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : undefined, signal: options.signal});
  if (response.status === 401) { endSession("Your session ended: log on again."); throw new Error("logged off"); }
  return response;
}

async function reason(response) {
  try { return (await response.json()).detail || response.statusText; } catch { return response.statusText; }
}

// -- logon ---------------------------------------------------------------------------------------
$("logon").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("logon-error").textContent = "";
  const username = $("username").value.trim();
  const response = await fetch("/v1/logon", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username, password: $("password").value})});
  $("password").value = "";
  if (!response.ok) { $("logon-error").textContent = await reason(response); return; }
  state.token = (await response.json()).token;
  state.purpose = $("purpose").value.trim();
  state.user = username;
  state.audio = new (window.AudioContext || window.webkitAudioContext)();  // a click allows sound
  $("logon").hidden = true;
  $("desk").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = username;
  connect();
});

$("logout").addEventListener("click", async () => {
  await api("/v1/logout", {method: "POST"}).catch(() => {});
  endSession("");
});

function endSession(message) {
  if (state.stream) state.stream.abort();
  state.token = "";
  state.hits.clear();
  $("hits").replaceChildren();
  $("card").hidden = true;
  $("desk").hidden = true;
  $("logout").hidden = true;
  $("logon").hidden = false;
  $("logon-error").textContent = message;
  setFeed("off", "offline");
}

// -- the live stream -----------------------------------------------------------------------------
function setFeed(kind, text) { $("feed").className = `feed ${kind}`; $("feed").textContent = text; }

async function connect() {
  while (state.token) {
    state.stream = new AbortController();
    setFeed("wait", "connecting");
    try {
      const headers = state.lastId ? {"Last-Event-ID": state.lastId} : {};
      const response = await api("/v1/hits/stream", {headers, signal: state.stream.signal});
      if (!response.ok) throw new Error(await reason(response));
      await readEvents(response.body.getReader());
    } catch (error) {
      if (!state.token) return;
      setFeed("off", `reconnecting: ${error.message || error}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) throw new Error("stream closed");
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const message = {event: "message", data: "", id: null};
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const at = line.indexOf(":");
        const field = at < 0 ? line : line.slice(0, at);
        const text = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
        if (field === "data") message.data += text;
        else if (field === "event") message.event = text;
        else if (field === "id") message.id = text;
      }
      handle(message);
    }
  }
}

function handle(message) {
  if (message.id !== null) state.lastId = message.id;
  const data = message.data ? JSON.parse(message.data) : {};
  if (message.event === "live") { state.live = true; setFeed("live", "live"); return; }
  if (message.event === "end") { endSession(data.reason || "the session ended"); return; }
  if (message.event === "hit") addHit(data);
  else if (message.event === "step") applyStep(data);
}

// -- the list of hits ----------------------------------------------------------------------------
function addHit(hit) {
  if (hit.location) state.cameras.set(hit.camera_id, {name: hit.camera_name, ...hit.location});
  const known = state.hits.get(hit.hit_id);
  if (known) { Object.assign(known, {...hit, state: known.state}); render(known); return; }
  const entry = {...hit, state: "new", taken_by: ""};
  state.hits.set(hit.hit_id, entry);
  render(entry);
  if (state.live) { alarm(); }
  api(`/v1/hits/${hit.hit_id}/seen`, {method: "POST"}).catch(() => {});  // audited; times hit -> person
}

function applyStep(step) {
  let entry = state.hits.get(step.hit_id);
  const fresh = !entry;
  if (fresh) {  // a broadcast reaching an officer, or a step read before its hit
    entry = {hit_id: step.hit_id, plate: step.plate, camera_id: step.camera_id, camera_name: step.camera_name,
      list_name: step.list_name, match: step.match, site: step.site, captured_at: step.captured_at,
      published_ms: step.published_ms};
    state.hits.set(step.hit_id, entry);
  }
  entry.state = step.state;
  entry.taken_by = step.username;
  render(entry);
  if (fresh && state.live) alarm();
  // the open card follows a step someone else took (its own steps it has shown already)
  if (state.selected === step.hit_id && $("card").dataset.state !== step.state) showCard(step.hit_id);
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
}

function render(entry) {
  let li = document.querySelector(`#hits li[data-hit-id="${entry.hit_id}"]`);
  if (!li) {
    li = document.createElement("li");
    li.dataset.hitId = entry.hit_id;
    li.dataset.shownMs = String(Date.now());
    li.addEventListener("click", () => showCard(entry.hit_id));
    const list = $("hits");
    const after = [...list.children].find((other) => state.hits.get(other.dataset.hitId).captured_at < entry.captured_at);
    list.insertBefore(li, after || null);
  }
  li.dataset.state = entry.state;
  li.classList.toggle("untaken", entry.state === "new");
  li.classList.toggle("selected", state.selected === entry.hit_id);
  li.replaceChildren(
    row(span("plate", entry.plate), span(`state ${entry.state}`, entry.state.replace(/_/g, " "))),
    row(span("meta", `${entry.list_name} · ${entry.match}`), stateBadge(entry), span("badge", entry.site)),
    row(span("meta", entry.camera_name || entry.camera_id), span("meta age", age(entry.captured_at))));
  const waiting = [...state.hits.values()].filter((h) => h.state === "new").length;
  $("counts").textContent = `${waiting} untaken · ${state.hits.size} in all`;
}

// A differing state is shown as loudly as a differing character: the same characters in another
// state are another vehicle.
function stateBadge(hit) {
  const read = hit.read_state || "?", listed = hit.list_state || "?";
  if (hit.state_match === "differs") return span("m-differs state-badge", `state ${read} ≠ ${listed}`);
  if (hit.state_match === "same") return span("meta state-badge", `state ${read}`);
  return span("meta state-badge", hit.read_state ? `read ${read}, list gives none` : "state not read");
}

function stateCompare(hit) {
  const sure = hit.read_state ? ` ${Math.round((hit.state_confidence || 0) * 100)} %` : "";
  return [span(hit.state_match === "differs" ? "m-differs" : "", hit.read_state || "--"), span("sure", `${sure} · listed `),
    span("", hit.list_state || "--")];
}

function span(cls, text) { const s = document.createElement("span"); s.className = cls; s.textContent = text; return s; }
function row(...children) { const d = document.createElement("div"); d.className = "row"; d.append(...children); return d; }

setInterval(() => {
  for (const li of document.querySelectorAll("#hits li")) {
    const entry = state.hits.get(li.dataset.hitId);
    if (entry) li.querySelector(".age").textContent = age(entry.captured_at);
  }
}, 5000);

function alarm() {
  document.body.dataset.alarms = String(Number(document.body.dataset.alarms || 0) + 1);
  if (!state.audio) return;
  const now = state.audio.currentTime;
  for (const [offset, pitch] of [[0, 880], [0.18, 660], [0.36, 880]]) {
    const tone = state.audio.createOscillator();
    const gain = state.audio.createGain();
    tone.frequency.value = pitch;
    gain.gain.setValueAtTime(0.2, now + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.16);
    tone.connect(gain).connect(state.audio.destination);
    tone.start(now + offset);
    tone.stop(now + offset + 0.17);
  }
}

// -- the hit card --------------------------------------------------------------------------------
async function showCard(hitId) {
  state.selected = hitId;
  for (const li of document.querySelectorAll("#hits li")) li.classList.toggle("selected", li.dataset.hitId === hitId);
  const response = await api(`/v1/hits/${hitId}`);
  if (!response.ok) { $("step-error").textContent = await reason(response); return; }
  const hit = await response.json();
  if (state.selected !== hitId) return;
  // a refresh of the card on show keeps what the user is typing unless the hit moved on
  const sameHit = $("card").dataset.hitId === hitId;
  const moved = !sameHit || $("card").dataset.state !== hit.state;
  $("card").hidden = false;
  $("card").dataset.hitId = hitId;
  $("card").dataset.state = hit.state;
  $("card-title").textContent = `${hit.list_name}: ${hit.list_plate}`;
  $("card-state").textContent = hit.state.replace(/_/g, " ");
  $("card-state").className = `state ${hit.state}`;
  $("read-plate").replaceChildren(...hit.marks.map((m) => span(m.mark === "same" ? "" : `m-${m.mark}`, m.char)));
  $("list-plate").textContent = hit.list_plate;
  $("state-compare").replaceChildren(...stateCompare(hit));
  facts([["Match", `${hit.match_kind}${hit.confidence !== null ? ` · confidence ${(hit.confidence * 100).toFixed(0)} %` : ""}`],
    ["OCR also read", hit.candidates.join(", ") || "nothing else"],
    ["State", {same: "the read state is the listed one", differs: "DIFFERS from the listed state: maybe another vehicle",
      unknown: "not compared (not read, or the list gives none)"}[hit.state_match] || hit.state_match],
    ["Camera", `${hit.camera_name}${hit.camera_name !== hit.camera_id ? ` (${hit.camera_id})` : ""} · ` +
      (hit.site === "mobile" ? "mobile unit" : "fixed site")],
    ["Read at", `${new Date(hit.captured_at).toLocaleString()} · ${age(hit.captured_at)}`],
    ["Place", hit.latitude !== null ? `${hit.latitude.toFixed(5)}, ${hit.longitude.toFixed(5)}` : "unknown"],
    ["List", `${hit.list_name} · entry ${hit.entry_id}`]]);
  $("history").replaceChildren(...hit.steps.map((s) => {
    const li = document.createElement("li");
    const fields = Object.entries(s.fields).map(([k, v]) => `${FIELD_LABELS[k] || k}: ${v}`).join(", ");
    li.textContent = `${new Date(s.at).toLocaleTimeString()} ${STEP_LABELS[s.action] || s.action} by ${s.username} (${s.role})` +
      `${fields ? ` · ${fields}` : ""}${s.note ? ` · "${s.note}"` : ""}`;
    return li;
  }));
  if (moved) offerSteps(hit);
  if (sameHit) return;
  drawMap(hit);
  $("entry").replaceChildren();
  $("reveal").hidden = false;
  loadImage($("crop"), hit.crop_path);
  loadImage($("scene"), hit.scene_path);
}

function facts(pairs) {
  $("facts").replaceChildren(...pairs.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
}

async function loadImage(img, path, tries = 6) {
  img.removeAttribute("src");
  for (let i = 0; i < tries; i++) {  // the image is stored a moment after the hit is published
    const response = await api(path).catch(() => null);
    if (response && response.ok) { img.src = URL.createObjectURL(await response.blob()); return; }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  img.alt = "image not stored";
}

function drawMap(hit) {
  const svg = $("map");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const points = [...state.cameras.entries()].filter(([id]) => id !== hit.camera_id).map(([id, c]) => ({id, ...c}));
  if (hit.latitude === null) return;
  points.push({id: hit.camera_id, latitude: hit.latitude, longitude: hit.longitude, here: true});
  const lats = points.map((p) => p.latitude), lons = points.map((p) => p.longitude);
  const pad = 0.002;
  const [s, n, w, e] = [Math.min(...lats) - pad, Math.max(...lats) + pad, Math.min(...lons) - pad, Math.max(...lons) + pad];
  const x = (lon) => 20 + (lon - w) / (e - w) * 250, y = (lat) => 140 - (lat - s) / (n - s) * 125;
  const tiles = document.body.dataset.mapTiles;
  if (tiles) {
    const z = 16, scale = 2 ** z;
    const tx = Math.floor((hit.longitude + 180) / 360 * scale);
    const lat = hit.latitude * Math.PI / 180;
    const ty = Math.floor((1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2 * scale);
    const image = document.createElementNS(ns, "image");
    image.setAttribute("href", tiles.replace("{z}", z).replace("{x}", tx).replace("{y}", ty));
    image.setAttribute("width", "320"); image.setAttribute("height", "160");
    svg.append(image);
  }
  for (const p of points.sort((a, b) => (a.here ? 1 : 0) - (b.here ? 1 : 0))) {
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", x(p.longitude)); dot.setAttribute("cy", y(p.latitude));
    dot.setAttribute("r", p.here ? 7 : 4);
    dot.setAttribute("class", p.here ? "this" : "cam");
    const title = document.createElementNS(ns, "title"); title.textContent = p.name || p.id; dot.append(title);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", x(p.longitude) + 8); label.setAttribute("y", y(p.latitude) + 3);
    label.textContent = p.here ? hit.camera_name : (p.name || p.id);
    svg.append(dot, label);
  }
  const corner = document.createElementNS(ns, "text");
  corner.setAttribute("x", 4); corner.setAttribute("y", 156);
  corner.textContent = `${s.toFixed(4)}..${n.toFixed(4)} N, ${w.toFixed(4)}..${e.toFixed(4)} E`;
  svg.append(corner);
}

$("reveal").addEventListener("click", async () => {
  const hitId = $("card").dataset.hitId;
  const response = await api(`/v1/hits/${hitId}/entry`, {method: "POST"});
  if (!response.ok) { $("entry").replaceChildren(span("error", await reason(response))); return; }
  const entry = await response.json();
  $("reveal").hidden = true;
  const pairs = Object.entries(entry.fields).map(([k, v]) => [k.replace(/_/g, " "), String(v)]);
  $("entry").replaceChildren(...pairs.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
});

function offerSteps(hit) {
  $("step-error").textContent = "";
  $("needs").replaceChildren();
  $("note").value = "";
  $("actions").replaceChildren(...hit.next_steps.map((step) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.action = step.action;
    button.textContent = STEP_LABELS[step.action] || step.action;
    button.addEventListener("click", () => chooseStep(hit.hit_id, step, button));
    return button;
  }));
  $("step").hidden = hit.next_steps.length === 0;
}

function chooseStep(hitId, step, button) {
  for (const b of $("actions").children) b.classList.toggle("chosen", b === button);
  if (step.needs.length === 0) { takeStep(hitId, step.action, {}); return; }
  const inputs = step.needs.map((name) => {
    const label = document.createElement("label");
    label.textContent = FIELD_LABELS[name] || name;
    const input = document.createElement("input");
    input.name = name; input.required = true; input.maxLength = 200;
    label.append(input);
    return label;
  });
  const record = document.createElement("button");
  record.type = "button";
  record.id = "record";
  record.textContent = `Record: ${STEP_LABELS[step.action] || step.action}`;
  record.addEventListener("click", () => {
    const fields = Object.fromEntries([...$("needs").querySelectorAll("input")].map((i) => [i.name, i.value.trim()]));
    takeStep(hitId, step.action, fields);
  });
  $("needs").replaceChildren(...inputs, record);
  inputs[0].querySelector("input").focus();
}

async function takeStep(hitId, action, fields) {
  $("step-error").textContent = "";
  const response = await api(`/v1/hits/${hitId}/actions`, {method: "POST",
    json: {action, fields, note: $("note").value.trim(), purpose: state.purpose}});
  const refused = response.ok ? "" : await reason(response);
  if (response.ok) {
    const step = await response.json();
    const entry = state.hits.get(hitId);
    if (entry) { entry.state = step.state; entry.taken_by = step.username; render(entry); }
  }
  await showCard(hitId);  // the hit as it stands now: after a refusal, the state someone else left
  $("step-error").textContent = refused;
}
