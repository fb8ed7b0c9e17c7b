/* eventplatform browser client (clients/js), Apache-2.0. Built by esbuild from clients/js/src. */

// src/core.js
var MAX_ID = 4294967295;
var UNITS = ["session", "pageview", "device"];
function normalizeId(id) {
  return parseInt(String(id).slice(0, 8), 16) / MAX_ID;
}
function inSample(id, rate) {
  const n = normalizeId(id);
  return !Number.isNaN(n) && n < rate;
}
function validSample(sample) {
  return !!sample && typeof sample === "object" && !!sample.unit && typeof sample.rate === "number" && !!sample.rate && sample.rate >= 0 && sample.rate <= 1;
}
function sampleVerdict(stream, config, ids) {
  if (!config || !("sample" in config)) {
    return null;
  }
  const sample = config.sample;
  if (!validSample(sample)) {
    return `The stream ${stream} has an invalid sample setting ${JSON.stringify(sample)}. No event will be sent`;
  }
  const id = { session: ids.session, pageview: ids.pageview, device: ids.device }[sample.unit];
  if (id === void 0) {
    return `The stream ${stream} samples by unknown unit "${sample.unit}" (known: ${UNITS.join(", ")}). No event will be sent`;
  }
  return inSample(id, sample.rate) ? null : `The stream ${stream} is out of sample. No event will be sent`;
}
var StreamTable = class {
  constructor(configs) {
    this.disabled = configs === false || configs === null || configs === void 0;
    const streams = configs && typeof configs.streams === "object" ? configs.streams : configs || {};
    this.exact = /* @__PURE__ */ new Map();
    this.patterns = [];
    for (const [name, config] of Object.entries(streams)) {
      if (!config || typeof config !== "object") {
        continue;
      }
      if (name.length > 1 && name.startsWith("/") && name.endsWith("/")) {
        this.patterns.push([new RegExp(name.slice(1, -1)), config]);
      } else {
        this.exact.set(name, config);
      }
    }
  }
  lookup(stream) {
    if (this.disabled) {
      return {};
    }
    if (this.exact.has(stream)) {
      return this.exact.get(stream);
    }
    for (const [re, config] of this.patterns) {
      if (re.test(stream)) {
        return config;
      }
    }
    return void 0;
  }
  /** null to send, else [kind, message] with kind 'unconfigured' or 'outOfSample'. */
  verdict(stream, ids) {
    const config = this.lookup(stream);
    if (!config) {
      return ["unconfigured", `The stream ${stream} is not configured. No event will be sent`];
    }
    const reason = sampleVerdict(stream, config, ids);
    return reason === null ? null : ["outOfSample", reason];
  }
};
var BadEvent = class extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
};
function byteLength(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128) {
      n += c < 2048 ? 1 : 2;
      if (c >= 55296 && c <= 56319) {
        i++;
      }
    }
  }
  return n;
}
function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
}
function newEventId() {
  if (globalThis.crypto && typeof globalThis.crypto.randomUUID === "function") {
    return globalThis.crypto.randomUUID();
  }
  const h = randomHex(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20)}`;
}
function prepareEvent(stream, data, { domain, now = /* @__PURE__ */ new Date(), maxBytes = Infinity } = {}) {
  if (typeof stream !== "string" || !stream) {
    throw new BadEvent("badStream", `submit( ${String(stream)}, eventData ) needs a non-empty stream name.`);
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    throw new BadEvent("notAnObject", `submit( ${stream}, eventData ) called with ${Array.isArray(data) ? "an array" : typeof data}, not an object. No event will be produced.`);
  }
  if (!data.$schema) {
    throw new BadEvent("missingSchema", `submit( ${stream}, eventData ) called with eventData missing required field "$schema". No event will be produced.`);
  }
  let copy;
  try {
    copy = JSON.parse(JSON.stringify(data));
  } catch (e) {
    throw new BadEvent("unserialisable", `submit( ${stream}, eventData ): the event cannot be serialised as JSON (${e.message}); cyclic or not plain data. No event will be produced.`);
  }
  const meta = copy.meta && typeof copy.meta === "object" && !Array.isArray(copy.meta) ? copy.meta : {};
  meta.stream = stream;
  if (domain) {
    meta.domain = domain;
  }
  if (!meta.id) {
    meta.id = newEventId();
  }
  copy.meta = meta;
  if ("client_dt" in copy) {
    delete copy.dt;
  } else {
    copy.dt = now.toISOString();
  }
  const body = JSON.stringify(copy);
  const bytes = byteLength(body);
  if (bytes > maxBytes) {
    throw new BadEvent("tooLarge", `submit( ${stream}, eventData ): the event is ${bytes} bytes, over the limit of ${maxBytes}. No event will be produced.`);
  }
  return { id: meta.id, stream, body, bytes };
}
function splitBatches(items, maxBytes, maxCount = Infinity) {
  const out = [];
  let batch = [];
  let size = 2;
  for (const item of items) {
    const n = item.bytes + (batch.length ? 1 : 0);
    if (batch.length && (size + n > maxBytes || batch.length >= maxCount)) {
      out.push(batch);
      batch = [];
      size = 2;
    }
    batch.push(item);
    size += item.bytes + (batch.length > 1 ? 1 : 0);
  }
  if (batch.length) {
    out.push(batch);
  }
  return out;
}
function batchBody(items) {
  return `[${items.map((i) => i.body).join(",")}]`;
}
function backoffDelay(attempt, baseMs, maxMs, random = Math.random) {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

// src/validate.js
var DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
function typeOf(value) {
  if (value === null) {
    return "null";
  }
  if (Array.isArray(value)) {
    return "array";
  }
  if (typeof value === "number") {
    return Number.isInteger(value) ? "integer" : "number";
  }
  return typeof value;
}
function typeMatches(value, type) {
  const actual = typeOf(value);
  return actual === type || type === "number" && actual === "integer";
}
function validate(schema, value, path = "", out = []) {
  if (!schema || typeof schema !== "object") {
    return out;
  }
  const at = path || "/";
  if (schema.type !== void 0) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) {
      out.push({ path: at, message: `must be ${types.join(" or ")}, not ${typeOf(value)}` });
      return out;
    }
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.push({ path: at, message: `must be one of ${JSON.stringify(schema.enum)}` });
  }
  if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
    out.push({ path: at, message: `must be ${JSON.stringify(schema.const)}` });
  }
  if (typeof value === "string") {
    const n = [...value].length;
    if (schema.maxLength !== void 0 && n > schema.maxLength) {
      out.push({ path: at, message: `must NOT have more than ${schema.maxLength} characters (has ${n})` });
    }
    if (schema.minLength !== void 0 && n < schema.minLength) {
      out.push({ path: at, message: `must NOT have fewer than ${schema.minLength} characters` });
    }
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(value)) {
      out.push({ path: at, message: `must match pattern "${schema.pattern}"` });
    }
    if (schema.format === "date-time" && !DATE_TIME.test(value)) {
      out.push({ path: at, message: 'must match format "date-time"' });
    }
  }
  if (typeof value === "number") {
    if (schema.maximum !== void 0 && value > schema.maximum) {
      out.push({ path: at, message: `must be <= ${schema.maximum}` });
    }
    if (schema.minimum !== void 0 && value < schema.minimum) {
      out.push({ path: at, message: `must be >= ${schema.minimum}` });
    }
  }
  if (Array.isArray(value) && schema.items && typeof schema.items === "object") {
    value.forEach((item, i) => validate(schema.items, item, `${path}/${i}`, out));
  }
  if (typeOf(value) === "object") {
    for (const name of schema.required || []) {
      if (!(name in value)) {
        out.push({ path: at, message: `must have required property '${name}'` });
      }
    }
    const props = schema.properties || {};
    for (const [name, child] of Object.entries(value)) {
      if (name in props) {
        validate(props[name], child, `${path}/${name}`, out);
      } else if (schema.additionalProperties === false) {
        out.push({ path: at, message: `must NOT have additional property '${name}'` });
      } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
        validate(schema.additionalProperties, child, `${path}/${name}`, out);
      }
    }
  }
  return out;
}

// src/eventlog.js
var PREFIX = "eventplatform:";
var BEACON_QUOTA = 64 * 1024;
var ORPHAN_MS = 15e3;
var DEFAULTS = {
  streamConfigs: false,
  domain: void 0,
  batchSize: 50,
  batchBytes: 6e4,
  lingerMs: 5e3,
  maxEventBytes: void 0,
  maxQueue: 1e3,
  retryBaseMs: 1e3,
  retryMaxMs: 6e4,
  configRefreshMs: 3e5,
  storage: "localStorage",
  debug: void 0,
  schemaBaseUrl: void 0,
  ids: void 0
};
var COUNTERS = [
  "submitted",
  "queued",
  "delivered",
  "invalid",
  "rejected",
  "retries",
  "beacons",
  "dropped",
  "restored",
  "outOfSample",
  "unconfigured",
  "missingSchema",
  "notAnObject",
  "unserialisable",
  "tooLarge",
  "badStream",
  "storageErrors",
  "configErrors",
  "error"
];
function storageOf(win, kind) {
  if (!kind) {
    return null;
  }
  if (typeof kind === "object") {
    return kind;
  }
  try {
    const s = win[kind];
    const probe = `${PREFIX}probe`;
    s.setItem(probe, "1");
    s.removeItem(probe);
    return s;
  } catch (e) {
    return e;
  }
}
var EventLog = class {
  /**
   * @param {object} options `url` (intake's /v1/events, required); `streamConfigs` (URL of
   * /v1/stream-configs, an object, or false: every stream accepted unsampled); `domain` (meta.domain,
   * default location.hostname); batching `batchSize`, `batchBytes`, `lingerMs`; `maxEventBytes`;
   * `maxQueue`; retries `retryBaseMs`, `retryMaxMs`; `storage` ('localStorage', an object, or null);
   * `debug` (default: localStorage 'eventplatform:debug' is '1'); `ids` {session, pageview, device}.
   */
  constructor(options) {
    const o = { ...DEFAULTS, ...options };
    if (!o.url) {
      throw new TypeError("EventLog needs { url } (the intake, e.g. https://host/v1/events)");
    }
    this.options = o;
    this.url = o.url;
    this.win = o.window || globalThis;
    this.console = o.console || globalThis.console;
    this.fetch = o.fetch || globalThis.fetch.bind(globalThis);
    this.stats = Object.fromEntries(COUNTERS.map((c) => [c, 0]));
    this.log = [];
    this.batchBytes = Math.min(o.batchBytes, BEACON_QUOTA);
    this.maxEventBytes = Math.min(o.maxEventBytes || this.batchBytes - 2, this.batchBytes - 2);
    this.domain = o.domain !== void 0 ? o.domain : this.win.location && this.win.location.hostname;
    this.queue = [];
    this.inFlight = /* @__PURE__ */ new Set();
    this.timer = null;
    this.unloading = false;
    this.schemas = /* @__PURE__ */ new Map();
    this.warned = /* @__PURE__ */ new Set();
    this.instance = randomHex(8);
    const storage = storageOf(this.win, o.storage);
    this.storage = storage instanceof Error ? null : storage;
    if (storage instanceof Error) {
      this._storageError("open", storage);
    }
    this.debug = o.debug !== void 0 ? !!o.debug : this._get(`${PREFIX}debug`) === "1";
    this.ids = { ...this._defaultIds(), ...o.ids || {} };
    this.table = null;
    this._setupConfig(o.streamConfigs);
    this._restore();
    this._listen();
  }
  // -- submit ------------------------------------------------------------------------------------
  /** Queue one event (copied and stamped now). true if queued; false if refused (counted and
   * printed: never an exception into the caller's code). */
  submit(streamName, eventData) {
    this.stats.submitted++;
    let item;
    try {
      item = prepareEvent(streamName, eventData, { domain: this.domain, maxBytes: this.maxEventBytes });
      if (this.table) {
        const verdict = this.table.verdict(streamName, this.ids);
        if (verdict) {
          return this._refuse(verdict[0], verdict[1]);
        }
      } else {
        item.undecided = true;
      }
    } catch (e) {
      return this._refuse(e instanceof BadEvent ? e.kind : "error", e instanceof BadEvent ? e.message : `submit( ${streamName} ) failed: ${e}`);
    }
    item.attempts = 0;
    if (this.debug) {
      this._debugCheck(item);
    }
    this._push(item);
    return true;
  }
  /** Send everything queued now; resolves (never rejects) once intake answered each batch. */
  async flush() {
    clearTimeout(this.timer);
    this.timer = null;
    await this._send(true);
    return { queued: this.queue.length, delivered: this.stats.delivered };
  }
  /** Stop timers and listeners (tests; a page normally keeps its EventLog). */
  dispose() {
    clearTimeout(this.timer);
    clearInterval(this.refresh);
    for (const [target, type, fn] of this.listeners || []) {
      target.removeEventListener(type, fn);
    }
    this._persist();
  }
  _refuse(kind, message) {
    this.stats[kind in this.stats ? kind : "error"]++;
    if (kind === "outOfSample") {
      if (this.debug) {
        this.console.info(`[EventLog] ${message}`);
      }
    } else {
      this.console.warn(`[EventLog] ${message}`);
    }
    this._debugLog(`refused (${kind}): ${message}`);
    return false;
  }
  _push(item) {
    this.queue.push(item);
    this.stats.queued++;
    while (this.queue.length > this.options.maxQueue) {
      const dropped = this._dropOldest();
      if (!dropped) {
        break;
      }
    }
    this._schedulePersist();
    if (this.unloading) {
      this._sendOnUnload();
      return;
    }
    const ready = this._ready(false);
    const bytes = ready.reduce((n, i) => n + i.bytes + 1, 1);
    if (ready.length >= this.options.batchSize || bytes >= this.batchBytes) {
      this._arm(0);
    } else if (!this.timer) {
      this._arm(this.options.lingerMs);
    }
  }
  _dropOldest() {
    const index = this.queue.findIndex((i) => !this.inFlight.has(i));
    if (index < 0) {
      return false;
    }
    const [old] = this.queue.splice(index, 1);
    this.stats.dropped++;
    this.console.error(`[EventLog] the queue is full (${this.options.maxQueue} events): dropped the oldest event of ${old.stream} (meta.id ${old.id}); ${this.stats.dropped} dropped so far`);
    return true;
  }
  // -- sending -----------------------------------------------------------------------------------
  _arm(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this._send(false);
    }, ms);
  }
  _ready(all) {
    const now = Date.now();
    return this.queue.filter((i) => !i.undecided && !this.inFlight.has(i) && (all || !i.notBefore || i.notBefore <= now));
  }
  async _send(all) {
    const batches = splitBatches(this._ready(all), this.batchBytes, this.options.batchSize);
    await Promise.all(batches.map((b) => this._post(b)));
    this._rearm();
  }
  _rearm() {
    if (this.timer || !this.queue.length) {
      return;
    }
    const waiting = this.queue.filter((i) => !i.undecided && !this.inFlight.has(i));
    if (!waiting.length) {
      return;
    }
    const next = Math.min(...waiting.map((i) => i.notBefore || 0));
    this._arm(Math.max(0, next ? next - Date.now() : this.options.lingerMs));
  }
  async _post(batch) {
    for (const item of batch) {
      this.inFlight.add(item);
    }
    const body = batchBody(batch);
    this._debugLog(`sending ${batch.length} events (${byteLength(body)} bytes) to ${this.url}`);
    let resp;
    let answer = null;
    try {
      resp = await this.fetch(this.url, { method: "POST", body, keepalive: byteLength(body) <= BEACON_QUOTA });
      answer = await resp.json().catch(() => null);
    } catch (e) {
      this._retry(batch, `network error: ${e && e.message ? e.message : e}`);
      return;
    } finally {
      for (const item of batch) {
        this.inFlight.delete(item);
      }
    }
    const status = resp.status;
    this._debugLog(`intake answered ${status}: ${answer && answer.message ? answer.message : resp.statusText}`);
    if (status >= 200 && status < 300 && status !== 207) {
      this._done(batch, "delivered");
      return;
    }
    const lists = answer && (Array.isArray(answer.invalid) || Array.isArray(answer.error));
    if (lists && (status === 207 || status === 400 || status === 500)) {
      this._answered(batch, answer, status);
      return;
    }
    if (status === 413 && batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      await Promise.all([this._post(batch.slice(0, half)), this._post(batch.slice(half))]);
      return;
    }
    const message = answer && (answer.message || answer.detail) || resp.statusText;
    if (status === 429 || status >= 500) {
      this._retry(batch, `intake answered ${status}: ${message}`);
      return;
    }
    this._done(batch, "rejected");
    this.console.error(`[EventLog] intake refused ${batch.length} events with ${status}: ${message}`);
  }
  _answered(batch, answer, status) {
    const byId = new Map(batch.map((item, n) => [item.id, n]));
    const fate = /* @__PURE__ */ new Map();
    for (const [kind, entries] of [["invalid", answer.invalid || []], ["error", answer.error || []]]) {
      for (const entry of entries) {
        let n = Number.isInteger(entry.index) && entry.index < batch.length ? entry.index : void 0;
        if (n === void 0 && entry.event && entry.event.meta) {
          n = byId.get(entry.event.meta.id);
        }
        if (n === void 0) {
          continue;
        }
        fate.set(n, kind);
        if (kind === "invalid") {
          const item = batch[n];
          this.console.error(`[EventLog] intake refused an event of ${item.stream} (meta.id ${item.id}) as invalid: ${entry.message || JSON.stringify(entry.context)}`);
        }
      }
    }
    if (status === 500 && !fate.size) {
      this._retry(batch, "intake answered 500");
      return;
    }
    this._done(batch.filter((_, n) => fate.get(n) === "invalid"), "invalid");
    this._done(batch.filter((_, n) => !fate.has(n)), "delivered");
    const again = batch.filter((_, n) => fate.get(n) === "error");
    if (again.length) {
      this._retry(again, `intake could not store ${again.length} events (${status})`);
    }
  }
  _done(items, kind) {
    if (!items.length) {
      return;
    }
    const gone = new Set(items);
    this.queue = this.queue.filter((i) => !gone.has(i));
    this.stats[kind] += items.length;
    this._schedulePersist();
  }
  _retry(items, reason) {
    this.stats.retries++;
    const now = Date.now();
    let wait = 0;
    for (const item of items) {
      item.attempts = (item.attempts || 0) + 1;
      const delay = Math.max(50, backoffDelay(item.attempts, this.options.retryBaseMs, this.options.retryMaxMs));
      item.notBefore = now + delay;
      wait = Math.max(wait, delay);
    }
    this.console.warn(`[EventLog] ${items.length} events not sent yet (${reason}); retrying in ${wait} ms`);
    this._debugLog(`retry of ${items.length} events in ${wait} ms: ${reason}`);
    this._schedulePersist();
  }
  /** pagehide / hidden: everything ready goes out now through sendBeacon (fetch keepalive when the
   * beacon is refused); what neither takes stays persisted for the next page. */
  _sendOnUnload() {
    clearTimeout(this.timer);
    this.timer = null;
    const nav = this.win.navigator;
    const fresh = this._ready(true).filter((i) => !i.attempts);
    for (const batch of splitBatches(fresh, this.batchBytes, this.options.batchSize)) {
      const body = batchBody(batch);
      let sent = false;
      try {
        sent = !!(nav && nav.sendBeacon && nav.sendBeacon(this.url, body));
      } catch (e) {
        sent = false;
      }
      if (sent) {
        this.stats.beacons++;
        this._done(batch, "delivered");
        continue;
      }
      this._post(batch);
    }
    this._persist(true);
  }
  // -- stream config -----------------------------------------------------------------------------
  _setupConfig(source) {
    if (typeof source !== "string") {
      this.table = new StreamTable(source);
      return;
    }
    const key = `${PREFIX}streamconfigs:${source}`;
    const cached = this._get(key);
    if (cached) {
      try {
        this.table = new StreamTable(JSON.parse(cached));
      } catch (e) {
        this.table = null;
      }
    }
    const load = () => this.fetch(source).then((r) => {
      if (!r.ok) {
        throw new Error(`HTTP ${r.status}`);
      }
      return r.json();
    }).then((body) => {
      this.table = new StreamTable(body);
      this._set(key, JSON.stringify(body));
      this._decideWaiting();
    }).catch((e) => {
      this.stats.configErrors++;
      this.console.warn(`[EventLog] cannot load the stream config from ${source}: ${e.message || e} (${this.table ? "keeping the last one" : "events wait for it"})`);
      if (!this.table) {
        setTimeout(load, Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 5));
      }
    });
    this.configLoaded = load();
    this.refresh = setInterval(load, this.options.configRefreshMs);
    if (this.refresh && this.refresh.unref) {
      this.refresh.unref();
    }
    if (this.table) {
      this.configLoaded = Promise.resolve();
    }
  }
  _decideWaiting() {
    const waiting = this.queue.filter((i) => i.undecided);
    for (const item of waiting) {
      const verdict = this.table.verdict(item.stream, item.ids || this.ids);
      delete item.undecided;
      if (verdict) {
        this.queue.splice(this.queue.indexOf(item), 1);
        this._refuse(verdict[0], verdict[1]);
      }
    }
    if (waiting.length) {
      this._schedulePersist();
      this._arm(0);
    }
  }
  // -- identifiers -------------------------------------------------------------------------------
  _defaultIds() {
    let device = this._get(`${PREFIX}device`);
    if (!device) {
      device = randomHex(10);
      this._set(`${PREFIX}device`, device);
    }
    let session = null;
    try {
      session = this.win.sessionStorage.getItem(`${PREFIX}session`);
      if (!session) {
        session = randomHex(10);
        this.win.sessionStorage.setItem(`${PREFIX}session`, session);
      }
    } catch (e) {
      session = session || randomHex(10);
    }
    return { session, pageview: randomHex(10), device };
  }
  // -- persistence -------------------------------------------------------------------------------
  _key() {
    return `${PREFIX}queue:${this.instance}`;
  }
  _schedulePersist() {
    if (this.persistQueued) {
      return;
    }
    this.persistQueued = true;
    Promise.resolve().then(() => {
      this.persistQueued = false;
      this._persist();
    });
  }
  /** The queue under this page's own key (two tabs never overwrite each other's events). */
  _persist(orphan = false) {
    if (!this.storage) {
      return;
    }
    const items = this.queue.map(({ id, stream, body, bytes, attempts, undecided }) => ({ id, stream, body, bytes, attempts, undecided }));
    try {
      if (items.length) {
        const t = orphan || this.unloading ? 0 : Date.now();
        this.storage.setItem(this._key(), JSON.stringify({ t, ids: this.ids, items }));
      } else {
        this.storage.removeItem(this._key());
      }
    } catch (e) {
      this._storageError("write", e);
    }
  }
  /** Adopt the queues of pages that are gone (pagehide marked them, or they were not touched for a while). */
  _restore() {
    if (!this.storage) {
      return;
    }
    const now = Date.now();
    const keys = [];
    for (let n = 0; n < this.storage.length; n++) {
      const key = this.storage.key(n);
      if (key && key.startsWith(`${PREFIX}queue:`) && key !== this._key()) {
        keys.push(key);
      }
    }
    for (const key of keys) {
      let saved;
      try {
        saved = JSON.parse(this.storage.getItem(key));
      } catch (e) {
        this.console.warn(`[EventLog] discarded an unreadable saved queue ${key}: ${e.message}`);
        this.stats.storageErrors++;
        this.storage.removeItem(key);
        continue;
      }
      if (!saved || !Array.isArray(saved.items) || saved.t && now - saved.t < ORPHAN_MS) {
        continue;
      }
      this.storage.removeItem(key);
      for (const item of saved.items) {
        item.ids = saved.ids;
        this.queue.push(item);
        this.stats.restored++;
      }
    }
    if (this.stats.restored) {
      this._debugLog(`restored ${this.stats.restored} events saved by an earlier page`);
      while (this.queue.length > this.options.maxQueue && this._dropOldest()) {
      }
      this._schedulePersist();
      this._arm(0);
    }
  }
  _storageError(what, e) {
    this.stats.storageErrors++;
    const message = `[EventLog] cannot ${what} localStorage (${e && e.name ? e.name : e}): events are kept in memory only and a reload before they are sent loses them`;
    if (!this.warned.has(what)) {
      this.warned.add(what);
      this.console.warn(message);
    }
  }
  _get(key) {
    try {
      return this.storage ? this.storage.getItem(key) : null;
    } catch (e) {
      return null;
    }
  }
  _set(key, value) {
    try {
      if (this.storage) {
        this.storage.setItem(key, value);
      }
    } catch (e) {
      this._storageError("write", e);
    }
  }
  // -- page lifecycle ----------------------------------------------------------------------------
  _listen() {
    const win = this.win;
    if (!win.addEventListener) {
      return;
    }
    const doc = win.document;
    const hide = () => {
      this.unloading = true;
      this._sendOnUnload();
    };
    const show = () => {
      this.unloading = false;
      this._persist();
    };
    const visibility = () => {
      if (doc.visibilityState === "hidden") {
        this._sendOnUnload();
        this._persist(true);
      } else {
        this._persist();
      }
    };
    this.listeners = [[win, "pagehide", hide], [win, "pageshow", show]];
    if (doc) {
      this.listeners.push([doc, "visibilitychange", visibility]);
    }
    for (const [target, type, fn] of this.listeners) {
      target.addEventListener(type, fn);
    }
  }
  // -- debug mode --------------------------------------------------------------------------------
  _debugLog(line) {
    if (!this.debug) {
      return;
    }
    const entry = `${(/* @__PURE__ */ new Date()).toISOString()} ${line}`;
    this.log.push(entry);
    this.console.info(`[EventLog] ${line}`);
    const doc = this.win.document;
    if (doc && doc.body) {
      let panel = doc.getElementById("eventlog-debug");
      if (!panel) {
        panel = doc.createElement("pre");
        panel.id = "eventlog-debug";
        panel.style.cssText = "position:fixed;bottom:0;right:0;max-height:40%;max-width:60%;overflow:auto;margin:0;padding:4px;background:#ffe;border:1px solid #aa8;font:11px monospace;z-index:2147483647";
        doc.body.appendChild(panel);
      }
      panel.textContent += `${entry}
