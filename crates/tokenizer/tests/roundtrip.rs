//! The tokenizer on a simulated population: fitted on train only, every kept thing survives
//! tokens → events → tokens, unknown codes fall back and are counted, files round-trip.

use meds::{CodeTable, Timeline};
use synth::{SynthConfig, simulate_patient, split_of, vocab};
use tokenizer::{Encoded, Lookup, TokenKind, Tokenizer, TokenizerConfig};

fn population(n: usize) -> (CodeTable, Vec<Timeline>, Vec<Timeline>) {
    let config = SynthConfig::new(n, 2, 3);
    let mut codes = vocab::code_table();
    let (mut train, mut other) = (Vec::new(), Vec::new());
    for i in 0..n {
        let p = simulate_patient(&config, &codes, i as u64);
        if split_of(config.seed, i as u64) == "train" { train.push(p.timeline) } else { other.push(p.timeline) }
    }
    // A code only outside train must not get a token.
    let only_held_out = codes.intern("LOINC/0000-held-out");
    if let Some(t) = other.first_mut() {
        let time = t.times.last().copied().unwrap_or(0) + 1;
        t.push(Some(time), only_held_out, None, None);
    }
    (codes, train, other)
}

/// Rebuilds a timeline from decoded events, with codes interned into `codes`.
fn timeline_of(subject_id: i64, e: &Encoded, tok: &Tokenizer, codes: &mut CodeTable) -> Timeline {
    let mut t = Timeline::new(subject_id);
    for &s in &e.statics {
        let name = tok.token(s).map(|x| x.name.clone()).unwrap_or_default();
        t.push(None, codes.intern(&name), None, None);
    }
    if let Some(b) = e.birth {
        t.push(Some(b), codes.intern("MEDS_BIRTH"), None, None);
    }
    let start = e.times.first().copied().unwrap_or(0);
    let decoded = tok.decode(&e.tokens, start);
    assert_eq!(decoded.skipped, 0, "every token of an encoded timeline decodes");
    for ev in decoded.events {
        t.push(Some(ev.time), codes.intern(&ev.code), ev.numeric_value, None);
    }
    t.sort();
    t
}

#[test]
fn tokens_to_events_to_tokens_is_the_identity() {
    let (codes, train, other) = population(600);
    let tok = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    assert!(tok.id("LOINC/0000-held-out").is_none(), "fitted on train only");
    assert!(tok.fit_summary().binned_codes > 5);
    let mut enc = tok.encoder(&codes);
    let encoded: Vec<Encoded> = train.iter().chain(&other).map(|t| enc.encode(t)).collect();
    let stats = enc.stats().clone();
    assert_eq!(stats.unknown_fallbacks.get("LOINC"), Some(&1), "the held-out-only code, counted");
    assert!(stats.tokens > stats.events, "values and intervals add tokens");

    let mut decoded_codes = CodeTable::new();
    let rebuilt: Vec<Timeline> =
        encoded.iter().map(|e| timeline_of(e.subject_id, e, &tok, &mut decoded_codes)).collect();
    let mut again = tok.encoder(&decoded_codes);
    for (e, t) in encoded.iter().zip(&rebuilt) {
        let back = again.encode(t);
        assert_eq!(back.tokens, e.tokens, "subject {}", e.subject_id);
        assert_eq!(back.statics, e.statics);
        assert_eq!(back.birth, e.birth);
    }
    assert_eq!(again.stats().parent_fallbacks, 0);

    // Times: one per token, never decreasing; every window's prefix is statics, an age, [START].
    for e in &encoded {
        assert_eq!(e.tokens.len(), e.times.len());
        assert!(e.times.windows(2).all(|w| w[0] <= w[1]));
        if e.tokens.is_empty() {
            continue;
        }
        let p = e.prefix(&tok, e.tokens.len() / 2);
        assert_eq!(p.len(), e.statics.len() + 2);
        assert_eq!(tok.token(p[p.len() - 2]).map(|t| t.kind), Some(TokenKind::Age));
        assert_eq!(p.last(), Some(&tokenizer::START));
        assert!(p.iter().all(|&t| !tok.is_predictable(t)));
        let mid = e.times[e.times.len() / 2];
        let n = e.len_until(mid);
        assert!(e.times[..n].iter().all(|&t| t <= mid) && e.times[n..].iter().all(|&t| t > mid));
    }
    // Values become the bin of their code, which follows the code token.
    for e in &encoded {
        for (i, &t) in e.tokens.iter().enumerate() {
            if tok.bin_of(t).is_some() {
                let prev = i.checked_sub(1).and_then(|j| tok.token(e.tokens[j]));
                assert!(prev.is_some_and(|p| tok.bins(&p.name).is_some()), "a bin follows a binned code");
            }
        }
    }
}

