//! The report as one HTML file: a summary table of every task × method, then per task the metric
//! table with 95% intervals, ROC and precision-recall curves, the reliability diagram, threshold
//! curves and the subgroup audit, then the model card. Inline CSS and SVG only: it opens offline,
//! prints, and can be archived as the record of what the board saw.

use std::fmt::Write;

use eval::{Evaluation, Interval};

use crate::card::ModelCard;
use crate::svg::{Bar, Chart, Series, bars};
use crate::targets::Status;
use crate::{MethodResult, Report, TaskResult, escape};

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1180px;color:#1d1d1f;line-height:1.45;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem}h3{margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.86rem}th,td{border:1px solid #d0d0d0;padding:.28rem .5rem;text-align:right}
th{background:#f2f5f8}td.l,th.l{text-align:left}.best{font-weight:700;background:#eaf4ea}.flag{color:#b00020;font-weight:600}.met{color:#1b7a1b;font-weight:600}
.muted{color:#666;font-size:.85rem}.charts{display:flex;flex-wrap:wrap;gap:14px}.charts svg{border:1px solid #eee;background:#fff}
.card td{text-align:left;vertical-align:top}.src{font-size:.75rem;color:#555}nav a{margin-right:.8rem}
@media print{.charts{page-break-inside:avoid}h2{page-break-before:always}}";

fn num(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.3}"))
}

fn with_ci(v: Option<f64>, ci: Option<Interval>) -> String {
    match (v, ci) {
        (Some(x), Some(i)) => format!("{x:.3} <span class=muted>[{:.3}, {:.3}]</span>", i.lower, i.upper),
        (Some(x), None) => format!("{x:.3}"),
        _ => "—".into(),
    }
}

fn anchor(t: &TaskResult) -> String {
    let setting = t.setting.split(':').next().unwrap_or_default();
    format!("{setting}-{}", t.task).chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

fn setting_name(t: &TaskResult) -> &str {
    t.setting.split(':').next().unwrap_or_default()
}

/// The whole page.
pub fn render(report: &Report, card: &ModelCard) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>{}</title><style>{CSS}</style></head><body>",
        escape(&report.title)
    );
    let _ = write!(
        s,
        "<h1>{}</h1><p class=muted>Generated {} · data: {} · model card method: <b>{}</b></p>",
        escape(&report.title),
        escape(&report.generated),
        escape(&report.dataset),
        escape(&report.candidate)
    );
    s.push_str("<nav>");
    for t in &report.tasks {
        let _ = write!(s, "<a href='#{}'>{} ({})</a>", anchor(t), escape(&t.task), escape(setting_name(t)));
    }
    s.push_str("<a href='#targets'>targets</a>");
    if !report.what_if.is_empty() {
        s.push_str("<a href='#what-if'>what if</a>");
    }
    s.push_str("<a href='#model-card'>model card</a></nav>");
    summary(&mut s, report);
    targets_section(&mut s, report);
    for t in &report.tasks {
        task_section(&mut s, t, &report.candidate);
    }
    what_if_section(&mut s, report);
    card_section(&mut s, card);
    s.push_str("<p class=muted>Metrics: AUROC with ties counted half; AUPRC as average precision; calibration slope and intercept from logistic recalibration on logit(p); ECE over ten equal-width bins weighted by size; 95% intervals by patient-level bootstrap (percentile). Decision curves: net benefit = TP/N − FP/N · t/(1 − t) at threshold probability t (Vickers &amp; Elkin 2006), beside acting on everyone and on no one; a model helps at the thresholds where its curve lies above both. Fairness ratios compare each group's rate with the largest group's at the operating threshold (90% specificity unless stated) and are flagged outside [0.8, 1.25].</p></body></html>");
    s
}

/// "What if" comparisons: the model's effect of a treatment change beside the truth's.
fn what_if_section(s: &mut String, report: &Report) {
    if report.what_if.is_empty() {
        return;
    }
    s.push_str("<h2 id=what-if>What if: a treatment started or withheld, in the model's futures and in truth</h2><p class=muted>For each compared prediction time the model generated futures as recorded and with the change made, on the same random streams, and the task read both; on simulated data the generator's counterfactual oracle answered the same question on the same times. The model's figure is what followed such prescriptions in its training records, confounding by indication included — not a treatment effect unless it agrees with the truth.</p><table><tr><th class=l>task</th><th class=l>change</th><th>times</th><th>model: risk as recorded → changed</th><th>model RR [95% CI]</th><th>truth: risk → changed</th><th>truth RR [95% CI]</th><th>per-time r</th><th class=l>model vs truth</th></tr>");
    let rr = |e: &artifacts::Effect| {
        let ci = e.relative_risk_interval.map_or(String::new(), |i| format!(" [{:.2}, {:.2}]", i.lower, i.upper));
        format!("{}{ci}", e.relative_risk.map_or("—".into(), |r| format!("{r:.2}")))
    };
    let risks = |e: &artifacts::Effect| format!("{:.2}% → {:.2}%", 100.0 * e.risk_as_recorded, 100.0 * e.risk_changed);
    for w in &report.what_if {
        let verdict = match w.verdict() {
            "opposite" => "<span class=flag>opposite direction</span>",
            "agrees" => "<span class=met>same direction</span>",
            other => other,
        };
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td class=l>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=l>{verdict}</td></tr>",
            escape(&w.task),
            escape(&w.change),
            escape(&w.treatment),
            w.compared,
            risks(&w.model),
            rr(&w.model),
            w.oracle.as_ref().map_or("—".into(), risks),
            w.oracle.as_ref().map_or("—".into(), rr),
            num(w.correlation),
        );
    }
    s.push_str("</table>");
}

