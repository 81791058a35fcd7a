// surfaced's web page: one WebSocket to the daemon, a desk drawn from what it sends.
// The daemon checks every message against this page's role; this page only
// draws what it is given and sends what a hand does (docs/browser.md).
"use strict";
(() => {
  const token = new URLSearchParams(location.search).get("token");
  const st = {
    role: null, channels: 0, buses: 0, busNames: [], law: [], commands: [],
    values: new Map(),   // path -> [value, position]
    layer: 0,            // 0: the main mix; B: the cue mix of aux bus B
  };
  const controls = new Map();  // path -> [update(wire)]
  let meterEls = {ch: [], bus: null, master: []};
  let ws = null;
  let opened = false;
  let retries = 0;
  let nextId = 1;
  const held = new Set();  // let-go functions of the controls a finger holds now

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const clamp01 = (x) => Math.min(1, Math.max(0, x));
  const bind = (path, fn) => {
    if (!controls.has(path)) controls.set(path, []);
    controls.get(path).push(fn);
    const w = st.values.get(path);
    if (w) fn(w);
  };
  const send = (msg) => {
    if (ws && ws.readyState === WebSocket.OPEN) {
      msg.id = nextId++;
      ws.send(JSON.stringify(msg));
    }
  };

  // ---------------------------------------------------------------- display
  const fmtDb = (v) => (v === null ? "-\u221e" : (v > 0 ? "+" : "") + v.toFixed(1));
  const fmtPan = (v) => {
    const n = Math.round(Math.abs(v) * 100);
    return n === 0 ? "C" : (v < 0 ? "L" : "R") + n;
  };
  // dB for a position, from the daemon's own fader law (a table it sends), for the
  // readout while a finger moves a fader; the daemon's value replaces it after.
  const lawDb = (p) => {
    const law = st.law;
    if (!law.length || p <= 0) return null;
    const i = Math.min(law.length - 2, Math.floor(p * (law.length - 1)));
    const [p0, d0] = law[i];
    const [p1, d1] = law[i + 1];
    if (d0 === null) return d1;
    return d0 + (d1 - d0) * (p - p0) / (p1 - p0);
  };
  const lawPos = (db) => {
    for (let i = 1; i < st.law.length; i++) {
      const [p1, d1] = st.law[i];
      const [p0, d0] = st.law[i - 1];
      if (d1 !== null && d1 >= db) return d0 === null ? p1 : p0 + (p1 - p0) * (db - d0) / (d1 - d0);
    }
    return 1;
  };
  let toastTimer = 0;
  const toast = (text) => {
    const t = document.getElementById("toast");
    t.textContent = text;
    t.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove("shown"), 3500);
  };
  const setStatus = (state, text) => {
    const s = document.getElementById("status");
    s.dataset.state = state;
    s.textContent = text;
  };

  // ---------------------------------------------------------------- controls
  // A fader or pan: drag anywhere on it; it moves by how far the finger moves and
  // never jumps. Pointer down is a touch (the daemon groups the ride into one undo
  // step, and motor faders elsewhere yield) until the finger lets go.
  function slider(path, {vertical, kind, readout}) {
    const e = el("div", vertical ? "fader" : "pan");
    if (kind) e.classList.add(kind);
    e.dataset.path = path;
    e.tabIndex = 0;
    e.setAttribute("role", "slider");
    e.setAttribute("aria-orientation", vertical ? "vertical" : "horizontal");
    e.setAttribute("aria-valuemin", "0");
    e.setAttribute("aria-valuemax", "1");
    if (vertical) {
      e.append(el("div", "track"));
      const unity = el("div", "unity");
      unity.style.setProperty("--unity", String(lawPos(0)));
      e.append(unity);
    } else {
      e.append(el("div", "centre"));
    }
    e.append(el("div", "cap"));
    let pos = 0;
    let sent = -1;
    let grip = null;  // {pointer, from, start} while a finger (or the mouse) holds it
    let timer = 0;
    const text = (p, value) => {
      if (!readout) return;
      if (vertical) readout.textContent = fmtDb(value !== undefined ? value : lawDb(p));
      else readout.textContent = fmtPan(value !== undefined ? value : p * 2 - 1);
    };
    const draw = (p, value) => {
      pos = p;
      e.style.setProperty("--pos", String(p));
      e.setAttribute("aria-valuenow", p.toFixed(3));
      e.dataset.pos = String(p);
      text(p, value);
    };
    const flush = () => {
      timer = 0;
      if (pos !== sent) {
        sent = pos;
        send({t: "set", path, pos: Number(pos.toFixed(5))});
      }
    };
    const move = (p) => {
      draw(clamp01(p));
      if (!timer) timer = setTimeout(flush, 20);  // at most 50 a second
    };
    const travel = () => {
      const r = e.getBoundingClientRect();
      const cap = e.querySelector(".cap").getBoundingClientRect();
      return Math.max(20, vertical ? r.height - cap.height : r.width - cap.width);
    };
    e.addEventListener("pointerdown", (ev) => {
      if (grip || ev.button > 0) return;
      ev.preventDefault();
      e.setPointerCapture(ev.pointerId);
      grip = {pointer: ev.pointerId, from: vertical ? ev.clientY : ev.clientX, start: pos};
      held.add(letGo);
      e.classList.add("held");
      e.focus({preventScroll: true});
      send({t: "touch", path, on: true});
    });
    e.addEventListener("pointermove", (ev) => {
      if (!grip || ev.pointerId !== grip.pointer) return;
      const d = vertical ? grip.from - ev.clientY : ev.clientX - grip.from;
      move(grip.start + d / travel());
    });
    function letGo() {
      if (!grip) return;
      grip = null;
      held.delete(letGo);
      clearTimeout(timer);
      flush();
      e.classList.remove("held");
      send({t: "touch", path, on: false});
    }
    const release = (ev) => { if (grip && ev.pointerId === grip.pointer) letGo(); };
    e.addEventListener("pointerup", release);
    e.addEventListener("pointercancel", release);
    e.addEventListener("lostpointercapture", release);
    if (!vertical) e.addEventListener("dblclick", () => { move(0.5); });
    e.addEventListener("keydown", (ev) => {
      const step = {ArrowUp: 0.01, ArrowRight: 0.01, ArrowDown: -0.01, ArrowLeft: -0.01,
                    PageUp: 0.1, PageDown: -0.1}[ev.key];
      if (step !== undefined) { ev.preventDefault(); move(pos + step); }
    });
    bind(path, (w) => {
      e.dataset.value = w[0] === null ? "-inf" : String(w[0]);
      e.setAttribute("aria-valuetext", vertical ? fmtDb(w[0]) + " dB" : fmtPan(w[0]));
      if (!grip && w[1] !== null) { draw(w[1], w[0]); sent = w[1]; }
    });
    return e;
  }

  function toggle(path, label, cls) {
    const b = el("button", cls, label);
    b.type = "button";
    b.dataset.path = path;
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => {
      const on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", String(on));
      send({t: "set", path, value: on ? 1 : 0});
    });
    bind(path, (w) => { b.setAttribute("aria-pressed", String(w[0] >= 0.5)); });
    return b;
  }

  function nameOf(ch) {
    const w = st.values.get(`ch/${ch}/name`);
    return w && w[0] ? w[0] : `Ch ${ch}`;
  }

  function nameLabel(ch) {
    const path = `ch/${ch}/name`;
    const engineer = st.role.kind === "engineer";
    const n = el(engineer ? "button" : "div", "name");
    n.dataset.path = path;
    if (engineer) {
      n.type = "button";
      n.title = "Rename";
      n.addEventListener("click", () => {
        const name = window.prompt(`Name of channel ${ch}`, nameOf(ch));
        if (name !== null) {
          send({t: "set", path, value: name.slice(0, 64)});
          st.values.set(path, [name, null]);
          n.textContent = nameOf(ch);
        }
      });
    }
    bind(path, () => { n.textContent = nameOf(ch); });
    return n;
  }

  function meter(wide) {
    const m = el("div", wide ? "meter wide" : "meter");
    m.append(el("div", "bar"));
    return m;
  }
  const level = (db) => clamp01((db + 60) / 66);  // -60 dBFS .. +6

  // ------------------------------------------------------------------- desk
  function channelStrip(ch) {
    const s = el("div", "strip");
    s.dataset.ch = String(ch);
    s.append(nameLabel(ch));
    const readout = el("div", "readout");
    const engineer = st.role.kind === "engineer";
    const bus = engineer ? st.layer : st.role.bus;
    if (bus === 0) {
      const panOut = el("div", "readout");
      s.append(slider(`ch/${ch}/pan`, {vertical: false, readout: panOut}), panOut);
      const sw = el("div", "switches");
      sw.append(toggle(`ch/${ch}/mute`, "M", "mute"), toggle(`ch/${ch}/solo`, "S", "solo"));
      s.append(sw);
    }
    const lane = el("div", "lane");
    if (engineer) {
      const m = meter(false);
      meterEls.ch[ch - 1] = m;
      lane.append(m);
    }
    const path = bus === 0 ? `ch/${ch}/fader` : `ch/${ch}/send/${bus}`;
    lane.append(slider(path, {vertical: true, kind: bus === 0 ? "" : "send", readout}));
    s.append(lane, readout);
    return s;
  }

  function outputStrip() {
    const s = el("div", "strip master");
    const readout = el("div", "readout");
    const lane = el("div", "lane");
    if (st.role.kind === "artist") {
      s.append(el("div", "name", "My mix"));
      const m = meter(true);
      m.append(el("div", "rms"));
      meterEls.bus = m;
      lane.append(m);
      meterEls.busReadout = readout;
      s.append(lane, readout);
      return s;
    }
    if (st.layer === 0) {
      s.append(el("div", "name", "Master"));
      meterEls.master = [meter(false), meter(false)];
      lane.append(...meterEls.master);
      lane.append(slider("master/fader", {vertical: true, readout}));
    } else {
      const b = st.layer;
      s.append(el("div", "name", st.busNames[b - 1] || `Bus ${b}`));
      const sw = el("div", "switches");
      sw.append(toggle(`bus/${b}/mute`, "M", "mute"));
      s.append(sw);
      meterEls.bus = meter(false);
      lane.append(meterEls.bus);
      lane.append(slider(`bus/${b}/fader`, {vertical: true, readout}));
    }
    s.append(lane, readout);
    return s;
  }

  function render() {
    controls.clear();
    meterEls = {ch: [], bus: null, master: []};
    const strips = document.getElementById("strips");
    const masters = document.getElementById("masters");
    const keep = strips.scrollLeft;
    strips.replaceChildren();
    for (let ch = 1; ch <= st.channels; ch++) strips.append(channelStrip(ch));
    masters.replaceChildren(outputStrip());
    strips.scrollLeft = keep;
    const layers = document.getElementById("layers");
    layers.replaceChildren();
    if (st.role.kind === "engineer") {
      const tabs = [[0, "Main"]];
      for (let b = 1; b <= st.buses; b++) tabs.push([b, st.busNames[b - 1] || `Bus ${b}`]);
      for (const [b, label] of tabs) {
        const t = el("button", "", label);
        t.type = "button";
        t.dataset.layer = String(b);
        t.title = b === 0 ? "The main mix" : `Cue mix on bus ${b}: sends from every channel`;
        t.setAttribute("aria-pressed", String(b === st.layer));
        t.addEventListener("click", () => { st.layer = b; render(); });
        layers.append(t);
      }
    }
  }

  function tools() {
    const box = document.getElementById("tools");
    box.replaceChildren();
    const can = new Set(st.commands);
    for (const [name, label] of [["undo", "Undo"], ["redo", "Redo"]]) {
      if (!can.has(name)) continue;
      const b = el("button", "", label);
      b.type = "button";
      b.dataset.command = name;
      b.addEventListener("click", () => send({t: "cmd", name, args: []}));
      box.append(b);
    }
    if (can.has("scene/recall") && can.has("scene/list")) {
      const sel = el("select");
      sel.id = "scenes";
      sel.setAttribute("aria-label", "Recall a scene");
      sel.append(new Option("Scenes", ""));
      sel.addEventListener("focus", () => send({t: "cmd", name: "scene/list", args: []}));
      sel.addEventListener("change", () => {
        if (sel.value) send({t: "cmd", name: "scene/recall", args: [sel.value]});
        sel.value = "";
      });
      box.append(sel);
      send({t: "cmd", name: "scene/list", args: []});
    }
  }

  // ---------------------------------------------------------------- messages
  function onInit(m) {
    Object.assign(st, {role: m.role, channels: m.channels, buses: m.buses,
                       busNames: m.busNames, law: m.law, commands: m.commands});
    st.values = new Map(Object.entries(m.values));
    if (m.role.kind === "artist") st.layer = m.role.bus;
    else if (st.layer > st.buses) st.layer = 0;
    document.getElementById("role").textContent =
      m.role.kind === "engineer" ? "Engineer" : `${m.role.name}'s mix`;
    document.title = `surfaced \u00b7 ${m.role.kind === "engineer" ? "engineer" : m.role.name}`;
    document.body.dataset.role = m.role.kind;
    render();
    tools();
  }

  function onSet(values) {
    for (const [path, w] of Object.entries(values)) {
      st.values.set(path, w);
      for (const fn of controls.get(path) || []) fn(w);
    }
  }

  function onMeters(m) {
    if (m.ch) m.ch.forEach((db, i) => {
      const e = meterEls.ch[i];
      if (e) e.style.setProperty("--level", level(db).toFixed(3));
    });
    if (m.master) m.master.forEach((db, i) => {
      const e = meterEls.master[i];
      if (e) e.style.setProperty("--level", level(db).toFixed(3));
    });
    if (m.bus && meterEls.bus && st.layer > 0) {
      meterEls.bus.style.setProperty("--level", level(m.bus[st.layer - 1]).toFixed(3));
    }
    if (m.mine && meterEls.bus) {
      meterEls.bus.style.setProperty("--level", level(m.mine[0]).toFixed(3));
      meterEls.bus.style.setProperty("--rms", level(m.mine[1]).toFixed(3));
      meterEls.busReadout.textContent = m.mine[0] <= -120 ? "-\u221e" : m.mine[0].toFixed(1);
    }
  }

  function onReply(m) {
    if (m.name === "scene/list") {
      const sel = document.getElementById("scenes");
      if (!sel) return;
      sel.replaceChildren(new Option(m.values.length ? "Scenes" : "No scenes", ""));
      for (const name of m.values) sel.append(new Option(String(name), String(name)));
    }
  }

  function onMessage(ev) {
    let m;
    try { m = JSON.parse(ev.data); } catch (err) { return; }
    if (m.t === "init") onInit(m);
    else if (m.t === "set") onSet(m.values);
    else if (m.t === "meters") onMeters(m);
    else if (m.t === "reply") onReply(m);
    else if (m.t === "error") toast(m.message);
  }

  // -------------------------------------------------------------- connection
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    opened = false;
    ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.onopen = () => { opened = true; retries = 0; setStatus("live", "live"); };
    ws.onmessage = onMessage;
    ws.onclose = () => {
      ws = null;
      if (opened) { setStatus("offline", "reconnecting"); later(); return; }
      // Never opened: a wrong token (403), or the daemon is not running.
      fetch(`/?token=${encodeURIComponent(token)}`, {cache: "no-store"}).then((r) => {
        if (r.status === 403) setStatus("refused", "link not valid: ask for the current one");
        else { setStatus("offline", "reconnecting"); later(); }
      }, () => { setStatus("offline", "daemon not reachable; retrying"); later(); });
    };
  }
  function later() {
    retries += 1;
    setTimeout(connect, Math.min(5000, 500 * retries));
  }

  document.addEventListener("contextmenu", (ev) => ev.preventDefault());
  // A phone locked mid-ride may never deliver the finger's release: let go when the
  // page is hidden, so nothing stays held (motor faders elsewhere wait for a release).
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) for (const letGo of [...held]) letGo();
  });
  if (!token) {
    document.getElementById("desk").hidden = true;
    const form = document.getElementById("login");
    form.hidden = false;
    setStatus("offline", "no token");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = document.getElementById("token").value.trim();
      if (t) location.search = `?token=${encodeURIComponent(t)}`;
    });
  } else {
    connect();
  }
  window.surfaced = {state: st, socket: () => ws};  // for tests and the curious
})();
