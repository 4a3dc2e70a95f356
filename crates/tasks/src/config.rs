//! ACES task configurations, read unchanged from YAML.
//!
//! The language (https://eventstreamaces.readthedocs.io): `predicates` (a `code` string,
//! `{regex: …}` or `{any: […]}`, optional `value_min`/`value_max` with `*_inclusive`, or a
//! derived `expr: and(…)`/`or(…)`), `patient_demographics` (static predicates every subject must
//! satisfy), a `trigger` predicate, and `windows` whose `start`/`end` are `trigger`, `start`,
//! `end`, `WINDOW.start`, `WINDOW.end` or `null`, optionally with `+ OFFSET`/`- OFFSET`, or
//! `REF -> predicate` / `REF <- predicate` (until the next / since the previous such event), with
//! `start_inclusive`, `end_inclusive`, `has: {predicate: "(min, max)"}`, one `label` and one
//! `index_timestamp`. A separate predicates file (MEDS-DEV's `predicates.yaml`) may override
//! predicates and demographics, filling `???` placeholders.
//!
//! Everything ACES accepts for MEDS data is accepted here except predicates on columns other
//! than `code` and `numeric_value` and derived predicates over demographics; those, and
//! everything ACES itself rejects, fail with an error that names the construct.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use yaml_serde::{Mapping, Value};

use crate::duration::parse_duration;
use crate::error::{Result, TaskError};

/// Counts one per distinct timestamp of a subject (a predicate every event satisfies).
pub const ANY_EVENT: &str = "_ANY_EVENT";
/// True at a subject's first timestamp only.
pub const RECORD_START: &str = "_RECORD_START";
/// True at a subject's last timestamp only.
pub const RECORD_END: &str = "_RECORD_END";

/// A parsed, validated ACES task configuration.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// The task's name (the file stem).
    pub name: String,
    /// `description` or `metadata.description`, when given.
    pub description: Option<String>,
    /// The predicates the task uses (directly or through derived predicates), in file order.
    pub predicates: Vec<(String, Predicate)>,
    /// Static predicates every labelled subject must satisfy.
    pub demographics: Vec<(String, PlainPredicate)>,
    /// The predicate (or `_ANY_EVENT`, `_RECORD_START`, `_RECORD_END`) whose events are the
    /// candidate prediction points.
    pub trigger: String,
    /// The windows, in file order.
    pub windows: Vec<(String, Window)>,
    /// The window that carries the label.
    pub label_window: String,
    /// The window whose start or end is the prediction time.
    pub index_window: String,
}

/// A predicate: a test on events (plain) or a combination of other predicates at the same
/// timestamp (derived).
#[derive(Debug, Clone)]
pub enum Predicate {
    /// A test on each event's code and numeric value.
    Plain(PlainPredicate),
    /// `and(…)` or `or(…)` of other predicates' counts at one timestamp.
    Derived {
        /// `true` for `and`, `false` for `or`.
        all: bool,
        /// The predicates combined.
        inputs: Vec<String>,
    },
}

/// A test on one event.
#[derive(Debug, Clone)]
pub struct PlainPredicate {
    /// Which codes match.
    pub code: CodeMatch,
    /// Lower bound on `numeric_value`.
    pub value_min: Option<f64>,
    /// Whether the lower bound itself matches (ACES's default: no).
    pub value_min_inclusive: bool,
    /// Upper bound on `numeric_value`.
    pub value_max: Option<f64>,
    /// Whether the upper bound itself matches (ACES's default: no).
    pub value_max_inclusive: bool,
}

/// How a predicate matches codes.
#[derive(Debug, Clone)]
pub enum CodeMatch {
    /// The code equals this string.
    Exact(String),
    /// The regular expression matches somewhere in the code (as polars' `str.contains`).
    Regex(Regex),
    /// The code is one of these.
    Any(Vec<String>),
}

impl CodeMatch {
    /// Whether `code` matches.
    pub fn matches(&self, code: &str) -> bool {
        match self {
            CodeMatch::Exact(c) => c == code,
            CodeMatch::Regex(r) => r.is_match(code),
            CodeMatch::Any(list) => list.iter().any(|c| c == code),
        }
    }
}

