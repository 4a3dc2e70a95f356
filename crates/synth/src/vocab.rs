//! The codes the simulator emits, with their vocabularies' own display names.
//!
//! Codes carry their vocabulary as a prefix (`ICD10CM/E11.9`, `LOINC/4548-4`, `RXNORM/6809`,
//! `CPT4/99213`); demographics use the US Core / CDC race and ethnicity codes and FHIR
//! administrative gender, so that the FHIR writer and the ingest path agree on them.

/// A code and its display name.
pub type Code = (&'static str, &'static str);

/// Demographic (static) codes.
pub mod demographics {
    use super::Code;
    /// Female (FHIR administrative gender).
    pub const FEMALE: Code = ("GENDER/F", "Female");
    /// Male (FHIR administrative gender).
    pub const MALE: Code = ("GENDER/M", "Male");
    /// CDC race categories (OMB), as US Core uses them.
    pub const RACES: [Code; 5] = [
        ("RACE/2106-3", "White"),
        ("RACE/2054-5", "Black or African American"),
        ("RACE/2028-9", "Asian"),
        ("RACE/1002-5", "American Indian or Alaska Native"),
        ("RACE/2131-1", "Other Race"),
    ];
    /// Hispanic or Latino.
    pub const HISPANIC: Code = ("ETHNICITY/2135-2", "Hispanic or Latino");
    /// Not Hispanic or Latino.
    pub const NOT_HISPANIC: Code = ("ETHNICITY/2186-5", "Not Hispanic or Latino");
}

/// ICD-10-CM diagnoses.
pub mod dx {
    use super::Code;
    /// Prediabetes.
    pub const PREDIABETES: Code = ("ICD10CM/R73.03", "Prediabetes");
    /// Type 2 diabetes without complications.
    pub const T2D: Code = ("ICD10CM/E11.9", "Type 2 diabetes mellitus without complications");
    /// Type 2 diabetes with hyperglycemia (one site's coding habit).
    pub const T2D_HYPERGLYCEMIA: Code = ("ICD10CM/E11.65", "Type 2 diabetes mellitus with hyperglycemia");
    /// Essential hypertension.
    pub const HYPERTENSION: Code = ("ICD10CM/I10", "Essential (primary) hypertension");
    /// CKD stage 3, unspecified.
    pub const CKD3: Code = ("ICD10CM/N18.30", "Chronic kidney disease, stage 3 unspecified");
    /// CKD stage 4.
    pub const CKD4: Code = ("ICD10CM/N18.4", "Chronic kidney disease, stage 4 (severe)");
    /// CKD stage 5.
    pub const CKD5: Code = ("ICD10CM/N18.5", "Chronic kidney disease, stage 5");
    /// Heart failure.
    pub const HEART_FAILURE: Code = ("ICD10CM/I50.9", "Heart failure, unspecified");
    /// Atrial fibrillation.
    pub const AFIB: Code = ("ICD10CM/I48.91", "Unspecified atrial fibrillation");
    /// Ischemic stroke.
    pub const STROKE: Code = ("ICD10CM/I63.9", "Cerebral infarction, unspecified");
    /// Hyperlipidemia.
    pub const HYPERLIPIDEMIA: Code = ("ICD10CM/E78.5", "Hyperlipidemia, unspecified");
    /// Coronary artery disease.
    pub const CAD: Code =
        ("ICD10CM/I25.10", "Atherosclerotic heart disease of native coronary artery without angina pectoris");
    /// Acute myocardial infarction.
    pub const MI: Code = ("ICD10CM/I21.9", "Acute myocardial infarction, unspecified");
    /// COPD.
    pub const COPD: Code = ("ICD10CM/J44.9", "Chronic obstructive pulmonary disease, unspecified");
    /// COPD exacerbation.
    pub const COPD_EXACERBATION: Code =
        ("ICD10CM/J44.1", "Chronic obstructive pulmonary disease with (acute) exacerbation");
    /// Colorectal cancer.
    pub const COLON_CANCER: Code = ("ICD10CM/C18.9", "Malignant neoplasm of colon, unspecified");
    /// Sepsis.
    pub const SEPSIS: Code = ("ICD10CM/A41.9", "Sepsis, unspecified organism");
    /// Pneumonia.
    pub const PNEUMONIA: Code = ("ICD10CM/J18.9", "Pneumonia, unspecified organism");
    /// Urinary tract infection.
    pub const UTI: Code = ("ICD10CM/N39.0", "Urinary tract infection, site not specified");
    /// Gastrointestinal bleeding.
    pub const GI_BLEED: Code = ("ICD10CM/K92.2", "Gastrointestinal hemorrhage, unspecified");
    /// Obesity.
    pub const OBESITY: Code = ("ICD10CM/E66.9", "Obesity, unspecified");
    /// Nicotine dependence, cigarettes.
    pub const NICOTINE: Code = ("ICD10CM/F17.210", "Nicotine dependence, cigarettes, uncomplicated");
    /// Family history of diabetes.
    pub const FH_DIABETES: Code = ("ICD10CM/Z83.3", "Family history of diabetes mellitus");
    /// Routine adult examination.
    pub const ADULT_EXAM: Code =
        ("ICD10CM/Z00.00", "Encounter for general adult medical examination without abnormal findings");
    /// Anemia, unspecified (a rule-out and a finding).
    pub const ANEMIA: Code = ("ICD10CM/D64.9", "Anemia, unspecified");
}

