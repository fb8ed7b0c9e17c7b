//! The compiled hot path of eventplatform's intake: a whole batch of events from the request body to the
//! rows the log writes, in one call.
//!
//! This is a *fast lane*, not a second implementation: it handles only the events it can prove it handles
//! exactly as the Python pipeline (`eventplatform.intake.pipeline`) would, and hands every other event back
//! ("deferred", with its raw JSON) for the Python path to decide. An event is handled here when its schema
//! and its (stream, schema) route were registered by the Python side (so the stream check already passed),
//! its fields fill in as the Python plan says, the schema validator (the same `jsonschema` release as the
//! registry's, on the same pattern-based schema) finds it valid and it serializes exactly as orjson would
//! (no floats, no integers beyond 64 bits signed). Invalid events are always deferred: their verdict and
//! error body come from Python alone.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use serde_json::ser::Formatter;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

type Path = Vec<String>;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bodies at least this large are parsed and run without the GIL (the log's syncer and checkpointer threads
/// of the same worker go on meanwhile); below it, releasing and re-taking the GIL costs more than it frees.
const DETACH_BYTES: usize = 16 * 1024;

struct Route {
    id: usize,
    key_fields: Option<Vec<(String, Path)>>,
}

struct Plan {
    validator: jsonschema::Validator,
    meta_id: bool,
    meta_dt: bool,
    legacy_dt: bool,
    client_ip: bool,
    header_fields: Vec<(String, Path, bool)>, // header name, event path, whether it is meta.request_id
    defaults: Vec<(Path, Value)>,
    integer_paths: Vec<Path>,
    routes: HashMap<String, Route>,
}

/// The parsed events of one request body (each one fully parsed, so that a body the Python parser would
/// refuse is refused here as a whole and the Python path reports it).
#[pyclass]
struct Parsed {
    events: Vec<Value>,
    body: Vec<u8>,
    count: usize,
}

impl Parsed {
    /// The span of each event in `body` (a second scan of the body: only when an event is handed back raw).
    fn spans(&self) -> Vec<(usize, usize)> {
        let base = self.body.as_ptr() as usize;
        let span = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - base;
            (start, start + raw.get().len())
        };
        match self.body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(&self.body)
                .map(|raws| raws.into_iter().map(span).collect())
                .unwrap_or_default(),
            _ => serde_json::from_slice::<&RawValue>(&self.body).map(|raw| vec![span(raw)]).unwrap_or_default(),
        }
    }
}

#[pymethods]
impl Parsed {
    fn __len__(&self) -> usize {
        self.count
    }

    /// The raw JSON of each event (for the Python path when the engine cannot run: tests, hasty).
    fn raw_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.spans().into_iter().map(|(a, b)| PyBytes::new(py, &self.body[a..b])))
    }
}

fn parse_body(body: &[u8]) -> Option<Vec<Value>> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    let events: Vec<Value> = match first {
        b'[' => serde_json::from_slice(body).ok()?,
        b'{' => vec![serde_json::from_slice::<Value>(body).ok()?],
        _ => return None,
    };
    if events.is_empty() || (first == &b'{' && events[0].as_object().is_some_and(|o| o.is_empty())) {
        return None;
    }
    Some(events)
}

/// Parse a request body: an array of events or one event object. None when the Python parser must look at it
/// (malformed, not an object or array, empty, nested deeper than serde_json's limit...).
#[pyfunction]
fn parse(py: Python<'_>, body: &[u8]) -> Option<Parsed> {
    let events = if body.len() >= DETACH_BYTES { py.detach(|| parse_body(body)) } else { parse_body(body) }?;
    Some(Parsed { count: events.len(), events, body: body.to_vec() })
}

/// serde_json's compact output, refusing what orjson would write differently (floats, integers beyond i64):
/// an event holding one is deferred to the Python path.
struct OrjsonCompact;

fn refused() -> std::io::Error {
    std::io::Error::other("not serialized natively")
}

impl Formatter for OrjsonCompact {
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, _w: &mut W, _v: f32) -> std::io::Result<()> {
        Err(refused())
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, _w: &mut W, _v: f64) -> std::io::Result<()> {
        Err(refused())
    }
    fn write_u64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: u64) -> std::io::Result<()> {
        if v > i64::MAX as u64 {
            return Err(refused());
        }
        w.write_all(itoa_u64(v).as_bytes())
    }
}

fn itoa_u64(v: u64) -> String {
    v.to_string()
}

fn dumps(value: &Value) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, OrjsonCompact);
    serde::Serialize::serialize(value, &mut ser).ok()?;
    Some(out)
}