impl PlainPredicate {
    /// Whether an event with this code and value satisfies the predicate. Bounds are compared
    /// in `f32`, the type of MEDS `numeric_value` (as polars compares a float32 column with a
    /// literal); an event without a value never satisfies a bound.
    pub fn matches_value(&self, value: Option<f32>) -> bool {
        if self.value_min.is_none() && self.value_max.is_none() {
            return true;
        }
        let Some(v) = value.filter(|v| !v.is_nan()) else { return false };
        if let Some(min) = self.value_min {
            let min = min as f32;
            if (self.value_min_inclusive && v < min) || (!self.value_min_inclusive && v <= min) {
                return false;
            }
        }
        if let Some(max) = self.value_max {
            let max = max as f32;
            if (self.value_max_inclusive && v > max) || (!self.value_max_inclusive && v >= max) {
                return false;
            }
        }
        true
    }
}

/// A window: an interval between two bounds, one of which is defined relative to the other.
#[derive(Debug, Clone)]
pub struct Window {
    /// Where it starts.
    pub start: Bound,
    /// Where it ends.
    pub end: Bound,
    /// Whether events at the start time count.
    pub start_inclusive: bool,
    /// Whether events at the end time count.
    pub end_inclusive: bool,
    /// Count constraints `(min, max)`, inclusive, either open.
    pub has: Vec<(String, Option<i64>, Option<i64>)>,
    /// The predicate whose presence in this window is the label.
    pub label: Option<String>,
    /// Which end of this window is the prediction time.
    pub index_timestamp: Option<Side>,
}

impl Window {
    /// `true` when the start is defined relative to the end (the end is the window's anchor).
    pub fn rooted_at_end(&self) -> bool {
        self.start.reference == "end"
    }
}

/// An end of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The start.
    Start,
    /// The end.
    End,
}

/// One bound of a window as written: a reference, then an offset or an event search.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// `trigger`, `start`, `end`, `WINDOW.start` or `WINDOW.end`.
    pub reference: String,
    /// `+ 24h` / `- 7 days`, in microseconds (a zero offset is no offset, as in ACES).
    pub offset: Option<i64>,
    /// `-> predicate` or `<- predicate`: the bound is the next (or previous) such event.
    pub event: Option<String>,
    /// `true` for `<-` (the event is searched backwards).
    pub before: bool,
}

impl TaskConfig {
    /// Reads a configuration file, with an optional predicates file that overrides its
    /// `predicates` and `patient_demographics` (as `aces-cli predicates_path=…`).
    pub fn load(path: &Path, predicates_path: Option<&Path>) -> Result<TaskConfig> {
        let text = read(path)?;
        let overrides = match predicates_path {
            Some(p) => Some((p.to_path_buf(), read(p)?)),
            None => None,
        };
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("task").to_string();
        TaskConfig::parse(&name, path, &text, overrides.as_ref().map(|(p, t)| (p.as_path(), t.as_str())))
    }

    /// Parses configuration text; `path` is used in error messages only.
    pub fn parse(name: &str, path: &Path, text: &str, overrides: Option<(&Path, &str)>) -> Result<TaskConfig> {
        let err = |message: String| TaskError::Config { path: path.to_path_buf(), message };
        let mut root = yaml_mapping(path, text)?;
        let description = take_description(&mut root);
        let raw_predicates = take_section(&mut root, "predicates", path)?;
        let raw_demographics = take_section(&mut root, "patient_demographics", path)?;
        let trigger = match root.remove("trigger") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(err("`trigger` must be the name of a predicate".into())),
            None => return Err(err("no `trigger`: every ACES task names the predicate it is triggered by".into())),
        };
        let raw_windows = match root.remove("windows") {
            Some(Value::Mapping(m)) => m,
            Some(Value::Null) | None => {
                return Err(err("no `windows`: Longitude labels need a label window and an index_timestamp".into()));
            }
            Some(_) => return Err(err("`windows` must be a mapping of window names to windows".into())),
        };
        if let Some(key) = root.keys().next() {
            return Err(err(format!("unrecognised top-level key `{}`", key_str(key))));
        }