/// LOINC observations (labs and vitals).
pub mod lab {
    use super::Code;
    /// HbA1c (%).
    pub const HBA1C: Code = ("LOINC/4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood");
    /// Glucose, mass concentration (mg/dL).
    pub const GLUCOSE_MG: Code = ("LOINC/2345-7", "Glucose [Mass/volume] in Serum or Plasma");
    /// Glucose, molar concentration (mmol/L).
    pub const GLUCOSE_MMOL: Code = ("LOINC/14749-6", "Glucose [Moles/volume] in Serum or Plasma");
    /// Creatinine, mass concentration (mg/dL).
    pub const CREATININE: Code = ("LOINC/2160-0", "Creatinine [Mass/volume] in Serum or Plasma");
    /// eGFR, CKD-EPI (mL/min/1.73m2).
    pub const EGFR: Code = (
        "LOINC/62238-1",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI)",
    );
    /// Urine albumin/creatinine ratio (mg/g).
    pub const UACR: Code = ("LOINC/14959-1", "Microalbumin/Creatinine [Mass Ratio] in Urine");
    /// Potassium (mmol/L).
    pub const POTASSIUM: Code = ("LOINC/2823-3", "Potassium [Moles/volume] in Serum or Plasma");
    /// Sodium (mmol/L).
    pub const SODIUM: Code = ("LOINC/2951-2", "Sodium [Moles/volume] in Serum or Plasma");
    /// Hemoglobin (g/dL).
    pub const HEMOGLOBIN: Code = ("LOINC/718-7", "Hemoglobin [Mass/volume] in Blood");
    /// Platelets (10^3/uL).
    pub const PLATELETS: Code = ("LOINC/777-3", "Platelets [#/volume] in Blood by Automated count");
    /// Total cholesterol (mg/dL).
    pub const CHOLESTEROL: Code = ("LOINC/2093-3", "Cholesterol [Mass/volume] in Serum or Plasma");
    /// LDL cholesterol (mg/dL).
    pub const LDL: Code = ("LOINC/13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation");
    /// HDL cholesterol (mg/dL).
    pub const HDL: Code = ("LOINC/2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma");
    /// NT-proBNP (pg/mL).
    pub const NT_PROBNP: Code =
        ("LOINC/33762-6", "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma");
    /// Systolic blood pressure (mmHg).
    pub const SBP: Code = ("LOINC/8480-6", "Systolic blood pressure");
    /// Diastolic blood pressure (mmHg).
    pub const DBP: Code = ("LOINC/8462-4", "Diastolic blood pressure");
    /// Heart rate (/min).
    pub const HEART_RATE: Code = ("LOINC/8867-4", "Heart rate");
    /// Body weight (kg).
    pub const WEIGHT: Code = ("LOINC/29463-7", "Body weight");
    /// Body mass index (kg/m2).
    pub const BMI: Code = ("LOINC/39156-5", "Body mass index (BMI) [Ratio]");
}

