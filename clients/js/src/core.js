/**
 * Pure logic of the browser client (no DOM, no network): sampling, stream lookup, preparing an event,
 * splitting batches, backoff. Unit-tested with `node --test`.
 *
 * The rules are the reference client's (clients-and-streams.md §1.4, §1.5) with its weak spots fixed:
 * the event is serialised at submit time, every refusal has a precise message, and a `device` unit exists.
 */

export const MAX_ID = 0xffffffff; // 2^32 - 1, the reference's normaliser
export const UNITS = ['session', 'pageview', 'device'];

/** `parseInt(first 8 hex, 16) / (2^32 - 1)`: a number in [0, 1] (NaN when not hex). */
export function normalizeId(id) {
	return parseInt(String(id).slice(0, 8), 16) / MAX_ID;
}

/** Deterministic per identifier; nested rates are nested. */
export function inSample(id, rate) {
	const n = normalizeId(id);
	return !Number.isNaN(n) && n < rate;
}

/** The reference's validity: truthy unit, truthy numeric rate, 0 <= rate <= 1. */
export function validSample(sample) {
	return !!sample && typeof sample === 'object' && !!sample.unit &&
		typeof sample.rate === 'number' && !!sample.rate && sample.rate >= 0 && sample.rate <= 1;
}

/** null when in sample, else the reason (a console message). No `sample` key: in sample. */
export function sampleVerdict(stream, config, ids) {
	if (!config || !('sample' in config)) {
		return null;
	}
	const sample = config.sample;
	if (!validSample(sample)) {
		return `The stream ${stream} has an invalid sample setting ${JSON.stringify(sample)}. No event will be sent`;
	}
	const id = { session: ids.session, pageview: ids.pageview, device: ids.device }[sample.unit];
	if (id === undefined) {
		return `The stream ${stream} samples by unknown unit "${sample.unit}" (known: ${UNITS.join(', ')}). No event will be sent`;
	}
	return inSample(id, sample.rate) ? null : `The stream ${stream} is out of sample. No event will be sent`;
}

/** Stream configs by exact name or /regex/; `false`/`null`: stream config disabled (all in, unsampled). */
export class StreamTable {
	constructor(configs) {
		this.disabled = configs === false || configs === null || configs === undefined;
		const streams = configs && typeof configs.streams === 'object' ? configs.streams : configs || {};
		this.exact = new Map();
		this.patterns = [];
		for (const [name, config] of Object.entries(streams)) {
			if (!config || typeof config !== 'object') {
				continue;
			}
			if (name.length > 1 && name.startsWith('/') && name.endsWith('/')) {
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
		return undefined;
	}

	/** null to send, else [kind, message] with kind 'unconfigured' or 'outOfSample'. */
	verdict(stream, ids) {
		const config = this.lookup(stream);
		if (!config) {
			return ['unconfigured', `The stream ${stream} is not configured. No event will be sent`];
		}
		const reason = sampleVerdict(stream, config, ids);
		return reason === null ? null : ['outOfSample', reason];
	}
}

export class BadEvent extends Error {
	constructor(kind, message) {
		super(message);
		this.kind = kind;
	}
}

/** Bytes of a string in UTF-8 (what the request body will weigh). */
export function byteLength(text) {
	let n = text.length;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		if (c >= 0x80) {
			n += c < 0x800 ? 1 : 2; // 2 or 3 bytes for 1 code unit; a surrogate pair: 4 bytes for 2 units
			if (c >= 0xd800 && c <= 0xdbff) {
				i++;
			}
		}
	}
	return n;
}

export function randomHex(bytes) {
	const a = new Uint8Array(bytes);
	globalThis.crypto.getRandomValues(a);
	return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function newEventId() {
	if (globalThis.crypto && typeof globalThis.crypto.randomUUID === 'function') {
		return globalThis.crypto.randomUUID();
	}
	const h = randomHex(16);
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16], 16) & 3]}${h.slice(17, 20)}-${h.slice(20)}`;
}

/**
 * The event as it will be sent, serialised now: {id, stream, body, bytes}. The reference's stamping:
 * `dt` = call time (removed for migrated legacy events with `client_dt`), `meta.stream` and `meta.domain`
 * forced; plus `meta.id` (kept across retries, so duplicates of at-least-once delivery are removable).
 * The caller's object is not mutated, and later changes to it are not sent.
 */
export function prepareEvent(stream, data, { domain, now = new Date(), maxBytes = Infinity } = {}) {
	if (typeof stream !== 'string' || !stream) {
		throw new BadEvent('badStream', `submit( ${String(stream)}, eventData ) needs a non-empty stream name.`);
	}
	if (!data || typeof data !== 'object' || Array.isArray(data)) {
		throw new BadEvent('notAnObject', `submit( ${stream}, eventData ) called with ${Array.isArray(data) ? 'an array' : typeof data}, not an object. No event will be produced.`);
	}
	if (!data.$schema) {
		throw new BadEvent('missingSchema', `submit( ${stream}, eventData ) called with eventData missing required field "$schema". No event will be produced.`);
	}
	let copy;
	try {
		copy = JSON.parse(JSON.stringify(data));
	} catch (e) {
		throw new BadEvent('unserialisable', `submit( ${stream}, eventData ): the event cannot be serialised as JSON (${e.message}); cyclic or not plain data. No event will be produced.`);
	}
	const meta = copy.meta && typeof copy.meta === 'object' && !Array.isArray(copy.meta) ? copy.meta : {};
	meta.stream = stream;
	if (domain) {
		meta.domain = domain;
	}
	if (!meta.id) {
		meta.id = newEventId();
	}
	copy.meta = meta;
	if ('client_dt' in copy) {
		delete copy.dt;
	} else {
		copy.dt = now.toISOString();
	}
	const body = JSON.stringify(copy);
	const bytes = byteLength(body);
	if (bytes > maxBytes) {
		throw new BadEvent('tooLarge', `submit( ${stream}, eventData ): the event is ${bytes} bytes, over the limit of ${maxBytes}. No event will be produced.`);
	}
	return { id: meta.id, stream, body, bytes };
}

/** Consecutive batches of at most `maxCount` items whose JSON array is at most `maxBytes` bytes. */
export function splitBatches(items, maxBytes, maxCount = Infinity) {
	const out = [];
	let batch = [];
	let size = 2; // "[" and "]"
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

export function batchBody(items) {
	return `[${items.map((i) => i.body).join(',')}]`;
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, base * 2^attempt)]. */
export function backoffDelay(attempt, baseMs, maxMs, random = Math.random) {
	return Math.round(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}