        let mut predicates = raw_predicates;
        let mut demographics = raw_demographics;
        // Predicates the predicates file defined: an error in one of them names that file.
        let mut overridden: BTreeSet<String> = BTreeSet::new();
        if let Some((opath, otext)) = overrides {
            let mut o = yaml_mapping(opath, otext)?;
            take_description(&mut o);
            let op = take_section(&mut o, "predicates", opath)?;
            let od = take_section(&mut o, "patient_demographics", opath)?;
            if let Some(key) = o.keys().next() {
                return Err(TaskError::Config {
                    path: opath.to_path_buf(),
                    message: format!("unrecognised top-level key `{}` in a predicates file", key_str(key)),
                });
            }
            for (k, v) in op {
                overridden.insert(k.clone());
                replace(&mut predicates, k, v);
            }
            for (k, v) in od {
                overridden.insert(k.clone());
                replace(&mut demographics, k, v);
            }
        }

        let mut windows = Vec::new();
        for (wname, raw) in raw_windows {
            let wname = key_str(&wname);
            check_name("window", &wname).map_err(&err)?;
            let window = parse_window(&wname, raw).map_err(|m| err(format!("window `{wname}`: {m}")))?;
            windows.push((wname, window));
        }

        // Which predicates are used: by windows, the trigger and the label, and through derived
        // predicates. Only those are parsed, as in ACES (a shared predicates file may define many
        // more, some with constructs a given task never touches).
        let specials = [ANY_EVENT, RECORD_START, RECORD_END];
        let defined =
            |name: &str| predicates.iter().any(|(n, _)| n == name) || demographics.iter().any(|(n, _)| n == name);
        let mut used: BTreeSet<String> = BTreeSet::new();
        used.insert(trigger.clone());
        for (_, w) in &windows {
            used.extend(w.has.iter().map(|(p, _, _)| p.clone()));
            used.extend([&w.start, &w.end].iter().filter_map(|b| b.event.clone()));
            used.extend(w.label.clone());
        }
        let mut stack: Vec<String> = used.iter().filter(|p| !specials.contains(&p.as_str())).cloned().collect();
        while let Some(p) = stack.pop() {
            if !defined(&p) {
                return Err(err(format!("predicate `{p}` is used but not defined")));
            }
            if let Some((_, v)) = predicates.iter().find(|(n, _)| n == &p)
                && let Some(Value::String(expr)) = v.as_mapping().and_then(|m| m.get("expr"))
            {
                let (_, inputs) = parse_expr(expr).map_err(|m| err(format!("predicate `{p}`: {m}")))?;
                for i in inputs {
                    if used.insert(i.clone()) {
                        stack.push(i);
                    }
                }
            }
        }

        let blame = |name: &str, message: String| match overrides {
            Some((opath, _)) if overridden.contains(name) => TaskError::Config {
                path: opath.to_path_buf(),
                message: format!("{message} (in the predicates file, used by the task {})", path.display()),
            },
            _ => err(message),
        };
        let demographic_names: BTreeSet<&str> = demographics.iter().map(|(n, _)| n.as_str()).collect();
        let mut parsed = Vec::new();
        for (pname, raw) in &predicates {
            if !used.contains(pname) || demographic_names.contains(pname.as_str()) {
                continue;
            }
            check_name("predicate", pname).map_err(&err)?;
            let p = parse_predicate(raw).map_err(|m| blame(pname, format!("predicate `{pname}`: {m}")))?;
            if let Predicate::Derived { inputs, .. } = &p
                && let Some(d) = inputs.iter().find(|i| demographic_names.contains(i.as_str()))
            {
                return Err(err(format!(
                    "derived predicate `{pname}` combines the patient demographic `{d}`: not supported (demographics filter subjects; they have no timestamps to combine at)"
                )));
            }
            parsed.push((pname.clone(), p));
        }
        let mut statics = Vec::new();
        for (dname, raw) in &demographics {
            check_name("demographic", dname).map_err(&err)?;
            match parse_predicate(raw).map_err(|m| blame(dname, format!("patient demographic `{dname}`: {m}")))? {
                Predicate::Plain(p) => statics.push((dname.clone(), p)),
                Predicate::Derived { .. } => {
                    return Err(err(format!("patient demographic `{dname}` must be a plain code predicate")));
                }
            }
        }
        for (wname, w) in &windows {
            for p in w
                .has
                .iter()
                .map(|(p, _, _)| p)
                .chain(w.label.iter())
                .chain([&w.start, &w.end].iter().filter_map(|b| b.event.as_ref()))
            {
                if demographic_names.contains(p.as_str()) {
                    return Err(err(format!(
                        "window `{wname}` uses the patient demographic `{p}`, which has no timestamps"
                    )));
                }
            }
            if w.label.as_deref().is_some_and(|l| specials.contains(&l)) {
                return Err(err(format!("window `{wname}`: the label must be a defined predicate")));
            }
        }
        if demographic_names.contains(trigger.as_str()) {
            return Err(err(format!("the trigger `{trigger}` is a patient demographic, which has no timestamps")));
        }
        check_acyclic(&parsed).map_err(&err)?;

