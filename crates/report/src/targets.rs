//! The validation targets a board approves against, each checked on the report's own numbers:
//! what was asked, what was measured, and whether it holds — a miss shown as plainly as a hit.
//!
//! The targets are those the foundation model is built to meet (against the internal split):
//! its linear probe beats the count-feature GBM on most tasks, by the widest margin in the
//! few-shot rows; on the chronic-disease tasks some adaptation of it comes within 0.03 AUROC of
//! the oracle; the probe's calibration slope is within 0.9–1.1; and the subgroup gaps are
//! reported for every task.

use std::fmt::Write;

use serde::Serialize;

use crate::{MethodResult, Report, TaskResult};

/// Held-out positives a task needs before its calibration slope is judged (with fewer, the
/// slope's interval spans most of the range and says nothing).
pub const SLOPE_MIN_POSITIVES: f64 = 20.0;

/// Whether a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It holds.
    Met,
    /// It does not.
    Missed,
    /// The report lacks what it needs (no probe, no oracle, no few-shot curves).
    NotMeasured,
}

/// One task's part in a target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    /// The task.
    pub task: String,
    /// What was measured there, in words and figures.
    pub measured: String,
    /// Whether the task meets the target (`None`: not judged, `measured` says why).
    pub holds: Option<bool>,
}

/// One target.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is asked.
    pub asked: String,
    /// The verdict.
    pub status: Status,
    /// The measurement behind it, in one line.
    pub measured: String,
    /// Per task.
    pub rows: Vec<TargetRow>,
}

fn method<'a>(t: &'a TaskResult, name: &str) -> Option<&'a MethodResult> {
    t.methods.iter().find(|m| m.method == name)
}

fn auroc(t: &TaskResult, name: &str) -> Option<f64> {
    method(t, name).and_then(|m| m.evaluation.metrics.auroc)
}

/// Rows that hold, and rows judged at all.
fn tally(rows: &[TargetRow]) -> (usize, usize) {
    (rows.iter().filter(|r| r.holds == Some(true)).count(), rows.iter().filter(|r| r.holds.is_some()).count())
}

/// Met when every judged row holds; not measured when none was judged.
fn every(holding: usize, judged: usize) -> Status {
    match judged {
        0 => Status::NotMeasured,
        n if holding == n => Status::Met,
        _ => Status::Missed,
    }
}

fn internal(report: &Report) -> impl Iterator<Item = &TaskResult> {
    report.tasks.iter().filter(|t| t.setting.starts_with("internal"))
}

/// Every target, checked on `report`'s internal-split results. `chronic` names the
/// chronic-disease tasks (the oracle target applies to them).
pub fn targets(report: &Report, chronic: &[&str]) -> Vec<Target> {
    vec![
        probe_beats_gbm(report),
        few_shot_margin(report),
        near_oracle(report, chronic),
        calibration(report),
        subgroups(report),
    ]
}

fn probe_beats_gbm(report: &Report) -> Target {
    use eval::paired::Verdict;
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    // Per task with an oracle paired against the GBM: whether the best possible model is ahead
    // of the GBM beyond noise. Where it is not, no model can be shown ahead, and "higher" is a
    // coin toss.
    let mut headroom = Vec::new();
    for t in internal(report) {
        let (Some(p), Some(g)) = (auroc(t, "fm_probe"), auroc(t, "counts_gbm")) else { continue };
        let paired = t.comparison("fm_probe", "counts_gbm");
        let mut paired_text = match paired.and_then(|d| Some((d, d.interval?))) {
            Some((d, i)) => {
                format!("; paired {:+.3} [{:+.3}, {:+.3}] over {} times", d.difference, i.lower, i.upper, d.rows)
            }
            None => String::new(),
        };
        let oracle = t.comparison("oracle", "counts_gbm");
        if let Some((d, i, v)) = oracle.and_then(|d| Some((d, d.interval?, d.verdict()?))) {
            let _ = write!(paired_text, "; oracle − GBM {:+.3} [{:+.3}, {:+.3}]", d.difference, i.lower, i.upper);
            headroom.push(v == Verdict::Ahead);
        }
        verdicts.extend(paired.and_then(|d| d.verdict()));
        rows.push(TargetRow {
            task: t.task.clone(),
            measured: format!("fm_probe {p:.3} vs counts_gbm {g:.3} ({:+.3}{paired_text})", p - g),
            holds: Some(p > g),
        });
    }
    let wins = rows.iter().filter(|r| r.holds == Some(true)).count();
    let status = match rows.len() {
        0 => Status::NotMeasured,
        n if 2 * wins > n => Status::Met,
        _ => Status::Missed,
    };
    let count = |v: Verdict| verdicts.iter().filter(|&&x| x == v).count();
    let paired = if verdicts.is_empty() {
        String::new()
    } else {
        format!(
            "; by the paired 95% interval of the difference, ahead on {}, level on {}, behind on {} of {}",
            count(Verdict::Ahead),
            count(Verdict::Level),
            count(Verdict::Behind),
            verdicts.len()
        )
    };
    let ceiling = if headroom.is_empty() {
        String::new()
    } else {
        format!(
            "; the oracle itself is ahead of the GBM beyond noise on {} of {}: on the other {}, not even the best possible model can be shown ahead of the GBM at these sizes",
            headroom.iter().filter(|&&h| h).count(),
            headroom.len(),
            headroom.iter().filter(|&&h| !h).count()
        )
    };
    Target {
        asked: "The foundation model's linear probe beats the count-feature GBM on most tasks (held-out AUROC)".into(),
        status,
        measured: format!("higher on {wins} of {} tasks{paired}{ceiling}", rows.len()),
        rows,
    }
}