#[test]
fn unknown_and_rare_codes_fall_back_and_are_counted() {
    let (mut codes, train, _) = population(300);
    let tok = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    let diabetes = codes.names().find(|c| c.starts_with("ICD10CM/E11")).expect("a diabetes code").to_owned();
    let category = &diabetes[..diabetes.find('.').unwrap_or(diabetes.len())];
    assert!(tok.id(category).is_some(), "the category gets a token from its descendants");
    let unseen = format!("{category}.9999");
    let (parent, how) = tok.lookup(&unseen);
    assert_eq!(how, Lookup::Parent);
    assert!(tok.token(parent).is_some_and(|t| unseen.starts_with(&t.name)), "falls back to an ancestor");
    assert_eq!(tok.lookup("LOINC/99999-9"), (tok.id("UNKNOWN/LOINC").expect("unknown token"), Lookup::Unknown));
    assert_eq!(tok.lookup("SOMETHING_ELSE"), (tokenizer::UNK, Lookup::Unknown));

    let mut t = Timeline::new(7);
    for (i, code) in [unseen.as_str(), "LOINC/99999-9", "SOMETHING_ELSE", "ACME/1"].iter().enumerate() {
        t.push(Some(i as i64 * 86_400_000_000), codes.intern(code), Some(1.0), None);
    }
    let mut enc = tok.encoder(&codes);
    let e = enc.encode(&t);
    let s = enc.stats();
    assert_eq!(s.parent_fallbacks, 1);
    assert_eq!(s.unknown_fallbacks.values().sum::<u64>(), 3);
    assert_eq!(s.unknown_fallbacks.get(""), Some(&1), "no vocabulary: [UNK]");
    assert_eq!(s.values_without_bins, 4, "fallback tokens carry no bins");
    assert_eq!(e.tokens.iter().filter(|&&x| tok.bin_of(x).is_some()).count(), 0);
}

#[test]
fn files_round_trip_and_other_versions_are_refused() {
    let (codes, train, other) = population(200);
    let tok =
        Tokenizer::fit(&train, &codes, TokenizerConfig { min_count: 3, bins: 5, ..Default::default() }).expect("fit");
    let again =
        Tokenizer::fit(&train, &codes, TokenizerConfig { min_count: 3, bins: 5, ..Default::default() }).expect("fit");
    assert_eq!(tok, again, "deterministic");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).expect("save");
    assert_eq!(Tokenizer::load(&path).expect("load"), tok);
    let text = std::fs::read_to_string(&path).expect("read").replacen("\"version\":1", "\"version\":99", 1);
    std::fs::write(&path, text).expect("write");
    let err = Tokenizer::load(&path).expect_err("version 99");
    assert!(err.to_string().contains("version 99"), "{err}");
    std::fs::write(&path, "{}").expect("write");
    assert!(Tokenizer::load(&path).is_err());

    let mut enc = tok.encoder(&codes);
    let encoded: Vec<Encoded> = other.iter().map(|t| enc.encode(t)).collect();
    let split = dir.path().join("held_out.parquet");
    tokenizer::dataset::write_split(&split, &encoded).expect("write split");
    assert_eq!(tokenizer::dataset::read_split(&split).expect("read split"), encoded);
    assert!(Tokenizer::fit(&[], &codes, TokenizerConfig::default()).is_err(), "nothing to fit on");
}