        let label_windows: Vec<&String> = windows.iter().filter(|(_, w)| w.label.is_some()).map(|(n, _)| n).collect();
        let index_windows: Vec<&String> =
            windows.iter().filter(|(_, w)| w.index_timestamp.is_some()).map(|(n, _)| n).collect();
        let label_window = match label_windows.as_slice() {
            [one] => (*one).clone(),
            [] => return Err(err("no window has a `label`: a prediction task needs exactly one".into())),
            many => return Err(err(format!("only one window can be labelled; found {}", join(many)))),
        };
        let index_window = match index_windows.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(err("no window sets `index_timestamp`: without it a label has no prediction time".into()));
            }
            many => return Err(err(format!("only one window can set index_timestamp; found {}", join(many)))),
        };
        Ok(TaskConfig {
            name: name.to_string(),
            description,
            predicates: parsed,
            demographics: statics,
            trigger,
            windows,
            label_window,
            index_window,
        })
    }

    /// The window with this name.
    pub fn window(&self, name: &str) -> Option<&Window> {
        self.windows.iter().find(|(n, _)| n == name).map(|(_, w)| w)
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| TaskError::Io { path: path.to_path_buf(), source })
}

fn yaml_mapping(path: &Path, text: &str) -> Result<Mapping> {
    let value: Value =
        yaml_serde::from_str(text).map_err(|e| TaskError::Yaml { path: path.to_path_buf(), message: e.to_string() })?;
    match value {
        Value::Mapping(m) => Ok(m),
        _ => Err(TaskError::Config { path: path.to_path_buf(), message: "the file is not a YAML mapping".into() }),
    }
}

fn take_description(root: &mut Mapping) -> Option<String> {
    let description = root.remove("description").and_then(|d| d.as_str().map(str::to_string));
    let metadata = root.remove("metadata");
    description.or_else(|| metadata.and_then(|m| m.get("description").and_then(|d| d.as_str().map(str::to_string))))
}

fn take_section(root: &mut Mapping, key: &str, path: &Path) -> Result<Vec<(String, Value)>> {
    match root.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Mapping(m)) => Ok(m.into_iter().map(|(k, v)| (key_str(&k), v)).collect()),
        Some(_) => Err(TaskError::Config { path: path.to_path_buf(), message: format!("`{key}` must be a mapping") }),
    }
}

fn replace(list: &mut Vec<(String, Value)>, key: String, value: Value) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key, value)),
    }
}

fn key_str(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "<non-scalar key>".to_string(),
    }
}