/// ``set_default`` of intake/defaults.py: set ``path`` if absent; with ``create``, missing (or null) parents
/// become objects; a parent that is not an object stops it.
fn set_default(event: &mut Map<String, Value>, path: &[String], value: Value, create: bool) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = event;
    for part in parents {
        let absent = matches!(node.get(part.as_str()), None | Some(Value::Null));
        if absent {
            if !create {
                return;
            }
            node.insert(part.clone(), Value::Object(Map::new()));
        }
        match node.get_mut(part.as_str()) {
            Some(Value::Object(next)) => node = next,
            _ => return,
        }
    }
    if !node.contains_key(last.as_str()) {
        node.insert(last.clone(), value);
    }
}

/// ``normalize_integer`` of intake/defaults.py: an integral float that fits in 64 bits becomes an integer.
fn normalize_integer(event: &mut Map<String, Value>, path: &[String]) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut node = event;
    for part in parents {
        match node.get_mut(part.as_str()) {
            Some(Value::Object(next)) => node = next,
            _ => return,
        }
    }
    if let Some(Value::Number(n)) = node.get(last.as_str()) {
        if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
            if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 {
                node.insert(last.clone(), Value::from(f as i64));
            }
        }
    }
}

/// The message key of eventgate-wikimedia (streamconfig/keys.py): an object of the configured fields present
/// in the event.
fn message_key(event: &Map<String, Value>, fields: &[(String, Path)]) -> Option<Vec<u8>> {
    let mut key = Map::new();
    'field: for (name, path) in fields {
        let mut node: Option<&Value> = None;
        let mut obj = event;
        for (i, part) in path.iter().enumerate() {
            match obj.get(part.as_str()) {
                None => continue 'field,
                Some(v) if i + 1 == path.len() => node = Some(v),
                Some(Value::Object(next)) => obj = next,
                Some(_) => continue 'field,
            }
        }
        if let Some(v) = node {
            key.insert(name.clone(), v.clone());
        }
    }
    dumps(&Value::Object(key))
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// ``int(datetime.fromisoformat(dt).timestamp() * 1000)`` for the one shape clients send
/// (``YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z``), with the same float arithmetic; None for any other string
/// (the Python side computes it).
fn timestamp_ms(dt: &str) -> Option<i64> {
    let b = dt.as_bytes();
    if !(b.len() == 20 || b.len() == 24 || b.len() == 27) || b[b.len() - 1] != b'Z' {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, s) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    let micros = match b.len() {
        20 => 0,
        _ if b[19] != b'.' => return None,
        24 => digits(&b[20..23])? * 1000,
        _ => digits(&b[20..26])?,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if y < 1 || !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] || h > 23 || mi > 59 || s > 59
    {
        return None;
    }
    let seconds = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let total_us = seconds * 1_000_000 + micros;
    // timedelta.total_seconds() is total_us / 10**6 (exact int -> correctly rounded float), then * 1000, int()
    Some(((total_us as f64) / 1e6 * 1000.0) as i64)
}

enum Stamp {
    None,
    Ms(i64),
    Text(String),
}

struct Row {
    value: Vec<u8>,
    key: Option<Vec<u8>>,
    stamp: Stamp,
    route: usize,
}

struct RequestValues<'a> {
    received_iso: &'a str,
    received_ms: i64,
    client_ip: Option<&'a str>,
    headers: &'a HashMap<String, String>,
}

/// The per-schema and per-route knowledge of one pipeline, registered by the Python side as it learns it.
#[pyclass]
struct Engine {
    plans: HashMap<String, Plan>,
    node: [u8; 6],
}