`;
    }
  }
  schemaUrl(uri) {
    const base = this.options.schemaBaseUrl || `${new URL(this.url, this.win.location && this.win.location.href).origin}/v1/schemas`;
    return base + (uri.startsWith("/") ? uri : `/${uri}`);
  }
  /** Debug mode: validate against the schema fetched from intake, one console error per problem. */
  _debugCheck(item) {
    const event = JSON.parse(item.body);
    const uri = event.$schema;
    if (!this.schemas.has(uri)) {
      this.schemas.set(uri, this.fetch(this.schemaUrl(uri)).then((r) => {
        if (!r.ok) {
          throw new Error(`HTTP ${r.status}`);
        }
        return r.json();
      }));
    }
    this.debugChecks = this.schemas.get(uri).then((schema) => {
      const problems = validate(schema, event);
      for (const p of problems) {
        this.console.error(`[EventLog] debug: the event of ${item.stream} (meta.id ${item.id}) does not match ${uri}: ${p.path} ${p.message}`);
      }
      this._debugLog(problems.length ? `event ${item.id} of ${item.stream}: ${problems.length} problems against ${uri}` : `event ${item.id} of ${item.stream} is valid against ${uri}`);
      return problems;
    }, (e) => {
      this.console.warn(`[EventLog] debug: cannot fetch the schema ${uri} from ${this.schemaUrl(uri)} (${e.message || e}): the event is not checked here`);
      return null;
    });
  }
};
function installMw(eventLog, { baseUrl, maxUrlSize = 1014, schemasInfo = {}, wiki = null } = {}) {
  const win = eventLog.win;
  const mw = win.mw || (win.mw = {});
  const pending = [];
  const core = {
    submit: (streamName, eventData) => {
      eventLog.submit(streamName, eventData);
    },
    flush: () => eventLog.flush(),
    enqueue: (fn) => {
      pending.push(fn);
      setTimeout(() => pending.splice(0).forEach((f) => f()), 0);
    },
    sendBeacon: (url) => {
      try {
        if (win.navigator && win.navigator.sendBeacon && win.navigator.sendBeacon(url)) {
          return;
        }
      } catch (e) {
      }
      eventLog.fetch(url, { method: "POST", keepalive: true, mode: "no-cors" }).catch((e) => {
        eventLog.console.warn(`[EventLog] legacy beacon not sent: ${e.message || e}`);
      });
    },
    maxUrlSize,
    makeBeaconUrl: (capsule) => `${baseUrl}?${encodeURIComponent(JSON.stringify(capsule))};`,
    checkUrlSize: (schemaName, url) => {
      if (url.length > maxUrlSize) {
        return `Url exceeds maximum length (${url.length} > ${maxUrlSize})`;
      }
      return void 0;
    },
    prepare: (schemaName, eventData) => ({
      event: eventData || {},
      schema: schemaName,
      webHost: win.location && win.location.hostname,
      wiki
    }),
    logEvent: (schemaName, eventData) => {
      const capsule = core.prepare(schemaName, eventData);
      const info = schemasInfo[schemaName];
      if (typeof info === "string") {
        capsule.$schema = info;
        capsule.client_dt = (/* @__PURE__ */ new Date()).toISOString();
        eventLog.submit(`eventlogging_${schemaName}`, capsule);
        return Promise.resolve(capsule);
      }
      capsule.revision = typeof info === "number" ? info : -1;
      if (!baseUrl) {
        eventLog._refuse("rejected", `logEvent( ${schemaName} ): no legacy beacon URL (installMw({ baseUrl })). No event will be sent`);
        return Promise.reject(new Error("no legacy beacon URL"));
      }
      const url = core.makeBeaconUrl(capsule);
      const tooLong = core.checkUrlSize(schemaName, url);
      if (tooLong) {
        eventLog.stats.tooLarge++;
        eventLog.console.error(`[EventLog] logEvent( ${schemaName} ): ${tooLong}. No event will be sent`);
        return Promise.reject(new Error(tooLong));
      }
      core.sendBeacon(url);
      eventLog.stats.beacons++;
      return Promise.resolve(capsule);
    },
    randomTokenMatch: (populationSize, token) => parseInt(String(token || eventLog.ids.pageview).slice(0, 8), 16) % populationSize === 0,
    pageviewInSample: (populationSize) => core.randomTokenMatch(populationSize, eventLog.ids.pageview),
    sessionInSample: (populationSize) => core.randomTokenMatch(populationSize, eventLog.ids.session),
    id: {
      getPageviewId: () => eventLog.ids.pageview,
      getSessionId: () => eventLog.ids.session,
      generateId: () => newEventId().replace(/-/g, "").slice(0, 20),
      normalizeId
    },
    eventLog
  };
  mw.eventLog = Object.assign(mw.eventLog || {}, core);
  if (!mw.track) {
    mw.track = (topic, data) => {
      if (typeof topic === "string" && topic.startsWith("event.")) {
        const name = topic.slice(6);
        core.logEvent(name.charAt(0).toUpperCase() + name.slice(1), data);
      }
    };
  }
  return mw.eventLog;
}
export {
  BadEvent,
  EventLog,
  StreamTable,
  backoffDelay,
  byteLength,
  inSample,
  installMw,
  normalizeId,
  prepareEvent,
  sampleVerdict,
  splitBatches,
  validSample,
  validate
};