fn join(names: &[&String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn check_name(kind: &str, name: &str) -> std::result::Result<(), String> {
    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(format!("{kind} name `{name}` is invalid: use letters, digits and `_`"))
    }
}

fn parse_expr(expr: &str) -> std::result::Result<(bool, Vec<String>), String> {
    let (all, inner) = if let Some(rest) = expr.strip_prefix("and(").and_then(|r| r.strip_suffix(')')) {
        (true, rest)
    } else if let Some(rest) = expr.strip_prefix("or(").and_then(|r| r.strip_suffix(')')) {
        (false, rest)
    } else {
        return Err(format!("derived expression `{expr}` must be `and(a, b, …)` or `or(a, b, …)`"));
    };
    let inputs: Vec<String> = inner.split(',').map(|s| s.trim().to_string()).collect();
    if inputs.len() < 2 || inputs.iter().any(String::is_empty) {
        return Err(format!("derived expression `{expr}` needs at least two comma-separated predicates"));
    }
    Ok((all, inputs))
}

fn parse_predicate(raw: &Value) -> std::result::Result<Predicate, String> {
    let map = match raw {
        Value::Mapping(m) => m,
        Value::String(s) if s == "???" => {
            return Err("is the placeholder `???`: supply a predicates file (--predicates) that defines it".into());
        }
        Value::String(s) => return Err(format!("is the string `{s}`; a predicate is a mapping with `code` or `expr`")),
        _ => return Err("must be a mapping with `code` or `expr`".into()),
    };
    if let Some(expr) = map.get("expr") {
        if let Some(key) = map.keys().map(key_str).find(|k| k != "expr") {
            return Err(format!("a derived predicate has only `expr`; found `{key}`"));
        }
        let expr = expr.as_str().ok_or("`expr` must be a string")?;
        let (all, inputs) = parse_expr(expr)?;
        return Ok(Predicate::Derived { all, inputs });
    }
    let mut code = None;
    let mut p = PlainPredicate {
        code: CodeMatch::Exact(String::new()),
        value_min: None,
        value_min_inclusive: false,
        value_max: None,
        value_max_inclusive: false,
    };
    for (k, v) in map {
        let key = key_str(k);
        match key.as_str() {
            "code" => code = Some(parse_code(v)?),
            "value_min" => p.value_min = number(v, &key)?,
            "value_max" => p.value_max = number(v, &key)?,
            "value_min_inclusive" => p.value_min_inclusive = flag(v, &key)?,
            "value_max_inclusive" => p.value_max_inclusive = flag(v, &key)?,
            "static" => {
                return Err("`static` is set by listing the predicate under `patient_demographics`".into());
            }
            other => {
                return Err(format!(
                    "filters on the column `{other}`: Longitude's labeler tests `code` and `numeric_value` only"
                ));
            }
        }
    }
    p.code = code.ok_or("has neither `code` nor `expr`")?;
    Ok(Predicate::Plain(p))
}

fn parse_code(v: &Value) -> std::result::Result<CodeMatch, String> {
    match v {
        Value::String(s) => Ok(CodeMatch::Exact(s.clone())),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().ok_or("empty `code`")?;
            match (key_str(k).as_str(), v) {
                ("regex", Value::String(r)) if !r.is_empty() => {
                    Regex::new(r).map(CodeMatch::Regex).map_err(|e| format!("`code.regex` is not a valid regex: {e}"))
                }
                ("any", Value::Sequence(list)) if !list.is_empty() => list
                    .iter()
                    .map(|c| c.as_str().map(str::to_string).ok_or("`code.any` must list strings".to_string()))
                    .collect::<std::result::Result<_, _>>()
                    .map(CodeMatch::Any),
                (other, _) => Err(format!("`code: {{{other}: …}}` must be a non-empty `regex` string or `any` list")),
            }
        }
        Value::Mapping(_) => Err("`code` takes exactly one of `regex` or `any`".into()),
        _ => Err("`code` must be a string, `{regex: …}` or `{any: […]}`".into()),
    }
}

fn number(v: &Value, key: &str) -> std::result::Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_f64().map(Some).ok_or_else(|| format!("`{key}` is not a number")),
        _ => Err(format!("`{key}` must be a number or null")),
    }
}

fn flag(v: &Value, key: &str) -> std::result::Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        _ => Err(format!("`{key}` must be true or false")),
    }
}