/// RxNorm ingredients.
pub mod rx {
    use super::Code;
    /// Metformin.
    pub const METFORMIN: Code = ("RXNORM/6809", "metformin");
    /// Empagliflozin (SGLT2 inhibitor).
    pub const EMPAGLIFLOZIN: Code = ("RXNORM/1545653", "empagliflozin");
    /// Semaglutide (GLP-1 receptor agonist).
    pub const SEMAGLUTIDE: Code = ("RXNORM/1991302", "semaglutide");
    /// Insulin glargine.
    pub const INSULIN_GLARGINE: Code = ("RXNORM/274783", "insulin glargine");
    /// Lisinopril (ACE inhibitor).
    pub const LISINOPRIL: Code = ("RXNORM/29046", "lisinopril");
    /// Losartan (ARB).
    pub const LOSARTAN: Code = ("RXNORM/52175", "losartan");
    /// Amlodipine.
    pub const AMLODIPINE: Code = ("RXNORM/17767", "amlodipine");
    /// Hydrochlorothiazide.
    pub const HCTZ: Code = ("RXNORM/5487", "hydrochlorothiazide");
    /// Atorvastatin.
    pub const ATORVASTATIN: Code = ("RXNORM/83367", "atorvastatin");
    /// Apixaban.
    pub const APIXABAN: Code = ("RXNORM/1364430", "apixaban");
    /// Warfarin.
    pub const WARFARIN: Code = ("RXNORM/11289", "warfarin");
    /// Metoprolol.
    pub const METOPROLOL: Code = ("RXNORM/6918", "metoprolol");
    /// Furosemide.
    pub const FUROSEMIDE: Code = ("RXNORM/4603", "furosemide");
    /// Tiotropium.
    pub const TIOTROPIUM: Code = ("RXNORM/69120", "tiotropium");
}

/// CPT procedures and visits.
pub mod cpt {
    use super::Code;
    /// Established-patient office visit.
    pub const OFFICE_VISIT: Code = (
        "CPT4/99213",
        "Office or other outpatient visit for the evaluation and management of an established patient, low level",
    );
    /// Preventive visit, 40-64 years.
    pub const PREVENTIVE_40_64: Code =
        ("CPT4/99396", "Periodic comprehensive preventive medicine reevaluation, established patient; 40-64 years");
    /// Preventive visit, 65+.
    pub const PREVENTIVE_65: Code = (
        "CPT4/99397",
        "Periodic comprehensive preventive medicine reevaluation, established patient; 65 years and older",
    );
    /// Emergency department visit, high severity.
    pub const ED_VISIT: Code = ("CPT4/99285", "Emergency department visit, high medical decision making");
    /// Initial hospital inpatient care.
    pub const ADMISSION: Code = ("CPT4/99223", "Initial hospital inpatient or observation care, high level");
    /// Hospital discharge day management.
    pub const DISCHARGE: Code = ("CPT4/99238", "Hospital inpatient or observation discharge day management");
    /// Electrocardiogram.
    pub const ECG: Code =
        ("CPT4/93000", "Electrocardiogram, routine ECG with at least 12 leads; with interpretation and report");
    /// Colonoscopy.
    pub const COLONOSCOPY: Code = ("CPT4/45378", "Colonoscopy, flexible; diagnostic");
    /// Coronary stent.
    pub const CORONARY_STENT: Code =
        ("CPT4/92928", "Percutaneous transcatheter placement of intracoronary stent(s), single major coronary artery");
    /// Hemodialysis.
    pub const HEMODIALYSIS: Code = ("CPT4/90935", "Hemodialysis procedure with single evaluation");
}