impl Engine {
    /// The Python pipeline's ``_finish`` for an event of a known schema and route; None: defer to Python.
    fn finish(&self, event: &mut Value, req: &RequestValues) -> Option<Row> {
        let obj = event.as_object_mut()?;
        let plan = match obj.get("$schema") {
            Some(Value::String(uri)) => self.plans.get(uri.as_str())?,
            _ => return None,
        };
        let route = match obj.get("meta") {
            Some(Value::Object(meta)) => match meta.get("stream") {
                Some(Value::String(stream)) if !stream.is_empty() => plan.routes.get(stream.as_str())?,
                _ => return None,
            },
            _ => return None,
        };
        let mut stamp = Stamp::None;
        {
            let Some(Value::Object(meta)) = obj.get_mut("meta") else { return None };
            if plan.meta_id && !meta.contains_key("id") {
                let id = uuid::Uuid::now_v1(&self.node);
                meta.insert("id".into(), Value::String(id.hyphenated().to_string()));
            }
            if plan.meta_dt && !meta.contains_key("dt") {
                meta.insert("dt".into(), Value::String(req.received_iso.to_owned()));
                stamp = Stamp::Ms(req.received_ms);
            } else if let Some(Value::String(dt)) = meta.get("dt") {
                stamp = match timestamp_ms(dt) {
                    Some(ms) => Stamp::Ms(ms),
                    None => Stamp::Text(dt.clone()),
                };
            }
        }
        if plan.legacy_dt && !obj.contains_key("dt") {
            obj.insert("dt".into(), Value::String(req.received_iso.to_owned()));
        }
        for (header, path, is_request_id) in &plan.header_fields {
            let Some(value) = req.headers.get(header) else { continue };
            if *is_request_id {
                if let Some(Value::Object(meta)) = obj.get_mut("meta") {
                    if !meta.contains_key("request_id") {
                        meta.insert("request_id".into(), Value::String(value.clone()));
                    }
                }
            } else if path.len() == 3 && matches!(obj.get(path[0].as_str()), None | Some(Value::Null)) {
                let mut inner = Map::new();
                inner.insert(path[2].clone(), Value::String(value.clone()));
                let mut outer = Map::new();
                outer.insert(path[1].clone(), Value::Object(inner));
                obj.insert(path[0].clone(), Value::Object(outer));
            } else {
                set_default(obj, path, Value::String(value.clone()), true);
            }
        }
        if plan.client_ip {
            if let Some(ip) = req.client_ip.filter(|ip| !ip.is_empty()) {
                match obj.get_mut("http") {
                    None | Some(Value::Null) => {
                        let mut http = Map::new();
                        http.insert("client_ip".into(), Value::String(ip.to_owned()));
                        obj.insert("http".into(), Value::Object(http));
                    }
                    Some(Value::Object(http)) if !http.contains_key("client_ip") => {
                        http.insert("client_ip".into(), Value::String(ip.to_owned()));
                    }
                    _ => {}
                }
            }
        }
        for (path, value) in &plan.defaults {
            set_default(obj, path, value.clone(), false);
        }
        for path in &plan.integer_paths {
            normalize_integer(obj, path);
        }
        let key = match &route.key_fields {
            None => None,
            Some(fields) => Some(message_key(obj, fields)?),
        };
        if !plan.validator.is_valid(event) {
            return None;
        }
        Some(Row { value: dumps(event)?, key, stamp, route: route.id })
    }
}

