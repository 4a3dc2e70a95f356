//! What the fused operations' tests share: comparing a fused operation's value and gradients,
//! and its inference path, with burn's composed version.

/// Asserts that each of `fused` (value, then gradients, named by `names`) and `inference` (the
/// inference backend's value) matches `composed` (the same, from burn's operations; `inference`
/// is compared with its first entry) within `tolerance`, relative to each value's size when it
/// exceeds 1.
pub(crate) fn assert_matches_composed(
    names: &[&str],
    fused: &[Vec<f32>],
    composed: &[Vec<f32>],
    inference: &[f32],
    tolerance: f32,
) {
    assert_eq!(names.len(), fused.len(), "one name per output");
    let pairs = names.iter().zip(fused.iter().map(Vec::as_slice).zip(composed.iter().map(Vec::as_slice)));
    for (name, (a, c)) in pairs.chain([(&"inference", (inference, composed[0].as_slice()))]) {
        assert_eq!(a.len(), c.len(), "{name}");
        let worst = a.iter().zip(c).map(|(x, y)| (x - y).abs() / y.abs().max(1.0)).fold(0.0f32, f32::max);
        assert!(worst < tolerance, "{name}: max relative difference {worst}");
    }
}
