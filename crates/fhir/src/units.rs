//! One canonical unit per code: values recorded in another unit are converted, so a model sees one
//! scale per lab whatever the site reported.

/// Converts `value` in `unit` to the canonical unit of the LOINC `code`. Returns `None` when the
/// unit is not convertible (the caller keeps the event and reports the unit).
pub fn canonical(code: &str, value: f64, unit: Option<&str>) -> Option<f64> {
    let unit = unit.map(str::trim).unwrap_or_default();
    let norm = unit.replace(' ', "").to_ascii_lowercase();
    match code {
        // Glucose, mass concentration: canonical mg/dL.
        "LOINC/2345-7" | "LOINC/2339-0" => match norm.as_str() {
            "mg/dl" | "" => Some(value),
            "mmol/l" => Some(value * 18.016),
            _ => None,
        },
        // Glucose, molar concentration: canonical mmol/L.
        "LOINC/14749-6" | "LOINC/15074-8" => match norm.as_str() {
            "mmol/l" | "" => Some(value),
            "mg/dl" => Some(value / 18.016),
            _ => None,
        },
        // Creatinine, mass concentration: canonical mg/dL.
        "LOINC/2160-0" | "LOINC/38483-4" => match norm.as_str() {
            "mg/dl" | "" => Some(value),
            "umol/l" | "µmol/l" | "μmol/l" => Some(value / 88.42),
            _ => None,
        },
        // Hemoglobin: canonical g/dL.
        "LOINC/718-7" => match norm.as_str() {
            "g/dl" | "" => Some(value),
            "g/l" => Some(value / 10.0),
            "mmol/l" => Some(value * 1.611),
            _ => None,
        },
        // Body weight: canonical kg.
        "LOINC/29463-7" => match norm.as_str() {
            "kg" | "" => Some(value),
            "[lb_av]" | "lb" | "lbs" => Some(value * 0.453_592_37),
            "g" => Some(value / 1000.0),
            _ => None,
        },
        // Body temperature: canonical Cel.
        "LOINC/8310-5" => match norm.as_str() {
            "cel" | "c" | "°c" | "" => Some(value),
            "[degf]" | "f" | "°f" => Some((value - 32.0) * 5.0 / 9.0),
            _ => None,
        },
        _ => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_lab_conversions() {
        assert!((canonical("LOINC/2345-7", 5.5, Some("mmol/L")).unwrap_or_default() - 99.088).abs() < 1e-3);
        assert!((canonical("LOINC/14749-6", 99.088, Some("mg/dL")).unwrap_or_default() - 5.5).abs() < 1e-3);
        assert!((canonical("LOINC/2160-0", 88.42, Some("umol/L")).unwrap_or_default() - 1.0).abs() < 1e-9);
        assert_eq!(canonical("LOINC/2160-0", 1.1, Some("furlongs")), None);
        assert_eq!(canonical("LOINC/4548-4", 6.1, Some("%")), Some(6.1));
    }
}