fn parse_window(name: &str, raw: Value) -> std::result::Result<Window, String> {
    let Value::Mapping(map) = raw else { return Err("must be a mapping".into()) };
    let mut start: Option<Option<String>> = None;
    let mut end: Option<Option<String>> = None;
    let (mut start_inclusive, mut end_inclusive) = (None, None);
    let mut has = Vec::new();
    let mut label = None;
    let mut index_timestamp = None;
    for (k, v) in map {
        let key = key_str(&k);
        match key.as_str() {
            "start" | "end" => {
                let bound = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    _ => return Err(format!("`{key}` must be a string or null")),
                };
                if key == "start" { start = Some(bound) } else { end = Some(bound) }
            }
            "start_inclusive" => start_inclusive = Some(flag(&v, &key)?),
            "end_inclusive" => end_inclusive = Some(flag(&v, &key)?),
            "has" => match v {
                Value::Null => {}
                Value::Mapping(m) => {
                    for (p, c) in m {
                        let p = key_str(&p);
                        let text =
                            c.as_str().ok_or_else(|| format!("`has.{p}` must be a string like \"(1, None)\""))?;
                        let (min, max) = parse_constraint(text).map_err(|m| format!("`has.{p}`: {m}"))?;
                        has.push((p, min, max));
                    }
                }
                _ => return Err("`has` must be a mapping".into()),
            },
            "label" => match v {
                Value::Null => {}
                Value::String(s) => label = Some(s),
                _ => return Err("`label` must be a predicate name".into()),
            },
            "index_timestamp" => match v.as_str() {
                Some("start") => index_timestamp = Some(Side::Start),
                Some("end") => index_timestamp = Some(Side::End),
                None if v.is_null() => {}
                _ => return Err("`index_timestamp` must be `start` or `end`".into()),
            },
            other => return Err(format!("unrecognised key `{other}`")),
        }
    }
    let start = start.ok_or("missing `start` (write `start: null` for the start of the record)")?;
    let end = end.ok_or("missing `end` (write `end: null` for the end of the record)")?;
    let start_inclusive = start_inclusive.ok_or("missing `start_inclusive`")?;
    let end_inclusive = end_inclusive.ok_or("missing `end_inclusive`")?;
    let (start, end) = match (start, end) {
        (None, None) => return Err("a window cannot run from the start of the record to its end".into()),
        (None, Some(e)) => (
            Bound { reference: "end".into(), offset: None, event: Some(RECORD_START.into()), before: true },
            parse_bound(&e)?,
        ),
        (Some(s), None) => (
            parse_bound(&s)?,
            Bound { reference: "start".into(), offset: None, event: Some(RECORD_END.into()), before: false },
        ),
        (Some(s), Some(e)) => (parse_bound(&s)?, parse_bound(&e)?),
    };
    let start_refs_end = start.reference == "end";
    let end_refs_start = end.reference == "start";
    if start_refs_end == end_refs_start {
        return Err(format!("exactly one of `start` and `end` must refer to the other (window `{name}`)"));
    }
    if start_refs_end && bound_goes_forward(&start) == Some(true) {
        return Err("the start would come after the end".into());
    }
    if end_refs_start && bound_goes_forward(&end) == Some(false) {
        return Err("the end would come before the start".into());
    }
    for b in [&start, &end] {
        if b.reference != "start" && b.reference != "end" && b.reference.contains('.') {
            let (w, side) = b.reference.split_once('.').unwrap_or_default();
            if w == name {
                return Err(format!("`{}` refers to this window itself", b.reference));
            }
            if side != "start" && side != "end" {
                return Err(format!("`{}` must end in `.start` or `.end`", b.reference));
            }
        }
    }
    Ok(Window { start, end, start_inclusive, end_inclusive, has, label, index_timestamp })
}

/// `Some(true)` if the bound lies after its reference, `Some(false)` before, `None` at it.
fn bound_goes_forward(b: &Bound) -> Option<bool> {
    if b.event.is_some() { Some(!b.before) } else { b.offset.map(|o| o > 0) }
}