/// Clinical notes (LOINC document types); the note text is the event's `text_value`.
pub mod note {
    use super::Code;
    /// Progress note.
    pub const PROGRESS: Code = ("LOINC/11506-3", "Progress note");
    /// Discharge summary.
    pub const DISCHARGE: Code = ("LOINC/18842-5", "Discharge summary");
}

/// Encounter codes (FHIR v3 ActCode encounter classes): start and end events.
pub mod encounter {
    use super::Code;
    /// Ambulatory encounter.
    pub const AMBULATORY: Code = ("ENCOUNTER/AMB", "Ambulatory encounter");
    /// Emergency encounter.
    pub const EMERGENCY: Code = ("ENCOUNTER/EMER", "Emergency encounter");
    /// Inpatient encounter (admission).
    pub const INPATIENT: Code = ("ENCOUNTER/IMP", "Inpatient encounter");
    /// End of an inpatient encounter (discharge).
    pub const INPATIENT_END: Code = ("ENCOUNTER_END/IMP", "Inpatient encounter end (discharge)");
}

/// Every code the simulator can emit, in a fixed order (the order of ids in the code table).
pub fn all() -> Vec<Code> {
    use {cpt::*, demographics::*, dx::*, encounter::*, lab::*, rx::*};
    let mut v = vec![("MEDS_BIRTH", "Birth"), ("MEDS_DEATH", "Death"), FEMALE, MALE, HISPANIC, NOT_HISPANIC];
    v.extend(RACES);
    v.extend([
        PREDIABETES,
        T2D,
        T2D_HYPERGLYCEMIA,
        HYPERTENSION,
        CKD3,
        CKD4,
        CKD5,
        HEART_FAILURE,
        AFIB,
        STROKE,
        HYPERLIPIDEMIA,
        CAD,
        MI,
        COPD,
        COPD_EXACERBATION,
        COLON_CANCER,
        SEPSIS,
        PNEUMONIA,
        UTI,
        GI_BLEED,
        OBESITY,
        NICOTINE,
        FH_DIABETES,
        ADULT_EXAM,
        ANEMIA,
    ]);
    v.extend([
        HBA1C,
        GLUCOSE_MG,
        GLUCOSE_MMOL,
        CREATININE,
        EGFR,
        UACR,
        POTASSIUM,
        SODIUM,
        HEMOGLOBIN,
        PLATELETS,
        CHOLESTEROL,
        LDL,
        HDL,
        NT_PROBNP,
        SBP,
        DBP,
        HEART_RATE,
        WEIGHT,
        BMI,
    ]);
    v.extend([
        METFORMIN,
        EMPAGLIFLOZIN,
        SEMAGLUTIDE,
        INSULIN_GLARGINE,
        LISINOPRIL,
        LOSARTAN,
        AMLODIPINE,
        HCTZ,
        ATORVASTATIN,
        APIXABAN,
        WARFARIN,
        METOPROLOL,
        FUROSEMIDE,
        TIOTROPIUM,
    ]);
    v.extend([
        OFFICE_VISIT,
        PREVENTIVE_40_64,
        PREVENTIVE_65,
        ED_VISIT,
        ADMISSION,
        DISCHARGE,
        ECG,
        COLONOSCOPY,
        CORONARY_STENT,
        HEMODIALYSIS,
    ]);
    v.extend([AMBULATORY, EMERGENCY, INPATIENT, INPATIENT_END]);
    v.extend([note::PROGRESS, note::DISCHARGE]);
    v
}

/// The code table of everything in [`all`], with display names as descriptions and ICD-10-CM
/// parents (`ICD10CM/E11.9` → `ICD10CM/E11`).
pub fn code_table() -> meds::CodeTable {
    let mut table = meds::CodeTable::new();
    for (code, display) in all() {
        let parent_codes = match code.strip_prefix("ICD10CM/") {
            Some(rest) if rest.contains('.') => {
                vec![format!("ICD10CM/{}", rest.split('.').next().unwrap_or(rest))]
            }
            _ => Vec::new(),
        };
        table.set_info(code, meds::CodeInfo { description: Some(display.to_owned()), parent_codes });
    }
    table
}
