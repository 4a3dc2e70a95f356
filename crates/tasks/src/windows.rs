//! The window tree of a task and its evaluation at each trigger.
//!
//! Each window has two ends. One end (the *anchor*) is defined relative to an earlier point of
//! the tree (the trigger or another window's end); the other is defined relative to the anchor
//! and carries the window's `has` constraints, its label and its index timestamp. An end is
//! either an offset (`+ 24h`: the time moves, the anchor event stays and the offset accumulates
//! down the tree) or an event search (`-> discharge`: the next such event becomes the new
//! anchor). Ends that coincide with their reference (`start: trigger`) are not nodes: their
//! children hang from the reference. This is ACES's tree, evaluated per trigger instead of per
//! table; the semantics (inclusive ends, where searches start, which count the label reads, which
//! time the index reads) follow ACES 0.7 exactly, and the interop tests hold us to it.

use crate::config::{RECORD_END, RECORD_START, Side, TaskConfig};
use crate::error::{Result, TaskError};
use crate::predicates::{Columns, Rows};

/// How a node's time is found from its parent's anchor.
#[derive(Debug, Clone)]
enum Endpoint {
    /// A fixed offset (negative: backwards) from the anchor time.
    Offset { size: i64, left_inclusive: bool, right_inclusive: bool },
    /// The next (or, `before`, previous) row where `column` counts, searched from the anchor
    /// time.
    Event { column: usize, before: bool, left_inclusive: bool, right_inclusive: bool },
}

#[derive(Debug, Clone)]
struct Node {
    /// `window.start` / `window.end`, for messages.
    name: String,
    /// `None` for the trigger (the root) and for ends that coincide with their reference.
    endpoint: Option<Endpoint>,
    constraints: Vec<(usize, Option<i64>, Option<i64>)>,
    children: Vec<usize>,
}

/// A compiled task: predicate columns and the window tree.
#[derive(Debug)]
pub struct TaskTree {
    columns: Columns,
    trigger: usize,
    nodes: Vec<Node>,
    label_node: usize,
    label_column: usize,
    index_node: usize,
    index_side: Side,
}

/// What a node's window looked like at one trigger.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    start: Option<i64>,
    end: Option<i64>,
    label: u32,
}

/// A label window's `(start, end)` at one trigger, µs.
pub type LabelWindow = (i64, i64);

/// The outcome of one trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A label: the prediction time and the value.
    Labelled {
        /// Microseconds since the epoch.
        prediction_time: i64,
        /// Whether the label predicate occurred in the label window.
        value: bool,
    },
    /// A window's `has` constraint failed (the node, e.g. `input.start`).
    Excluded(String),
    /// An event search found no event (the node), so the window never closes.
    Unresolved(String),
}