fn few_shot_margin(report: &Report) -> Target {
    // Per task, the (probe − GBM) AUROC margin at each k both curves reach (`None`: all of
    // train). The probe's curve stops earlier on rare tasks, so each k is compared with all of
    // train on the same tasks, not with every task's.
    let mut per_task: Vec<Vec<(Option<usize>, f64)>> = Vec::new();
    let mut rows = Vec::new();
    for t in internal(report) {
        let curve = |name: &str| t.few_shot.iter().find(|c| c.method == name);
        let (Some(p), Some(g)) = (curve("fm_probe"), curve("counts_gbm")) else { continue };
        let mut margins = Vec::new();
        for &(k, a) in &p.points {
            let Some(a) = a else { continue };
            let Some(b) = g.points.iter().find(|(kk, _)| *kk == k).and_then(|(_, b)| *b) else { continue };
            margins.push((k, a - b));
        }
        let cells: Vec<String> =
            margins.iter().map(|(k, m)| format!("{}: {m:+.3}", k.map_or("all".into(), |k| format!("k={k}")))).collect();
        rows.push(TargetRow { task: t.task.clone(), measured: cells.join(", "), holds: None });
        per_task.push(margins);
    }
    let at = |margins: &[(Option<usize>, f64)], k: Option<usize>| margins.iter().find(|(kk, _)| *kk == k).map(|m| m.1);
    let mut ks: Vec<usize> = per_task.iter().flatten().filter_map(|(k, _)| *k).collect();
    ks.sort_unstable();
    ks.dedup();
    // (k, tasks, mean margin at k, the same tasks' mean margin with all of train)
    let widest = ks
        .iter()
        .filter_map(|&k| {
            let pairs: Vec<(f64, f64)> =
                per_task.iter().filter_map(|m| Some((at(m, Some(k))?, at(m, None)?))).collect();
            (!pairs.is_empty()).then(|| {
                let n = pairs.len() as f64;
                (k, pairs.len(), pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n)
            })
        })
        .max_by(|a, b| a.2.total_cmp(&b.2));
    let (status, measured) = match widest {
        Some((k, n, w, all)) => {
            let status = if w > all && w > 0.0 { Status::Met } else { Status::Missed };
            (
                status,
                format!(
                    "widest mean margin {w:+.3} at k = {k} per class ({n} tasks); the same tasks with all of train: {all:+.3}"
                ),
            )
        }
        None => (Status::NotMeasured, "no few-shot curves for both the probe and the GBM".into()),
    };
    Target {
        asked: "The probe's margin over the GBM is widest in the few-shot rows (mean AUROC difference over tasks)"
            .into(),
        status,
        measured,
        rows,
    }
}