/// A generated value bin decodes, in a sampled future, to draws from what that bin held in train:
/// the share of draws past a threshold inside the top potassium bin matches train's share there
/// (the zero-shot hyperkalemia task asks for potassium ≥ 5.5, above the top decile's cut), while
/// plain decoding always gives the bin's median.
#[test]
fn sampled_values_follow_the_train_values_of_their_bin() {
    let (codes, train, _) = population(1_500);
    let tok = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    let code = vocab::lab::POTASSIUM.0;
    let bins = tok.bins(code).expect("potassium has value bins");
    let top = bins.edges.len();
    let floor = bins.edges[top - 1];
    // Train's own values in the top bin, and how many reach 5.5.
    let k = codes.get(code).expect("interned");
    let held: Vec<f32> = train
        .iter()
        .flat_map(|t| (0..t.len()).filter_map(move |i| t.event(i)))
        .filter(|e| e.code == k)
        .filter_map(|e| e.numeric_value)
        .filter(|&v| v >= floor)
        .collect();
    let share = held.iter().filter(|&&v| v >= 5.5).count() as f64 / held.len() as f64;
    assert!(share > 0.0 && share < 0.5, "the threshold lies inside the top bin: {share:.3}");

    let tokens = [tok.id(code).expect("potassium token"), tok.bin_token(top)];
    assert_eq!(tok.decode(&tokens, 0).events[0].numeric_value, Some(bins.typical[top]));
    let draws: Vec<f32> = (0..4_000u64)
        .map(|seed| tok.decode_sampled(&tokens, 0, seed).events[0].numeric_value.expect("a value"))
        .collect();
    assert!(draws.iter().all(|&v| v >= floor), "every draw stays in its bin");
    let drawn = draws.iter().filter(|&&v| v >= 5.5).count() as f64 / draws.len() as f64;
    assert!((drawn - share).abs() < 0.05 + 0.2 * share, "drawn {drawn:.3} past 5.5, train {share:.3}");
    assert_eq!(tok.decode_sampled(&tokens, 0, 9), tok.decode_sampled(&tokens, 0, 9), "a seed decodes one way");
}