impl TaskTree {
    /// Compiles a configuration.
    pub fn new(config: &TaskConfig, path: &std::path::Path) -> Result<TaskTree> {
        let err = |message: String| TaskError::Config { path: path.to_path_buf(), message };
        let columns = Columns::new(config);
        let column = |name: &str| columns.index(name).ok_or_else(|| err(format!("predicate `{name}` is not defined")));
        let trigger = column(&config.trigger)?;

        // Every window contributes a start and an end node; index 0 is the trigger.
        let mut nodes = vec![Node { name: "trigger".into(), endpoint: None, constraints: vec![], children: vec![] }];
        let mut parent: Vec<Option<String>> = vec![None];
        let mut present: Vec<bool> = vec![true];
        for (wname, w) in &config.windows {
            let at_end = w.rooted_at_end();
            for side in [Side::Start, Side::End] {
                let bound = if side == Side::Start { &w.start } else { &w.end };
                let constrained = (side == Side::Start) == at_end;
                let (li, ri) = if constrained { (w.start_inclusive, w.end_inclusive) } else { (false, false) };
                let endpoint = if let Some(event) = &bound.event {
                    let col = match event.as_str() {
                        RECORD_START if bound.before => columns.len() - 2,
                        RECORD_END if !bound.before => columns.len() - 1,
                        RECORD_START | RECORD_END => {
                            return Err(err(format!(
                                "window `{wname}`: `{event}` cannot be searched in that direction"
                            )));
                        }
                        other => column(other)?,
                    };
                    Some(Endpoint::Event { column: col, before: bound.before, left_inclusive: li, right_inclusive: ri })
                } else {
                    bound.offset.map(|size| Endpoint::Offset { size, left_inclusive: li, right_inclusive: ri })
                };
                let constraints = if constrained {
                    w.has.iter().map(|(p, lo, hi)| Ok((column(p)?, *lo, *hi))).collect::<Result<Vec<_>>>()?
                } else {
                    Vec::new()
                };
                let own = if side == Side::Start { "start" } else { "end" };
                let reference = if constrained {
                    format!("{wname}.{}", if at_end { "end" } else { "start" })
                } else {
                    bound.reference.clone()
                };
                present.push(endpoint.is_some());
                nodes.push(Node { name: format!("{wname}.{own}"), endpoint, constraints, children: vec![] });
                parent.push(Some(reference));
            }
        }
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let find = |name: &str| names.iter().position(|n| n == name);
        let mut parent_idx = vec![None; nodes.len()];
        for i in 1..nodes.len() {
            let r = parent[i].as_deref().unwrap_or("trigger");
            let p = if r == "trigger" {
                0
            } else if !r.contains('.') {
                return Err(err(format!(
                    "`{}` refers to `{r}`: only `trigger` and WINDOW.start/WINDOW.end are points",
                    nodes[i].name
                )));
            } else {
                find(r)
                    .ok_or_else(|| err(format!("`{}` refers to `{r}`, which is not a defined window", nodes[i].name)))?
            };
            parent_idx[i] = Some(p);
        }
        // Nodes without an endpoint coincide with their reference: hang their children from the
        // nearest present ancestor (detecting reference cycles on the way).
        let effective_parent = |mut i: usize| -> Result<usize> {
            let mut steps = 0;
            loop {
                let p = parent_idx[i].unwrap_or(0);
                if present[p] {
                    return Ok(p);
                }
                i = p;
                steps += 1;
                if steps > names.len() {
                    return Err(err("windows refer to each other in a cycle".into()));
                }
            }
        };
        let parents: Vec<(usize, usize)> =
            (1..nodes.len()).filter(|&i| present[i]).map(|i| Ok((i, effective_parent(i)?))).collect::<Result<_>>()?;
        for (i, p) in parents {
            nodes[p].children.push(i);
        }
        // Every present node must be reachable from the trigger (no cycles among present nodes).
        let mut reachable = vec![false; nodes.len()];
        let mut stack = vec![0];
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut reachable[n], true) {
                stack.extend(nodes[n].children.iter().copied());
            }
        }
        if let Some(i) = (1..nodes.len()).find(|&i| present[i] && !reachable[i]) {
            return Err(err(format!(
                "`{}` is not connected to the trigger (windows refer to each other in a cycle)",
                nodes[i].name
            )));
        }

        let constrained_node = |wname: &str| -> Result<usize> {
            let w = config.window(wname).ok_or_else(|| err(format!("window `{wname}` is not defined")))?;
            let side = if w.rooted_at_end() { "start" } else { "end" };
            let i = find(&format!("{wname}.{side}")).ok_or_else(|| err(format!("window `{wname}` not found")))?;
            if present[i] {
                Ok(i)
            } else {
                Err(err(format!("window `{wname}` has no extent (its {side} coincides with its reference)")))
            }
        };
        let label_window = config.window(&config.label_window).ok_or_else(|| err("no label window".into()))?;
        let label_name = label_window.label.as_deref().unwrap_or_default();
        let label_column = column(label_name)?;
        let label_node = constrained_node(&config.label_window)?;
        let index_node = constrained_node(&config.index_window)?;
        let index_side = config.window(&config.index_window).and_then(|w| w.index_timestamp).unwrap_or(Side::End);
        Ok(TaskTree { columns, trigger, nodes, label_node, label_column, index_node, index_side })
    }

    /// The predicate columns.
    pub fn columns(&self) -> &Columns {
        &self.columns
    }

    /// Evaluates every trigger of one subject, in time order.
    pub fn evaluate(&self, rows: &Rows) -> Vec<(i64, Outcome)> {
        self.evaluate_windows(rows).into_iter().map(|(t, o, _)| (t, o)).collect()
    }

    /// As [`TaskTree::evaluate`], with the label window's `(start, end)` for each labelled
    /// trigger: what a judge of generated futures needs to know how far a future must reach.
    pub fn evaluate_windows(&self, rows: &Rows) -> Vec<(i64, Outcome, Option<LabelWindow>)> {
        let mut out = Vec::new();
        let mut summaries = vec![Summary::default(); self.nodes.len()];
        for r in 0..rows.len() {
            if rows.count(r, self.trigger) == 0 {
                continue;
            }
            let mut window = None;
            let outcome = match self.walk(0, rows, r, 0, &mut summaries) {
                Err(o) => o,
                Ok(()) => {
                    let idx = &summaries[self.index_node];
                    let time = if self.index_side == Side::Start { idx.start } else { idx.end };
                    match time {
                        Some(t) => {
                            let label = &summaries[self.label_node];
                            window = label.start.zip(label.end).map(|(a, b)| (a.min(b), a.max(b)));
                            Outcome::Labelled { prediction_time: t, value: label.label > 0 }
                        }
                        None => Outcome::Unresolved(self.nodes[self.index_node].name.clone()),
                    }
                }
            };
            out.push((rows.times[r], outcome, window));
        }
        out
    }

    /// Evaluates the children of `node`, anchored at row `anchor` with the accumulated `offset`.
    fn walk(
        &self,
        node: usize,
        rows: &Rows,
        anchor: usize,
        offset: i64,
        summaries: &mut [Summary],
    ) -> std::result::Result<(), Outcome> {
        for &child in &self.nodes[node].children {
            let n = &self.nodes[child];
            let t = rows.times[anchor];
            let from = t + offset;
            let Some(endpoint) = &n.endpoint else { continue };
            let (range, summary, next) = match *endpoint {
                Endpoint::Offset { size, left_inclusive, right_inclusive } => {
                    let (lo, hi) = if size < 0 { (from + size, from) } else { (from, from + size) };
                    let range = rows.range(lo, left_inclusive, hi, right_inclusive);
                    (
                        Some(range),
                        Summary { start: Some(from), end: Some(from + size), label: 0 },
                        Some((anchor, offset + size)),
                    )
                }
                Endpoint::Event { column, before, left_inclusive, right_inclusive } => {
                    match find_event(rows, column, from, before, left_inclusive, right_inclusive) {
                        Some(b) => {
                            let bt = rows.times[b];
                            let (range, summary) = if before {
                                (
                                    rows.range(bt, left_inclusive, from, right_inclusive),
                                    Summary { start: Some(bt), end: Some(from), label: 0 },
                                )
                            } else {
                                (
                                    rows.range(from, left_inclusive, bt, right_inclusive),
                                    Summary { start: Some(from), end: Some(bt), label: 0 },
                                )
                            };
                            (Some(range), summary, Some((b, 0)))
                        }
                        None => (None, Summary::default(), None),
                    }
                }
            };
            let count = |col: usize| range.map_or(0, |(lo, hi)| rows.sum(lo, hi, col));
            for &(col, min, max) in &n.constraints {
                let c = i64::from(count(col));
                if min.is_some_and(|m| c < m) || max.is_some_and(|m| c > m) {
                    return Err(Outcome::Excluded(n.name.clone()));
                }
            }
            summaries[child] =
                Summary { label: if child == self.label_node { count(self.label_column) } else { 0 }, ..summary };
            // ACES joins on the new anchor: a search that found nothing drops the trigger (ACES
            // emits a row with no prediction time and no label for it; see the crate docs).
            let Some((next_anchor, next_offset)) = next else {
                return Err(Outcome::Unresolved(n.name.clone()));
            };
            self.walk(child, rows, next_anchor, next_offset, summaries)?;
        }
        Ok(())
    }
}

/// The boundary event of a search from time `from`: forwards, the first row at or after `from`
/// (strictly after unless the far end is inclusive); backwards, the last row at or before it
/// (strictly before unless the near end is inclusive).
fn find_event(
    rows: &Rows,
    column: usize,
    from: i64,
    before: bool,
    left_inclusive: bool,
    right_inclusive: bool,
) -> Option<usize> {
    let (first, last) = (rows.columns() - 2, rows.columns() - 1);
    if before {
        let end = if left_inclusive {
            rows.times.partition_point(|&t| t <= from)
        } else {
            rows.times.partition_point(|&t| t < from)
        };
        if column == first {
            return (end > 0).then_some(0);
        }
        (0..end).rev().find(|&r| rows.count(r, column) > 0)
    } else {
        let start = if right_inclusive {
            rows.times.partition_point(|&t| t < from)
        } else {
            rows.times.partition_point(|&t| t <= from)
        };
        if column == last {
            return (start < rows.len()).then(|| rows.len() - 1);
        }
        (start..rows.len()).find(|&r| rows.count(r, column) > 0)
    }
}