fn near_oracle(report: &Report, chronic: &[&str]) -> Target {
    let mut rows = Vec::new();
    for t in internal(report).filter(|t| chronic.contains(&t.task.as_str())) {
        let best = t
            .methods
            .iter()
            .filter(|m| m.method.starts_with("fm_"))
            .filter_map(|m| m.evaluation.metrics.auroc.map(|a| (a, m.method.as_str())))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let row = match (best, auroc(t, "oracle")) {
            (Some((a, name)), Some(o)) => TargetRow {
                task: t.task.clone(),
                measured: format!("best FM {name} {a:.3} vs oracle {o:.3} (gap {:.3})", o - a),
                holds: Some(o - a <= 0.03),
            },
            (None, _) => TargetRow { task: t.task.clone(), measured: "no foundation-model row".into(), holds: None },
            (_, None) => TargetRow { task: t.task.clone(), measured: "no oracle".into(), holds: None },
        };
        rows.push(row);
    }
    let (within, judged) = tally(&rows);
    let status = every(within, judged);
    Target {
        asked: "On the chronic-disease tasks the foundation model comes within 0.03 AUROC of the oracle".into(),
        status,
        measured: format!("within 0.03 on {within} of {judged} chronic-disease tasks"),
        rows,
    }
}

fn calibration(report: &Report) -> Target {
    let mut rows = Vec::new();
    // Judged tasks whose slope interval holds 1.
    let mut covering = 0;
    // For each judged task with an interval, the chance that a perfectly calibrated probe's
    // slope, estimated with that spread, lands within the target.
    let mut chances = Vec::new();
    for t in internal(report) {
        let Some(m) = method(t, "fm_probe") else { continue };
        let e = &m.evaluation.metrics;
        let positives = e.positives;
        // The bootstrap interval beside the point: with a hundred positives a slope moves by
        // ±0.15 between samples, and the reader should see how far a miss is from noise.
        let interval = m.evaluation.intervals.calibration_slope;
        let row = match e.calibration_slope {
            Some(slope) if positives >= SLOPE_MIN_POSITIVES => {
                covering += usize::from(interval.is_some_and(|i| i.lower <= 1.0 && 1.0 <= i.upper));
                chances.extend(
                    interval
                        .map(|i| i.upper - i.lower)
                        .filter(|w| w.is_finite())
                        .map(|w| chance_within(w, SLOPE_TOLERANCE)),
                );
                let shown = interval.map(|i| format!(" [{:.2}, {:.2}]", i.lower, i.upper)).unwrap_or_default();
                TargetRow {
                    task: t.task.clone(),
                    measured: format!("slope {slope:.2}{shown} ({positives:.0} positives)"),
                    holds: Some(((1.0 - SLOPE_TOLERANCE)..=(1.0 + SLOPE_TOLERANCE)).contains(&slope)),
                }
            }
            Some(slope) => TargetRow {
                task: t.task.clone(),
                measured: format!("slope {slope:.2}, not judged: {positives:.0} positives"),
                holds: None,
            },
            None => TargetRow { task: t.task.clone(), measured: "no slope (one class)".into(), holds: None },
        };
        rows.push(row);
    }
    let (within, judged) = tally(&rows);
    let status = every(within, judged);
    // What chance alone allows: the reader should see whether a miss says anything about the
    // probe or only about how few held-out positives the tasks have.
    let chance = if chances.is_empty() {
        String::new()
    } else {
        format!(
            "; a perfectly calibrated probe, its slopes as uncertain as these, would land within on {:.1} of {} on average and on all of them with probability {:.0}%",
            chances.iter().sum::<f64>(),
            chances.len(),
            100.0 * chances.iter().product::<f64>()
        )
    };
    Target {
        asked: format!(
            "The probe's calibration slope is within 0.9–1.1 (tasks with at least {SLOPE_MIN_POSITIVES:.0} held-out positives)"
        ),
        status,
        measured: format!(
            "within on {within} of {judged} judged tasks; the 95% interval holds 1 on {covering} of {judged}{chance}"
        ),
        rows,
    }
}

/// How far from 1 a calibration slope may lie and still meet the target.
const SLOPE_TOLERANCE: f64 = 0.1;

/// The probability that an estimate whose 95% interval is `width` wide (normal: 2 · 1.96
/// standard errors), of a quantity truly at the target's centre, falls within `± tolerance` of it
/// (a zero-width interval: certainly).
fn chance_within(width: f64, tolerance: f64) -> f64 {
    let se = width / (2.0 * 1.959_963_984_540_054);
    libm::erf(tolerance / (se * std::f64::consts::SQRT_2))
}