fn json_arg(text: &str, what: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

#[pymethods]
impl Engine {
    #[new]
    fn new(node: &[u8]) -> PyResult<Self> {
        let node: [u8; 6] = node.try_into().map_err(|_| PyValueError::new_err("node must be 6 bytes"))?;
        Ok(Engine { plans: HashMap::new(), node })
    }

    /// Register the plan of schema ``uri`` (see ``_Plan`` in intake/pipeline.py). ``schema`` is the JSON of
    /// the registry's pattern-based schema; ``defaults`` the JSON of ``[[path, value], ...]``. Returns None,
    /// or why the schema cannot be validated here (its events then always take the Python path).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (uri, schema, base_uri, meta_id, meta_dt, legacy_dt, client_ip, header_fields, defaults, integer_paths))]
    fn add_plan(
        &mut self,
        uri: String,
        schema: &str,
        base_uri: &str,
        meta_id: bool,
        meta_dt: bool,
        legacy_dt: bool,
        client_ip: bool,
        header_fields: Vec<(String, Path, bool)>,
        defaults: &str,
        integer_paths: Vec<Path>,
    ) -> PyResult<Option<String>> {
        let schema = json_arg(schema, "schema")?;
        let validator = match jsonschema::options()
            .with_base_uri(base_uri)
            .should_validate_formats(true)
            .build(&schema)
        {
            Ok(v) => v,
            Err(e) => return Ok(Some(e.to_string())),
        };
        let defaults: Vec<(Path, Value)> = serde_json::from_value(json_arg(defaults, "defaults")?)
            .map_err(|e| PyValueError::new_err(format!("defaults: {e}")))?;
        if header_fields.iter().any(|(_, p, _)| p.is_empty())
            || defaults.iter().any(|(p, _)| p.is_empty())
            || integer_paths.iter().any(Vec::is_empty)
        {
            return Err(PyValueError::new_err("empty path"));
        }
        let plan = Plan {
            validator,
            meta_id,
            meta_dt,
            legacy_dt,
            client_ip,
            header_fields,
            defaults,
            integer_paths,
            routes: HashMap::new(),
        };
        self.plans.insert(uri, plan);
        Ok(None)
    }

    /// Register that events of schema ``uri`` may go to ``stream`` (the stream check passed), as route
    /// number ``route_id`` of the Python side, with the stream's message-key fields (dotted paths).
    #[pyo3(signature = (uri, stream, route_id, key_fields=None))]
    fn add_route(
        &mut self,
        uri: &str,
        stream: String,
        route_id: usize,
        key_fields: Option<Vec<(String, String)>>,
    ) -> bool {
        let Some(plan) = self.plans.get_mut(uri) else { return false };
        let key_fields = key_fields
            .map(|kf| kf.into_iter().map(|(name, dotted)| (name, dotted.split('.').map(String::from).collect())).collect());
        plan.routes.insert(stream, Route { id: route_id, key_fields });
        true
    }

    /// Forget every route (the stream config changed).
    fn clear_routes(&mut self) {
        for plan in self.plans.values_mut() {
            plan.routes.clear();
        }
    }

    fn has_plan(&self, uri: &str) -> bool {
        self.plans.contains_key(uri)
    }

    /// Run a parsed batch (once: the events are consumed). Returns
    /// ``(index, values, keys, stamps, routes, deferred, stamps_to_fix)``: the accepted events in order as
    /// columns (``keys`` None when no event has a key; ``routes`` an int when every event has the same route;
    /// a stamp is an int, None, or the ``meta.dt`` string for Python to convert when ``stamps_to_fix``) and
    /// the ``(index, raw JSON)`` of every event the Python path must decide.
    #[pyo3(signature = (parsed, received_iso, received_ms, client_ip, headers))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        parsed: &mut Parsed,
        received_iso: &str,
        received_ms: i64,
        client_ip: Option<&str>,
        headers: HashMap<String, String>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mut events = std::mem::take(&mut parsed.events);
        let req = RequestValues { received_iso, received_ms, client_ip, headers: &headers };
        let finish_all = |events: &mut Vec<Value>| -> Vec<Option<Row>> {
            events.iter_mut().map(|event| self.finish(event, &req)).collect()
        };
        let done =
            if parsed.body.len() >= DETACH_BYTES { py.detach(|| finish_all(&mut events)) } else { finish_all(&mut events) };
        drop(events);
        let mut index: Vec<usize> = Vec::with_capacity(done.len());
        let mut rows: Vec<Row> = Vec::with_capacity(done.len());
        let mut deferred: Vec<(usize, Bound<'py, PyBytes>)> = Vec::new();
        let mut spans: Option<Vec<(usize, usize)>> = None;
        for (i, row) in done.into_iter().enumerate() {
            match row {
                Some(row) => {
                    index.push(i);
                    rows.push(row);
                }
                None => {
                    let (a, b) = spans.get_or_insert_with(|| parsed.spans())[i];
                    deferred.push((i, PyBytes::new(py, &parsed.body[a..b])));
                }
            }
        }
        let values = PyList::new(py, rows.iter().map(|r| PyBytes::new(py, &r.value)))?;
        let any_key = rows.iter().any(|r| r.key.is_some());
        let keys: Option<Bound<'py, PyList>> = if any_key {
            Some(PyList::new(
                py,
                rows.iter().map(|r| r.key.as_ref().map(|k| PyBytes::new(py, k))),
            )?)
        } else {
            None
        };
        let mut to_fix = false;
        let stamps = PyList::empty(py);
        for r in &rows {
            match &r.stamp {
                Stamp::None => stamps.append(py.None())?,
                Stamp::Ms(ms) => stamps.append(*ms)?,
                Stamp::Text(t) => {
                    to_fix = true;
                    stamps.append(t)?
                }
            }
        }
        let same_route = rows.first().map(|f| f.route).filter(|f| rows.iter().all(|r| r.route == *f));
        let routes: Bound<'py, PyAny> = match same_route {
            Some(id) => id.into_pyobject(py)?.into_any(),
            None => PyList::new(py, rows.iter().map(|r| r.route))?.into_any(),
        };
        let index = PyList::new(py, index)?;
        let deferred = PyList::new(py, deferred)?;
        PyTuple::new(
            py,
            [
                index.into_any(),
                values.into_any(),
                keys.map_or_else(|| py.None().into_bound(py), |k| k.into_any()),
                stamps.into_any(),
                routes,
                deferred.into_any(),
                pyo3::types::PyBool::new(py, to_fix).to_owned().into_any(),
            ],
        )
    }
}

/// Test hook: ``int(datetime.fromisoformat(dt).timestamp() * 1000)`` where handled natively, else None.
#[pyfunction]
fn native_timestamp_ms(dt: &str) -> Option<i64> {
    timestamp_ms(dt)
}

#[pymodule]
fn eventplatform_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<Parsed>()?;
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_function(wrap_pyfunction!(native_timestamp_ms, m)?)?;
    Ok(())
}