/// Redrawn bins: each reading of a generated value draws its bin from the model's probabilities
/// first, so bins come up in the shares the probabilities give (a rare bin included) and the value
/// from the bin drawn; a bin beyond what the code has is never drawn; without probabilities the
/// sampled bin stands, as in `decode_sampled`.
#[test]
fn resampled_values_draw_their_bin_from_the_probabilities_given() {
    let (codes, train, _) = population(600);
    let tok = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    let code = vocab::lab::POTASSIUM.0;
    let bins = tok.bins(code).expect("potassium has value bins");
    let n = bins.edges.len() + 1;
    let top = n - 1;
    // The model sampled the lowest bin; it gave the top bin 10%, the second 30%, and a tail of
    // bin tokens this code does not have the rest (which must be ignored and renormalised away).
    let mut p = vec![0.0f32; tok.config().bin_tokens()];
    p[0] = 0.6;
    p[1] = 0.3;
    p[top] = 0.1;
    if let Some(beyond) = p.get_mut(n) {
        *beyond = 5.0;
    }
    let tokens = [tok.id(code).expect("potassium token"), tok.bin_token(0)];
    let probabilities = vec![p];
    let readings = 20_000u64;
    let mut counts = vec![0u64; n];
    for seed in 0..readings {
        let v = tok.decode_resampled(&tokens, 0, seed, &probabilities).events[0].numeric_value.expect("a value");
        counts[bins.bin(v)] += 1;
    }
    let share = |b: usize| counts[b] as f64 / readings as f64;
    assert!((share(0) - 0.6).abs() < 0.02 && (share(1) - 0.3).abs() < 0.02, "{counts:?}");
    assert!((share(top) - 0.1).abs() < 0.01, "the top bin in its share: {counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), readings);
    // No probabilities for the token: its own bin, exactly as the sampled decoding.
    assert_eq!(tok.decode_resampled(&tokens, 0, 3, &[]), tok.decode_sampled(&tokens, 0, 3));
}

#[test]
fn clinical_cut_points_are_edges_of_their_own_and_survive_the_round_trip() {
    let (codes, train, other) = population(600);
    let config = TokenizerConfig { cut_points: tokenizer::cut_points::clinical(), ..Default::default() };
    let tok = Tokenizer::fit(&train, &codes, config.clone()).expect("fit");
    let plain = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    let egfr = tok.bins(vocab::lab::EGFR.0).expect("eGFR has bins");
    let plain_egfr = plain.bins(vocab::lab::EGFR.0).expect("eGFR has bins");
    // Stage 3 CKD's threshold is an edge: 59.9 and 60 fall in different bins; with deciles alone
    // they share one (60 is no decile edge of this population).
    assert!(egfr.edges.contains(&60.0), "{:?}", egfr.edges);
    assert_ne!(egfr.bin(59.9), egfr.bin(60.0));
    assert!(!plain_egfr.edges.contains(&60.0), "{:?}", plain_egfr.edges);
    assert_eq!(plain_egfr.bin(59.9), plain_egfr.bin(60.0));
    // Every decile edge is kept; the cuts are added, not swapped in.
    assert!(plain_egfr.edges.iter().all(|e| egfr.edges.contains(e)));
    let potassium = tok.bins(vocab::lab::POTASSIUM.0).expect("potassium has bins");
    assert!(potassium.edges.contains(&5.5), "{:?}", potassium.edges);
    // Enough bin tokens for the code with the most cuts on top of its deciles.
    let bin_tokens = (0..tok.len() as u32).filter(|&t| tok.bin_of(t).is_some()).count();
    assert_eq!(bin_tokens, config.bin_tokens());
    let widest = codes.names().filter_map(|c| tok.bins(c)).map(|b| b.edges.len() + 1).max().unwrap_or(0);
    assert!(widest > 10 && widest <= bin_tokens, "{widest} bins against {bin_tokens} tokens");

    // Every value's bin survives tokens → events → tokens with the extra bins too.
    let mut enc = tok.encoder(&codes);
    let encoded: Vec<Encoded> = train.iter().chain(&other).map(|t| enc.encode(t)).collect();
    let mut decoded_codes = CodeTable::new();
    let rebuilt: Vec<Timeline> =
        encoded.iter().map(|e| timeline_of(e.subject_id, e, &tok, &mut decoded_codes)).collect();
    let mut again = tok.encoder(&decoded_codes);
    for (e, t) in encoded.iter().zip(&rebuilt) {
        assert_eq!(again.encode(t).tokens, e.tokens, "subject {}", e.subject_id);
    }

    // The file carries the cut points; a file without them reads as quantiles only.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).expect("save");
    assert_eq!(Tokenizer::load(&path).expect("load"), tok);
    plain.save(&path).expect("save");
    assert!(!std::fs::read_to_string(&path).expect("read").contains("cut_points"));
    // A cut that is not a number is refused with the code named.
    let bad = TokenizerConfig {
        cut_points: [(vocab::lab::POTASSIUM.0.to_owned(), vec![5.5, f32::NAN])].into(),
        ..Default::default()
    };
    let err = Tokenizer::fit(&train, &codes, bad).expect_err("NaN cut");
    assert!(err.to_string().contains("LOINC/2823-3"), "{err}");
}

/// The value channel: beside each value-bin token, where in its bin the value fell — its mid-rank
/// among the bin's train values, centred to [−½, ½] — so two eGFRs in one decile still differ;
/// every other token carries 0.
#[test]
fn each_value_bin_token_says_where_in_its_bin_the_value_fell() {
    let (mut codes, train, _) = population(1_500);
    let tok = Tokenizer::fit(&train, &codes, TokenizerConfig::default()).expect("fit");
    let code = vocab::lab::EGFR.0;
    let bins = tok.bins(code).expect("eGFR has value bins");
    // Values spread across one middle bin, in increasing order, and one at each extreme.
    let b = bins.edges.len() / 2;
    let (low, high) = (bins.edges[b - 1], bins.edges[b]);
    let inside: Vec<f32> = (0..5).map(|i| low + (high - low) * (i as f32 + 0.5) / 5.0).collect();
    let k = codes.intern(code);
    let mut t = Timeline::new(1);
    for (i, &v) in inside.iter().chain(&[-1e6, 1e6]).enumerate() {
        t.push(Some(1_000_000 * 86_400 * i as i64), k, Some(v), None);
    }
    let e = tok.encoder(&codes).encode(&t);
    assert_eq!(e.values.len(), e.tokens.len(), "one position per token");
    let positions: Vec<(usize, f32)> =
        e.tokens.iter().zip(&e.values).filter_map(|(&x, &v)| tok.bin_of(x).map(|bin| (bin, v))).collect();
    assert_eq!(positions.len(), 7);
    for (&x, &v) in e.tokens.iter().zip(&e.values) {
        assert!(tok.bin_of(x).is_some() || v == 0.0, "only value bins carry a position");
        assert!((-0.5..=0.5).contains(&v), "{v}");
    }
    let middle: Vec<f32> = positions[..5]
        .iter()
        .map(|&(bin, v)| {
            assert_eq!(bin, b, "the five values share one bin");
            v
        })
        .collect();
    assert!(middle.windows(2).all(|w| w[0] <= w[1]), "higher values sit higher: {middle:?}");
    assert!(middle[4] - middle[0] > 0.3, "and the bin's width is used: {middle:?}");
    assert_eq!(positions[5].1, -0.5, "below every train value: the bin's bottom");
    assert_eq!(positions[6].1, 0.5, "above every train value: the top");
}