fn subgroups(report: &Report) -> Target {
    let mut rows = Vec::new();
    for t in internal(report) {
        // The candidate's audit where it has one, else the first method's.
        let m = method(t, &report.candidate).or_else(|| t.methods.first());
        let Some(m) = m else { continue };
        let audit = &m.evaluation.fairness;
        let widest = audit
            .iter()
            .filter_map(|a| a.auroc_gap.map(|g| (g, a.attribute.as_str())))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let flags: usize = audit.iter().flat_map(|a| &a.groups).map(|g| g.flagged.len()).sum();
        // An audit over nothing but `unknown` (data without demographics, or predictions joined
        // to another dataset) says nothing: not measured, never met.
        let known = audit.iter().any(|a| a.groups.iter().filter(|g| g.group != "unknown").count() >= 2);
        if !known {
            rows.push(TargetRow {
                task: t.task.clone(),
                measured: format!("{}: no attribute had two known groups (every subject unknown)", m.method),
                holds: None,
            });
            continue;
        }
        let measured = match widest {
            Some((g, attribute)) => format!(
                "{}: widest AUROC gap {g:.3} ({attribute}), {flags} ratio(s) outside [0.8, 1.25] across {} attribute(s)",
                m.method,
                audit.len()
            ),
            None => format!("{}: no subgroup had both classes", m.method),
        };
        rows.push(TargetRow { task: t.task.clone(), measured, holds: Some(!audit.is_empty()) });
    }
    let (reported, audited) = tally(&rows);
    let status = every(reported, audited);
    Target {
        asked: "Subgroup gaps (sex, age band, race/ethnicity, site) are reported for every task".into(),
        status,
        measured: format!("audited on {reported} of {audited} tasks"),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Comparison;
    use crate::FewShot;

    fn evaluation(scores: &[(f32, bool)]) -> eval::Evaluation {
        let predictions: Vec<meds::labels::BooleanPrediction> = scores
            .iter()
            .enumerate()
            .map(|(i, &(p, value))| meds::labels::BooleanPrediction {
                label: meds::labels::BooleanLabel { subject_id: i as i64, prediction_time: 0, value },
                predicted_value: p >= 0.5,
                probability: p,
            })
            .collect();
        eval::evaluate(&predictions, &[], &eval::Options { resamples: 0, ..Default::default() }).expect("evaluates")
    }

    fn ranked(quality: usize) -> eval::Evaluation {
        // 20 positives, 20 negatives; `quality` of the positives are scored above every negative.
        let mut scores = Vec::new();
        for i in 0..20 {
            let p = if i < quality { 0.9 } else { 0.1 };
            scores.push((p, true));
            scores.push((0.5, false));
        }
        evaluation(&scores)
    }

    fn task(name: &str, methods: &[(&str, usize)]) -> TaskResult {
        TaskResult {
            task: name.into(),
            setting: "internal: subject".into(),
            description: None,
            methods: methods
                .iter()
                .map(|(m, q)| MethodResult {
                    method: (*m).into(),
                    evaluation: ranked(*q),
                    lead_times: Vec::new(),
                    recalibration: None,
                })
                .collect(),
            few_shot: Vec::new(),
            not_run: Default::default(),
            comparisons: Vec::new(),
        }
    }

    fn report(tasks: Vec<TaskResult>) -> Report {
        crate::test_report(tasks, Vec::new())
    }

    #[test]
    fn a_probe_behind_the_gbm_on_most_tasks_is_a_miss_and_says_so() {
        let r = report(vec![
            task("a", &[("counts_gbm", 15), ("fm_probe", 18), ("oracle", 20)]),
            task("b", &[("counts_gbm", 15), ("fm_probe", 10), ("oracle", 20)]),
            task("c", &[("counts_gbm", 15), ("fm_probe", 12), ("oracle", 20)]),
        ]);
        let t = targets(&r, &["a", "b"]);
        assert_eq!(t[0].status, Status::Missed);
        assert_eq!(t[0].measured, "higher on 1 of 3 tasks");
        assert_eq!(t[0].rows[0].holds, Some(true));
        // No few-shot curves: not measured, not met.
        assert_eq!(t[1].status, Status::NotMeasured);
        // Oracle gap: "a" has probe AUROC below the oracle's 1.0 by more than 0.03.
        assert_eq!(t[2].rows.len(), 2, "only the chronic tasks");
        assert_eq!(t[2].status, Status::Missed);
        let r = report(vec![task("a", &[("counts_gbm", 15), ("fm_probe", 20), ("oracle", 20)])]);
        let t = targets(&r, &["a"]);
        assert_eq!(t[0].status, Status::Met);
        assert_eq!(t[2].status, Status::Met, "{:?}", t[2]);
    }

    #[test]
    fn the_paired_intervals_say_how_many_tasks_the_probe_is_ahead_level_and_behind_on() {
        let compared = |candidate: &str, difference: f64, lower: f64, upper: f64| Comparison {
            candidate: candidate.into(),
            baseline: "counts_gbm".into(),
            paired: eval::paired::PairedDifference {
                rows: 100,
                positives: 10,
                baseline_auroc: 0.7,
                candidate_auroc: 0.7 + difference,
                difference,
                interval: Some(eval::Interval { lower, upper }),
                resamples: 200,
                level: 0.95,
            },
        };
        let paired = |difference: f64, lower: f64, upper: f64| compared("fm_probe", difference, lower, upper);
        let mut a = task("a", &[("counts_gbm", 15), ("fm_probe", 18)]);
        a.comparisons.push(paired(0.04, 0.01, 0.07));
        // The headroom: the oracle ahead of the GBM on "a", level with it on "b".
        a.comparisons.push(compared("oracle", 0.08, 0.05, 0.11));
        let mut b = task("b", &[("counts_gbm", 15), ("fm_probe", 16)]);
        b.comparisons.push(paired(0.01, -0.02, 0.04));
        b.comparisons.push(compared("oracle", 0.01, -0.01, 0.03));
        let mut c = task("c", &[("counts_gbm", 15), ("fm_probe", 10)]);
        c.comparisons.push(paired(-0.05, -0.08, -0.02));
        // A task without a paired comparison counts for the point estimates only.
        let d = task("d", &[("counts_gbm", 15), ("fm_probe", 12)]);
        let r = report(vec![a, b, c, d]);
        let t = targets(&r, &[]);
        // The page shows each difference in the summary, with its verdict, and under the task.
        let html = crate::html::render(&r, &crate::card::model_card(&r, &Default::default()));
        assert!(html.contains("<th>fm_probe − counts_gbm, paired</th>"), "summary column");
        assert!(html.contains("<td class=best>+0.040 [+0.010, +0.070]<br><small>ahead</small></td>"));
        assert!(html.contains("<td class=flag>-0.050 [-0.080, -0.020]<br><small>behind</small></td>"));
        assert!(html.contains("fm_probe − counts_gbm: +0.010 [-0.020, +0.040], level (100 times, 10 positives)"));
        assert_eq!(
            t[0].measured,
            "higher on 2 of 4 tasks; by the paired 95% interval of the difference, ahead on 1, level on 1, behind on 1 of 3; \
             the oracle itself is ahead of the GBM beyond noise on 1 of 2: on the other 1, not even the best possible model \
             can be shown ahead of the GBM at these sizes"
        );
        assert_eq!(t[0].status, Status::Missed, "two of four is not most");
        assert!(
            t[0].rows[0]
                .measured
                .ends_with("; paired +0.040 [+0.010, +0.070] over 100 times; oracle − GBM +0.080 [+0.050, +0.110])"),
            "{:?}",
            t[0].rows[0]
        );
        assert!(!t[0].rows[3].measured.contains("paired"), "{:?}", t[0].rows[3]);
    }

    #[test]
    fn a_judged_slope_shows_its_interval_and_whether_it_holds_one() {
        let mut a = task("a", &[("fm_probe", 15)]);
        let e = &mut a.methods[0].evaluation;
        e.metrics.calibration_slope = Some(1.3);
        e.intervals.calibration_slope = Some(eval::Interval { lower: 0.95, upper: 1.6 });
        let mut b = task("b", &[("fm_probe", 15)]);
        let e = &mut b.methods[0].evaluation;
        e.metrics.calibration_slope = Some(0.6);
        e.intervals.calibration_slope = Some(eval::Interval { lower: 0.5, upper: 0.7 });
        let t = targets(&report(vec![a, b]), &[]);
        assert_eq!(t[3].status, Status::Missed);
        assert_eq!(t[3].rows[0].measured, "slope 1.30 [0.95, 1.60] (20 positives)");
        assert_eq!(t[3].rows[0].holds, Some(false), "judged on the point, as asked");
        assert_eq!(
            t[3].measured,
            "within on 0 of 2 judged tasks; the 95% interval holds 1 on 1 of 2; a perfectly calibrated probe, \
             its slopes as uncertain as these, would land within on 1.4 of 2 on average and on all of them \
             with probability 43%"
        );
    }

    /// An estimate whose 95% interval is 0.2 wide has a standard error of 0.1 / 1.96, so it lands
    /// within ±0.1 of the truth 95% of the time; a wider interval less often, a degenerate one always.
    #[test]
    fn the_chance_of_landing_within_follows_the_interval_width() {
        assert!((chance_within(0.2, 0.1) - 0.95).abs() < 1e-9, "{}", chance_within(0.2, 0.1));
        assert!((chance_within(0.65, 0.1) - 0.4535).abs() < 1e-4, "{}", chance_within(0.65, 0.1));
        assert!(chance_within(2.5, 0.1) < 0.13);
        assert_eq!(chance_within(0.0, 0.1), 1.0);
    }

    /// The page says, per tested method, which recalibration the closed test kept and why, beside
    /// the slope the target judges.
    #[test]
    fn the_page_says_which_recalibration_each_method_kept() {
        let mut a = task("a", &[("counts_gbm", 15), ("fm_probe", 16)]);
        a.methods[1].recalibration = Some(artifacts::ClosedTest {
            update: artifacts::Update::Intercept,
            map: artifacts::Recalibration { slope: 1.0, intercept: 0.41 },
            full_slope: 1.01,
            lr_full_vs_none: 11.86,
            lr_intercept_vs_none: 11.83,
            lr_full_vs_intercept: 0.03,
            examples: 4604,
            positives: 98,
        });
        let r = report(vec![a]);
        let html = crate::html::render(&r, &crate::card::model_card(&r, &Default::default()));
        assert!(
            html.contains("fm_probe: the intercept (+0.41) (full map's slope 1.01; LR 11.9 against no update, 0.0 against the intercept alone; 98 tuning positives of 4604)"),
            "{}",
            &html[html.find("Recalibration kept").unwrap_or(0)..][..400.min(html.len())]
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["tasks"][0]["methods"][1]["recalibration"]["update"], "intercept");
        assert!(json["tasks"][0]["methods"][0].get("recalibration").is_none(), "untested methods carry none");
        // Without any tested method the note is left out.
        let plain = report(vec![task("b", &[("counts_gbm", 15)])]);
        assert!(
            !crate::html::render(&plain, &crate::card::model_card(&plain, &Default::default()))
                .contains("Recalibration kept")
        );
    }

    #[test]
    fn the_few_shot_margin_is_compared_with_all_of_train() {
        let mut a = task("a", &[("counts_gbm", 15), ("fm_probe", 16)]);
        a.few_shot = vec![
            FewShot {
                method: "counts_gbm".into(),
                points: vec![(Some(8), Some(0.60)), (Some(32), Some(0.70)), (None, Some(0.80))],
            },
            FewShot {
                method: "fm_probe".into(),
                points: vec![(Some(8), Some(0.66)), (Some(32), Some(0.72)), (None, Some(0.78))],
            },
        ];
        let t = targets(&report(vec![a.clone()]), &[]);
        assert_eq!(t[1].status, Status::Met, "{:?}", t[1]);
        assert!(t[1].measured.contains("k = 8") && t[1].measured.contains("-0.020"), "{}", t[1].measured);
        a.few_shot[1].points[0].1 = Some(0.50);
        a.few_shot[1].points[1].1 = Some(0.60);
        let t = targets(&report(vec![a]), &[]);
        assert_eq!(t[1].status, Status::Missed);
    }

    #[test]
    fn each_k_is_compared_with_all_of_train_on_the_same_tasks() {
        let curves = |probe: [(Option<usize>, f64); 2], gbm: [(Option<usize>, f64); 2]| {
            vec![
                FewShot { method: "counts_gbm".into(), points: gbm.iter().map(|&(k, a)| (k, Some(a))).collect() },
                FewShot { method: "fm_probe".into(), points: probe.iter().map(|&(k, a)| (k, Some(a))).collect() },
            ]
        };
        // Task a: +0.02 at k = 8, +0.05 with all of train (the margin grows: a miss).
        let mut a = task("a", &[("counts_gbm", 15)]);
        a.few_shot = curves([(Some(8), 0.62), (None, 0.85)], [(Some(8), 0.60), (None, 0.80)]);
        // Task b never reaches k = 8 (the probe's curve stops) and trails with all of train.
        let mut b = task("b", &[("counts_gbm", 15)]);
        b.few_shot = curves([(Some(1), 0.50), (None, 0.60)], [(Some(1), 0.55), (None, 0.90)]);
        let t = targets(&report(vec![a, b]), &[]);
        // Against every task's all-of-train mean (−0.125) k = 8 would look widest; against task
        // a's own (+0.05) it is not.
        assert_eq!(t[1].status, Status::Missed, "{:?}", t[1]);
        assert!(t[1].measured.contains("(1 tasks)") && t[1].measured.contains("+0.050"), "{}", t[1].measured);
    }
}
