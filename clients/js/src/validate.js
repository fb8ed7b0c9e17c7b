/**
 * A tiny JSON Schema validator for debug mode only: the keywords Event Platform schemas use (type,
 * required, properties, additionalProperties, items, enum, const, min/maxLength, minimum/maximum, pattern,
 * format date-time). Chosen over AJV because the client has no runtime dependencies and a size budget
 * (AJV is ~120 KB and compiles with `new Function`, which a strict CSP forbids); intake's own validation
 * stays the authority, and its answer is printed too.
 */

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function typeOf(value) {
	if (value === null) {
		return 'null';
	}
	if (Array.isArray(value)) {
		return 'array';
	}
	if (typeof value === 'number') {
		return Number.isInteger(value) ? 'integer' : 'number';
	}
	return typeof value;
}

function typeMatches(value, type) {
	const actual = typeOf(value);
	return actual === type || (type === 'number' && actual === 'integer');
}

/** Problems of `value` against `schema`: [{path, message}], empty when valid. */
export function validate(schema, value, path = '', out = []) {
	if (!schema || typeof schema !== 'object') {
		return out;
	}
	const at = path || '/';
	if (schema.type !== undefined) {
		const types = Array.isArray(schema.type) ? schema.type : [schema.type];
		if (!types.some((t) => typeMatches(value, t))) {
			out.push({ path: at, message: `must be ${types.join(' or ')}, not ${typeOf(value)}` });
			return out;
		}
	}
	if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
		out.push({ path: at, message: `must be one of ${JSON.stringify(schema.enum)}` });
	}
	if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) {
		out.push({ path: at, message: `must be ${JSON.stringify(schema.const)}` });
	}
	if (typeof value === 'string') {
		const n = [...value].length;
		if (schema.maxLength !== undefined && n > schema.maxLength) {
			out.push({ path: at, message: `must NOT have more than ${schema.maxLength} characters (has ${n})` });
		}
		if (schema.minLength !== undefined && n < schema.minLength) {
			out.push({ path: at, message: `must NOT have fewer than ${schema.minLength} characters` });
		}
		if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) {
			out.push({ path: at, message: `must match pattern "${schema.pattern}"` });
		}
		if (schema.format === 'date-time' && !DATE_TIME.test(value)) {
			out.push({ path: at, message: 'must match format "date-time"' });
		}
	}
	if (typeof value === 'number') {
		if (schema.maximum !== undefined && value > schema.maximum) {
			out.push({ path: at, message: `must be <= ${schema.maximum}` });
		}
		if (schema.minimum !== undefined && value < schema.minimum) {
			out.push({ path: at, message: `must be >= ${schema.minimum}` });
		}
	}
	if (Array.isArray(value) && schema.items && typeof schema.items === 'object') {
		value.forEach((item, i) => validate(schema.items, item, `${path}/${i}`, out));
	}
	if (typeOf(value) === 'object') {
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
			} else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
				validate(schema.additionalProperties, child, `${path}/${name}`, out);
			}
		}
	}
	return out;
}