fn parse_bound(text: &str) -> std::result::Result<Bound, String> {
    let text = text.trim();
    let check_ref = |r: &str| -> std::result::Result<String, String> {
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        let valid = match r.split_once('.') {
            Some((w, side)) => ok(w) && (side == "start" || side == "end"),
            None => ok(r),
        };
        if valid {
            Ok(r.to_string())
        } else {
            Err(format!("`{r}` is not `trigger`, `start`, `end` or `WINDOW.start`/`WINDOW.end`"))
        }
    };
    if text.contains("->") || text.contains("<-") {
        if text.contains("->") && text.contains("<-") {
            return Err(format!("`{text}` has both `->` and `<-`"));
        }
        let before = text.contains("<-");
        let (r, p) = text.split_once(if before { "<-" } else { "->" }).unwrap_or_default();
        let predicate = p.trim().to_string();
        if predicate.is_empty() {
            return Err(format!("`{text}` names no predicate after the arrow"));
        }
        return Ok(Bound { reference: check_ref(r.trim())?, offset: None, event: Some(predicate), before });
    }
    if text.contains('+') || text.contains('-') {
        if text.contains('+') && text.contains('-') {
            return Err(format!("`{text}` has both `+` and `-`"));
        }
        let negative = text.contains('-');
        let (r, o) = text.split_once(if negative { '-' } else { '+' }).unwrap_or_default();
        let magnitude = parse_duration(o).map_err(|e| e.to_string())?;
        if magnitude < 0 {
            return Err(format!("`{text}`: write the sign once"));
        }
        let offset = if negative { -magnitude } else { magnitude };
        return Ok(Bound {
            reference: check_ref(r.trim())?,
            offset: (offset != 0).then_some(offset),
            event: None,
            before: false,
        });
    }
    Ok(Bound { reference: check_ref(text)?, offset: None, event: None, before: false })
}

fn parse_constraint(text: &str) -> std::result::Result<(Option<i64>, Option<i64>), String> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    let [lo, hi] = parts.as_slice() else { return Err(format!("`{text}` is not `(min, max)`")) };
    let bound = |s: &str| -> std::result::Result<Option<i64>, String> {
        if s.is_empty() || s == "None" {
            Ok(None)
        } else {
            s.parse::<i64>().map(Some).map_err(|_| format!("`{s}` in `{text}` is not an integer or None"))
        }
    };
    let (lo, hi) = (bound(lo)?, bound(hi)?);
    match (lo, hi) {
        (None, None) => Err(format!("`{text}` constrains nothing")),
        (Some(a), Some(b)) if b < a => Err(format!("`{text}`: max is below min")),
        _ => Ok((lo, hi)),
    }
}

fn check_acyclic(predicates: &[(String, Predicate)]) -> std::result::Result<(), String> {
    let graph: BTreeMap<&str, Vec<&str>> = predicates
        .iter()
        .map(|(n, p)| {
            let inputs = match p {
                Predicate::Derived { inputs, .. } => inputs.iter().map(String::as_str).collect(),
                Predicate::Plain(_) => Vec::new(),
            };
            (n.as_str(), inputs)
        })
        .collect();
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, bool>,
    ) -> std::result::Result<(), String> {
        match state.get(n) {
            Some(true) => return Ok(()),
            Some(false) => return Err(format!("derived predicates form a cycle through `{n}`")),
            None => {}
        }
        state.insert(n, false);
        for i in graph.get(n).into_iter().flatten() {
            visit(i, graph, state)?;
        }
        state.insert(n, true);
        Ok(())
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state)?;
    }
    Ok(())
}

/// The path used in error messages for a built-in suite task.
pub(crate) fn suite_path(name: &str) -> PathBuf {
    PathBuf::from(format!("<built-in suite>/{name}.yaml"))
}