/// The validation targets: each with its verdict, the measurement, and the per-task figures.
fn targets_section(s: &mut String, report: &Report) {
    if report.targets.is_empty() {
        return;
    }
    s.push_str("<h2 id=targets>Validation targets (internal split)</h2><table><tr><th class=l>target</th><th class=l>verdict</th><th class=l>measured</th><th class=l>per task</th></tr>");
    for t in &report.targets {
        let verdict = match t.status {
            Status::Met => "<span class=met>met</span>",
            Status::Missed => "<span class=flag>missed</span>",
            Status::NotMeasured => "<span class=muted>not measured</span>",
        };
        let rows: Vec<String> = t
            .rows
            .iter()
            .map(|r| {
                let mark = match r.holds {
                    Some(true) => "✓ ",
                    Some(false) => "✗ ",
                    None => "",
                };
                format!("{mark}{}: {}", escape(&r.task), escape(&r.measured))
            })
            .collect();
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td class=l>{verdict}</td><td class=l>{}</td><td class=l><small>{}</small></td></tr>",
            escape(&t.asked),
            escape(&t.measured),
            rows.join("<br>")
        );
    }
    s.push_str("</table>");
}

fn summary(s: &mut String, report: &Report) {
    let mut methods: Vec<&str> = Vec::new();
    for t in &report.tasks {
        for m in &t.methods {
            if !methods.contains(&m.method.as_str()) {
                methods.push(&m.method);
            }
        }
    }
    let mut reasons: Vec<String> = Vec::new();
    s.push_str("<h2 id=summary>Summary: held-out AUROC [95% CI]</h2><table><tr><th class=l>setting</th><th class=l>task</th><th>n</th><th>prevalence</th>");
    for m in &methods {
        let _ = write!(s, "<th>{}</th>", escape(m));
    }
    // The probe against the count GBM on the same times, where the run paired them.
    let paired = report.tasks.iter().any(|t| t.comparison("fm_probe", "counts_gbm").is_some());
    if paired {
        s.push_str("<th>fm_probe − counts_gbm, paired</th>");
    }
    s.push_str("</tr>");
    for t in &report.tasks {
        let first = t.methods.first().map(|m| &m.evaluation);
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td class=l><a href='#{}'>{}</a></td><td>{}</td><td>{}</td>",
            escape(setting_name(t)),
            anchor(t),
            escape(&t.task),
            first.map_or(0, |e| e.n),
            first.map_or("—".into(), |e| e.metrics.prevalence.map_or("—".into(), |p| format!("{:.2}%", 100.0 * p)))
        );
        let best = t
            .methods
            .iter()
            .filter(|m| m.method != "oracle")
            .filter_map(|m| m.evaluation.metrics.auroc)
            .fold(f64::MIN, f64::max);
        for name in &methods {
            match t.methods.iter().find(|m| m.method == *name) {
                Some(m) => {
                    let a = m.evaluation.metrics.auroc;
                    let class = if a == Some(best) && m.method != "oracle" { " class=best" } else { "" };
                    // A method scored on a sample (zero-shot) says how many it saw.
                    let sample = match first {
                        Some(f) if f.n != m.evaluation.n => format!("<br><small>n = {}</small>", m.evaluation.n),
                        _ => String::new(),
                    };
                    let _ = write!(s, "<td{class}>{}{sample}</td>", with_ci(a, m.evaluation.intervals.auroc));
                }
                None => match t.not_run.get(*name) {
                    Some(why) => {
                        let n = match reasons.iter().position(|r| r == why) {
                            Some(i) => i + 1,
                            None => {
                                reasons.push(why.clone());
                                reasons.len()
                            }
                        };
                        let _ = write!(s, "<td title='{}'>—<sup>{n}</sup></td>", escape(why));
                    }
                    None => s.push_str("<td title='not in this run'>—</td>"),
                },
            }
        }
        if paired {
            match t.comparison("fm_probe", "counts_gbm").and_then(|d| Some((d, d.interval?, d.verdict()?))) {
                Some((d, i, verdict)) => {
                    let class = match verdict {
                        eval::paired::Verdict::Ahead => " class=best",
                        eval::paired::Verdict::Level => "",
                        eval::paired::Verdict::Behind => " class=flag",
                    };
                    let word = verdict.as_str();
                    let _ = write!(
                        s,
                        "<td{class}>{:+.3} [{:+.3}, {:+.3}]<br><small>{word}</small></td>",
                        d.difference, i.lower, i.upper
                    );
                }
                None => s.push_str("<td>—</td>"),
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
    // Every blank with a recorded reason says why.
    if !reasons.is_empty() {
        s.push_str("<p class=muted>");
        for (i, why) in reasons.iter().enumerate() {
            let _ = write!(s, "<sup>{}</sup> {}<br>", i + 1, escape(why));
        }
        s.push_str("</p>");
    }
}

fn metric_table(s: &mut String, t: &TaskResult) {
    s.push_str("<table><tr><th class=l>method</th><th>n</th><th>positives</th><th>AUROC</th><th>AUPRC</th><th>Brier</th><th>calibration slope</th><th>calibration intercept</th><th>ECE</th><th>sens. @90% spec.</th><th>PPV @90% spec.</th><th>lead time, days (alerted / diagnosed)</th></tr>");
    for m in &t.methods {
        let e = &m.evaluation;
        let (mm, i) = (&e.metrics, &e.intervals);
        let _ = write!(
            s,
            "<tr><td class=l>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.method) + if e.weighted { " †" } else { "" },
            e.n,
            mm.positives,
            with_ci(mm.auroc, i.auroc),
            with_ci(mm.auprc, i.auprc),
            with_ci(mm.brier, i.brier),
            with_ci(mm.calibration_slope, i.calibration_slope),
            with_ci(mm.calibration_intercept, i.calibration_intercept),
            with_ci(mm.ece, i.ece),
            num(e.audit_point.as_ref().and_then(|p| p.sensitivity)),
            num(e.audit_point.as_ref().and_then(|p| p.ppv)),
            m.lead_times
                .iter()
                .map(|l| format!(
                    "{}: {} ({}/{})",
                    escape(&l.event),
                    l.median_days.map_or("—".into(), |d| format!("{d:.0}")),
                    l.alerted,
                    l.subjects
                ))
                .collect::<Vec<_>>()
                .join("<br>"),
        );
    }
    s.push_str("</table>");
    let tested: Vec<String> = t
        .methods
        .iter()
        .filter_map(|m| {
            let r = m.recalibration.as_ref()?;
            let kept = match r.update {
                artifacts::Update::None => "no update".to_string(),
                artifacts::Update::Intercept => format!("the intercept ({:+.2})", r.map.intercept),
                artifacts::Update::InterceptAndSlope => {
                    format!("slope {:.2} and intercept {:+.2}", r.map.slope, r.map.intercept)
                }
            };
            Some(format!(
                "{}: {kept} (full map's slope {:.2}; LR {:.1} against no update, {:.1} against the intercept alone; {} tuning positives of {})",
                escape(&m.method),
                r.full_slope,
                r.lr_full_vs_none,
                r.lr_full_vs_intercept,
                r.positives,
                r.examples
            ))
        })
        .collect();
    if !tested.is_empty() {
        let _ = write!(
            s,
            "<p class=muted>Recalibration kept on the tuning split (closed test: no update, the intercept, or intercept and slope; likelihood-ratio tests at 5%). {}.</p>",
            tested.join("; ")
        );
    }
    let paired: Vec<String> = t
        .comparisons
        .iter()
        .filter_map(|c| {
            let d = &c.paired;
            let i = d.interval?;
            let verdict = d.verdict()?.as_str();
            Some(format!(
                "{} − {}: {:+.3} [{:+.3}, {:+.3}], {verdict} ({} times, {} positives)",
                escape(&c.candidate),
                escape(&c.baseline),
                d.difference,
                i.lower,
                i.upper,
                d.rows,
                d.positives
            ))
        })
        .collect();
    if !paired.is_empty() {
        let _ = write!(
            s,
            "<p class=muted>Paired AUROC differences on the same held-out times (each bootstrap resample scores both methods on the same patients, so the interval is that of the difference itself): {}.</p>",
            paired.join("; ")
        );
    }
    if t.methods.iter().any(|m| m.evaluation.weighted) {
        s.push_str("<p class=muted>† Scored on a case-control sample of the held-out prediction times (every positive up to half of the sample, negatives to fill it). Every figure is weighted back to the held-out population by the inverse sampling fraction of each class, so calibration, PPV and the subgroup audit are the population's; n counts the sample, positives the population's (weighted).</p>");
    }
}

fn task_section(s: &mut String, t: &TaskResult, candidate: &str) {
    let _ = write!(
        s,
        "<h2 id='{}'>{} <span class=muted>({})</span></h2>",
        anchor(t),
        escape(&t.task),
        escape(setting_name(t))
    );
    if let Some(d) = &t.description {
        let _ = write!(s, "<p>{}</p>", escape(d));
    }
    let _ = write!(s, "<p class=muted>Validation setting — {}</p>", escape(&t.setting));
    metric_table(s, t);
    if t.methods.iter().all(|m| m.evaluation.metrics.positives == 0.0) {
        s.push_str("<p class=flag>No positive label among the held-out prediction times: discrimination, calibration and fairness cannot be measured for this task in this setting (more patients or a longer period are needed).</p>");
        return;
    }
    s.push_str("<div class=charts>");
    let curves = |f: fn(&Evaluation) -> Vec<(f64, f64)>| -> Vec<Series> {
        t.methods.iter().map(|m| Series { name: m.method.clone(), points: f(&m.evaluation), markers: false }).collect()
    };
    s.push_str(
        &Chart {
            title: "ROC curve".into(),
            x_label: "1 − specificity".into(),
            y_label: "sensitivity".into(),
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            diagonal: true,
            series: curves(|e| e.roc.clone()),
        }
        .render(),
    );
    s.push_str(
        &Chart {
            title: "Precision–recall curve".into(),
            x_label: "recall (sensitivity)".into(),
            y_label: "precision (PPV)".into(),
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            diagonal: false,
            series: curves(|e| e.pr.clone()),
        }
        .render(),
    );
    if !t.few_shot.is_empty() {
        // x: log2 k (1 → 0 … 128 → 7); "all" plotted one step right of the largest k.
        let series = t
            .few_shot
            .iter()
            .map(|c| Series {
                name: c.method.clone(),
                points: c
                    .points
                    .iter()
                    .filter_map(|(k, a)| {
                        let x = k.map_or(8.0, |k| (k as f64).log2());
                        a.map(|a| (x, a))
                    })
                    .collect(),
                markers: false,
            })
            .collect();
        s.push_str(
            &Chart {
                title: "Few-shot: held-out AUROC".into(),
                x_label: "log2 examples per class (8 = all of train)".into(),
                y_label: "AUROC".into(),
                x: (0.0, 8.0),
                y: (0.4, 1.0),
                diagonal: false,
                series,
            }
            .render(),
        );
    }
    let cand = t.methods.iter().find(|m| m.method == candidate).or_else(|| t.methods.first());
    if let Some(c) = cand {
        let e = &c.evaluation;
        let top = e.reliability.iter().map(|b| b.mean_probability.max(b.observed)).fold(0.05, f64::max).min(1.0);
        // Up to a top whose quarters (the axis ticks) are round numbers.
        let top = [0.1, 0.2, 0.4, 0.6, 0.8, 1.0].into_iter().find(|&x| x >= top - 1e-12).unwrap_or(1.0);
        s.push_str(
            &Chart {
                title: format!("Reliability ({})", c.method),
                x_label: "mean predicted probability".into(),
                y_label: "observed rate".into(),
                x: (0.0, top),
                y: (0.0, top),
                diagonal: true,
                series: vec![Series {
                    name: c.method.clone(),
                    points: e.reliability.iter().map(|b| (b.mean_probability, b.observed)).collect(),
                    markers: true,
                }],
            }
            .render(),
        );
        let pick = |f: fn(&eval::OperatingPoint) -> Option<f64>| -> Vec<(f64, f64)> {
            e.operating_points.iter().filter_map(|p| f(p).map(|v| (p.threshold, v))).collect()
        };
        s.push_str(
            &Chart {
                title: format!("Threshold curves ({})", c.method),
                x_label: "threshold".into(),
                y_label: "rate".into(),
                x: (0.0, 1.0),
                y: (0.0, 1.0),
                diagonal: false,
                series: vec![
                    Series { name: "sensitivity".into(), points: pick(|p| p.sensitivity), markers: false },
                    Series { name: "specificity".into(), points: pick(|p| p.specificity), markers: false },
                    Series { name: "PPV".into(), points: pick(|p| p.ppv), markers: false },
                    Series { name: "flag rate".into(), points: pick(|p| p.flag_rate), markers: false },
                ],
            }
            .render(),
        );
        s.push_str(&decision_curve(t, c));
        for a in &e.fairness {
            let rows: Vec<Bar> = a
                .groups
                .iter()
                .filter_map(|g| g.metrics.auroc.map(|v| (format!("{} (n={})", g.group, g.n), v, None)))
                .collect();
            if !rows.is_empty() {
                s.push_str(&bars(
                    &format!("AUROC by {} ({})", a.attribute, c.method),
                    &rows,
                    (0.5, 1.0),
                    e.metrics.auroc,
                ));
            }
        }
        s.push_str("</div>");
        few_shot_table(s, t);
        fairness_table(s, e);
    } else {
        s.push_str("</div>");
    }
}

/// The decision curve of the card's method, the probe, the count GBM and the oracle, beside
/// acting on everyone and on no one, over the
/// thresholds that matter for the task's prevalence: up to about four times it (a clinician
/// rarely acts only on risks far above the base rate), the net benefit from a third below zero to
/// just above the prevalence (its maximum).
fn decision_curve(t: &TaskResult, candidate: &MethodResult) -> String {
    let reference = &candidate.evaluation;
    let prevalence = reference.metrics.prevalence.unwrap_or(0.0);
    // Four ticks across, each a round step.
    let x_max = [0.02, 0.04, 0.08, 0.1, 0.2, 0.4, 0.6].into_iter().find(|&x| x >= 4.0 * prevalence).unwrap_or(0.6);
    // The top is three ticks above zero and one below, each a round step.
    let y_max = [0.003, 0.006, 0.009, 0.012, 0.015, 0.03, 0.06, 0.09, 0.12, 0.15, 0.3, 0.6, 0.9, 1.2]
        .into_iter()
        .find(|&y| y >= 1.05 * prevalence)
        .unwrap_or(1.2);
    let y_min = -y_max / 3.0;
    let within = |(x, y): &(f64, f64)| *x <= x_max + 1e-12 && *y >= y_min;
    // The method the card describes, the foundation model's probe, the count GBM and the oracle:
    // beside the two reference lines, few enough to tell apart.
    let shown = [candidate.method.as_str(), "fm_probe", "counts_gbm", "oracle"];
    let mut series: Vec<Series> = t
        .methods
        .iter()
        .filter(|m| shown.contains(&m.method.as_str()))
        .map(|m| Series {
            name: m.method.clone(),
            points: m.evaluation.decision_curve.iter().map(|d| (d.threshold, d.net_benefit)).filter(within).collect(),
            markers: false,
        })
        .collect();
    series.push(Series {
        name: "treat all".into(),
        points: reference.decision_curve.iter().map(|d| (d.threshold, d.treat_all)).filter(within).collect(),
        markers: false,
    });
    series.push(Series { name: "treat none".into(), points: vec![(0.0, 0.0), (x_max, 0.0)], markers: false });
    Chart {
        title: "Decision curve: net benefit".into(),
        x_label: "threshold probability".into(),
        y_label: "net benefit (true positives per patient)".into(),
        x: (0.0, x_max),
        y: (y_min, y_max),
        diagonal: false,
        series,
    }
    .render()
}

fn few_shot_table(s: &mut String, t: &TaskResult) {
    let Some(first) = t.few_shot.first() else { return };
    s.push_str("<h3>Few-shot: held-out AUROC by training examples per class</h3><table><tr><th class=l>method</th>");
    for (k, _) in &first.points {
        let _ = write!(s, "<th>{}</th>", k.map_or("all".to_string(), |k| k.to_string()));
    }
    s.push_str("</tr>");
    for c in &t.few_shot {
        let _ = write!(s, "<tr><td class=l>{}</td>", escape(&c.method));
        for (k, _) in &first.points {
            let v = c.points.iter().find(|(kk, _)| kk == k).and_then(|(_, a)| *a);
            let _ = write!(s, "<td>{}</td>", num(v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</table>");
}

fn fairness_table(s: &mut String, e: &Evaluation) {
    if e.fairness.is_empty() {
        return;
    }
    s.push_str("<h3>Subgroup audit</h3><table><tr><th class=l>attribute</th><th class=l>group</th><th>n</th><th>prevalence</th><th>AUROC</th><th>calibration slope</th><th>ECE</th><th>TPR ratio</th><th>FPR ratio</th><th>PPV ratio</th><th>flag-rate ratio</th></tr>");
    for a in &e.fairness {
        for g in &a.groups {
            let ratio = |k: &str| {
                let v = g.ratios.get(k).copied().flatten();
                let flagged = g.flagged.iter().any(|f| f == k);
                let text = num(v);
                if flagged { format!("<span class=flag>{text} ⚑</span>") } else { text }
            };
            let reference = if g.group == a.reference { " (ref.)" } else { "" };
            let _ = write!(
                s,
                "<tr><td class=l>{}</td><td class=l>{}{reference}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.attribute),
                escape(&g.group),
                g.n,
                num(g.metrics.prevalence),
                num(g.metrics.auroc),
                num(g.metrics.calibration_slope),
                num(g.metrics.ece),
                ratio("tpr"),
                ratio("fpr"),
                ratio("ppv"),
                ratio("flag_rate"),
            );
        }
    }
    s.push_str("</table>");
}

fn card_section(s: &mut String, card: &ModelCard) {
    let _ = write!(
        s,
        "<h2 id=model-card>Model card: {} ({})</h2><p class=muted>ONC HTI-1 source attributes for predictive decision-support interventions, filled from the measurements above (measured), the organisation's statements (stated), or marked not measured. Exported as model_card.json and, in the CHAI Applied Model Card layout, chai_model_card.json.</p><table class=card><tr><th class=l>#</th><th class=l>group</th><th class=l>attribute</th><th class=l>value</th></tr>",
        escape(&card.name),
        escape(&card.method)
    );
    for a in &card.attributes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} <span class=src>({})</span></td></tr>",
            escape(&a.id),
            escape(&a.group),
            escape(&a.name),
            escape(&a.value),
            escape(&a.source)
        );
    }
    s.push_str("</table>");
}
