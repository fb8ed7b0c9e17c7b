// Pure logic of the browser client: `node --test test/` (run by tests/client/test_js.py in `make test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import {
	StreamTable, backoffDelay, batchBody, byteLength, inSample, normalizeId, prepareEvent, sampleVerdict,
	splitBatches, validSample,
} from '../src/core.js';
import { validate } from '../src/validate.js';

const ids = (n) => Array.from({ length: n }, () => randomBytes(10).toString('hex'));

test('rate 0.1 samples 10 % of 10,000 identifiers (± 1 %, over 3 standard deviations)', () => {
	const share = ids(10000).filter((id) => inSample(id, 0.1)).length / 10000;
	assert.ok(share >= 0.09 && share <= 0.11, String(share));
});

test('the same identifier always gets the same decision, and nested rates are nested', () => {
	for (const id of ids(2000)) {
		assert.equal(inSample(id, 0.3), inSample(id, 0.3));
		if (inSample(id, 0.1)) {
			assert.ok(inSample(id, 0.5));
		}
	}
});

test('the reference normaliser and validity rules', () => {
	assert.equal(normalizeId('ffffffff00'), 1);
	assert.equal(normalizeId('0000000000'), 0);
	assert.equal(inSample('zz', 1), false);
	assert.equal(validSample({ unit: 'session', rate: 0 }), false);
	assert.equal(validSample({ unit: 'session', rate: 1.2 }), false);
	assert.equal(validSample({ unit: 'session', rate: 0.5 }), true);
});

test('units: session, pageview and device; unknown units are out with a reason', () => {
	const who = { session: '00000000aa', pageview: 'ffffffffaa', device: '00000001aa' };
	assert.equal(sampleVerdict('s', { sample: { unit: 'session', rate: 0.5 } }, who), null);
	assert.match(sampleVerdict('s', { sample: { unit: 'pageview', rate: 0.5 } }, who), /out of sample/);
	assert.equal(sampleVerdict('s', { sample: { unit: 'device', rate: 0.5 } }, who), null);
	assert.match(sampleVerdict('s', { sample: { unit: 'planet', rate: 1 } }, who), /unknown unit "planet"/);
	assert.equal(sampleVerdict('s', {}, who), null);
});

test('stream table: exact, /regex/, unconfigured, disabled', () => {
	const t = new StreamTable({ streams: { 'a.b': { x: 1 }, '/^c\\..*$/': { y: 2 } } });
	assert.deepEqual(t.lookup('a.b'), { x: 1 });
	assert.deepEqual(t.lookup('c.d'), { y: 2 });
	assert.equal(t.verdict('e', {})[0], 'unconfigured');
	assert.deepEqual(new StreamTable(false).lookup('anything'), {});
});

test('prepareEvent copies at submit time, stamps dt, meta.stream, meta.domain and meta.id', () => {
	const data = { $schema: '/s/1.0.0', dt: 'old', meta: { domain: 'caller' }, list: [1] };
	const now = new Date('2024-03-15T19:05:00.456Z');
	const item = prepareEvent('st', data, { domain: 'en.wikipedia.org', now });
	data.list.push(2);
	const sent = JSON.parse(item.body);
	assert.deepEqual(sent.list, [1]);
	assert.equal(sent.dt, '2024-03-15T19:05:00.456Z');
	assert.equal(sent.meta.stream, 'st');
	assert.equal(sent.meta.domain, 'en.wikipedia.org');
	assert.equal(sent.meta.id, item.id);
	assert.deepEqual(data.meta, { domain: 'caller' });
	assert.equal('dt' in JSON.parse(prepareEvent('st', { $schema: '/s', client_dt: 'x' }).body), false);
});

test('prepareEvent refuses precisely', () => {
	const cyclic = { $schema: '/s' };
	cyclic.self = cyclic;
	const kinds = [
		[() => prepareEvent('st', null), 'notAnObject'],
		[() => prepareEvent('st', [1]), 'notAnObject'],
		[() => prepareEvent('st', { a: 1 }), 'missingSchema'],
		[() => prepareEvent('st', cyclic), 'unserialisable'],
		[() => prepareEvent('st', { $schema: '/s', x: 'é'.repeat(600) }, { maxBytes: 1000 }), 'tooLarge'],
		[() => prepareEvent('', { $schema: '/s' }), 'badStream'],
	];
	for (const [call, kind] of kinds) {
		assert.throws(call, (e) => e.kind === kind, kind);
	}
});

test('batches respect the byte and count limits, and never drop an item', () => {
	const items = Array.from({ length: 100 }, (_, n) => ({ body: `"${'x'.repeat(n)}"`, bytes: n + 2 }));
	const batches = splitBatches(items, 300, 10);
	assert.equal(batches.flat().length, 100);
	for (const b of batches) {
		assert.ok(b.length <= 10);
		assert.ok(byteLength(batchBody(b)) <= 300 || b.length === 1);
	}
});

test('byteLength counts UTF-8 bytes', () => {
	for (const s of ['abc', 'é', '€', '😀', 'a😀é€']) {
		assert.equal(byteLength(s), Buffer.byteLength(s));
	}
});

test('backoff grows exponentially with full jitter, capped', () => {
	assert.equal(backoffDelay(3, 100, 10000, () => 1), 800);
	assert.equal(backoffDelay(20, 100, 10000, () => 1), 10000);
	assert.equal(backoffDelay(3, 100, 10000, () => 0), 0);
});

test('the debug validator reports each problem with its path', () => {
	const schema = {
		type: 'object', required: ['$schema', 'meta'], additionalProperties: false,
		properties: {
			$schema: { type: 'string' }, link_href: { type: 'string', maxLength: 5 },
			dt: { type: 'string', format: 'date-time' }, meta: { type: 'object', properties: { stream: { type: 'string' } } },
		},
	};
	const problems = validate(schema, { $schema: '/s', link_href: 12, dt: 'yesterday', other: 1 });
	assert.deepEqual(problems.map((p) => `${p.path} ${p.message}`), [
		"/ must have required property 'meta'",
		'/link_href must be string, not integer',
		'/dt must match format "date-time"',
		"/ must NOT have additional property 'other'",
	]);
	assert.deepEqual(validate(schema, { $schema: '/s', meta: { stream: 'x' }, link_href: 'abc' }), []);
});