/// The built-in task's name in a [`suite_path`], if `source` is one.
pub(crate) fn suite_name(source: &str) -> Option<&str> {
    source.strip_prefix("<built-in suite>/")?.strip_suffix(".yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TaskConfig> {
        TaskConfig::parse("t", Path::new("t.yaml"), text, None)
    }

    const BASE: &str = "predicates:\n  a:\n    code: A\n  b:\n    code: {regex: \"^B\"}\ntrigger: a\nwindows:\n  input:\n    start: null\n    end: trigger\n    start_inclusive: True\n    end_inclusive: True\n    index_timestamp: end\n  target:\n    start: input.end\n    end: start + 30 days\n    start_inclusive: False\n    end_inclusive: True\n    label: b\n";

    #[test]
    fn reads_a_task_and_keeps_only_what_it_uses() {
        let with_unused = BASE.replace("predicates:\n", "predicates:\n  unused:\n    code: X\n    text_value: y\n");
        let c = parse(&with_unused).expect("parse");
        assert_eq!(c.trigger, "a");
        assert_eq!(c.label_window, "target");
        assert_eq!(c.index_window, "input");
        // `unused` filters on a column we do not support, but nothing uses it: no error.
        assert_eq!(c.predicates.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let w = c.window("target").expect("target");
        assert_eq!(w.end.offset, Some(30 * 86_400_000_000));
        assert_eq!(w.start.reference, "input.end");
        assert!(c.window("input").expect("input").rooted_at_end());
    }

    #[test]
    fn every_unsupported_or_invalid_construct_is_named() {
        let cases: &[(&str, &str, &str)] = &[
            ("label: b\n", "", "no window has a `label`"),
            ("    index_timestamp: end\n", "", "index_timestamp"),
            ("code: A\n", "code: A\n    text_value: x\n", "`text_value`"),
            ("code: A\n", "expr: and(b)\n", "at least two"),
            ("end: start + 30 days", "end: start + 1 year", "365 days"),
            ("end: start + 30 days", "end: start - 30 days", "before the start"),
            ("start: input.end", "start: nowhere.end", "not a defined window"),
            ("trigger: a", "trigger: c", "`c` is used but not defined"),
            ("    start_inclusive: False\n", "", "missing `start_inclusive`"),
            (
                "    end_inclusive: True\n    label",
                "    end_inclusive: True\n    colour: red\n    label",
                "unrecognised key `colour`",
            ),
            ("code: {regex: \"^B\"}", "code: {regex: \"(\"}", "not a valid regex"),
            ("code: {regex: \"^B\"}", "code: {glob: \"B*\"}", "glob"),
        ];
        for (from, to, expect) in cases {
            let text = BASE.replacen(from, to, 1);
            let result = parse(&text).and_then(|c| crate::Task::new(c, PathBuf::from("t.yaml")));
            let err = result.expect_err(expect).to_string();
            assert!(err.contains(expect), "expected `{expect}` in: {err}");
        }
        let placeholder = BASE.replace("code: {regex: \"^B\"}", "???").replace("  b:\n    ???", "  b: ???");
        let err = parse(&placeholder).expect_err("placeholder").to_string();
        assert!(err.contains("???") && err.contains("--predicates"), "{err}");
        let cycle = BASE.replace("code: A\n", "expr: or(x, b)\n  x:\n    expr: and(a, b)\n");
        let err = parse(&cycle).expect_err("cycle").to_string();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn an_error_in_a_predicates_file_names_that_file() {
        let overrides = "predicates:\n  b: oops\n";
        let e = TaskConfig::parse("t", Path::new("t.yaml"), BASE, Some((Path::new("p.yaml"), overrides)))
            .expect_err("a bad predicate");
        let TaskError::Config { path, message } = &e else { panic!("{e}") };
        assert_eq!(path, Path::new("p.yaml"), "{message}");
        assert!(message.contains("predicate `b`") && message.contains("t.yaml"), "{message}");
    }

    #[test]
    fn a_predicates_file_fills_placeholders_and_overrides() {
        let text = BASE.replace("code: {regex: \"^B\"}", "???").replace("  b:\n    ???", "  b: ???");
        let overrides = "predicates:\n  b:\n    code: B2\npatient_demographics:\n  female:\n    code: SEX//F\n";
        let c =
            TaskConfig::parse("t", Path::new("t.yaml"), &text, Some((Path::new("p.yaml"), overrides))).expect("parse");
        let Some((_, Predicate::Plain(b))) = c.predicates.iter().find(|(n, _)| n == "b") else { panic!("b") };
        assert!(matches!(&b.code, CodeMatch::Exact(code) if code == "B2"));
        assert_eq!(c.demographics.len(), 1);
    }

    #[test]
    fn value_bounds_compare_in_float32_with_aces_defaults() {
        let p = PlainPredicate {
            code: CodeMatch::Exact("K".into()),
            value_min: Some(5.5),
            value_min_inclusive: true,
            value_max: Some(1.3e1),
            value_max_inclusive: false,
        };
        assert!(p.matches_value(Some(5.5)));
        assert!(!p.matches_value(Some(5.4999)));
        assert!(!p.matches_value(Some(13.0)));
        assert!(!p.matches_value(None), "no value never satisfies a bound");
        // 1.3 is not exactly representable; a float32 value of 1.3 equals the bound in float32.
        let q = PlainPredicate { value_min: Some(1.3), value_min_inclusive: false, value_max: None, ..p };
        assert!(!q.matches_value(Some(1.3_f32)));
    }
}
