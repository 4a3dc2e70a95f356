//! The parts of FHIR R4 resources that a timeline needs, as one permissive serde struct: every
//! field is optional and unknown fields are ignored, so one parse serves every resource type and
//! what a resource lacks is decided by the converter, with a reason.

use serde::Deserialize;

/// A coding.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Coding {
    /// The code system URL.
    pub system: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// Its display text.
    pub display: Option<String>,
}

/// A CodeableConcept.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CodeableConcept {
    /// Codings, in preference order.
    #[serde(default)]
    pub coding: Vec<Coding>,
    /// Free text.
    pub text: Option<String>,
}

/// A Quantity.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Quantity {
    /// The value.
    pub value: Option<f64>,
    /// The unit as written.
    pub unit: Option<String>,
    /// The UCUM code.
    pub code: Option<String>,
}

/// A Reference.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reference {
    /// `Patient/123`, `urn:uuid:…`, or an absolute URL.
    pub reference: Option<String>,
}

/// A Period.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Period {
    /// Start.
    pub start: Option<String>,
    /// End.
    pub end: Option<String>,
}

/// An extension (nested extensions included, for US Core race and ethnicity).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// The extension URL.
    pub url: Option<String>,
    /// Nested extensions.
    #[serde(default)]
    pub extension: Vec<Extension>,
    /// A coding value.
    pub value_coding: Option<Coding>,
}

/// An observation component.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// What the component measures.
    pub code: Option<CodeableConcept>,
    /// A numeric value.
    pub value_quantity: Option<Quantity>,
    /// A coded value.
    pub value_codeable_concept: Option<CodeableConcept>,
}

/// An attachment (notes, reports).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// MIME type.
    pub content_type: Option<String>,
    /// Base64 data.
    pub data: Option<String>,
}

/// A DocumentReference content entry.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Content {
    /// The attachment.
    pub attachment: Option<Attachment>,
}

/// A Bundle entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// `urn:uuid:…` or a URL.
    pub full_url: Option<String>,
    /// The resource, parsed entry by entry so one odd entry cannot sink the whole bundle.
    pub resource: Option<serde_json::Value>,
}

/// Encounter class: a Coding in R4 (a list of CodeableConcepts in R5; both are accepted).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EncounterClass {
    /// R4.
    Coding(Coding),
    /// R5.
    Concepts(Vec<CodeableConcept>),
}

/// A HumanName.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HumanName {
    /// Family name.
    pub family: Option<String>,
    /// Given names.
    #[serde(default)]
    pub given: Vec<String>,
    /// The whole name as text.
    pub text: Option<String>,
}

/// A ContactPoint (phone, email) or an Identifier: only the value matters here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Valued {
    /// The value.
    pub value: Option<String>,
    /// The system the value belongs to (identifiers).
    pub system: Option<String>,
}

/// An Address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// Street lines.
    #[serde(default)]
    pub line: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// ZIP or postal code.
    pub postal_code: Option<String>,
}

/// Every field a timeline may need from any supported resource type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// The resource type.
    pub resource_type: Option<String>,
    /// The logical id.
    pub id: Option<String>,
    /// Bundle type.
    #[serde(rename = "type")]
    pub type_: Option<serde_json::Value>,
    /// Bundle entries.
    #[serde(default)]
    pub entry: Vec<Entry>,
    /// Subject (most clinical resources).
    pub subject: Option<Reference>,
    /// Patient (Immunization, AllergyIntolerance).
    pub patient: Option<Reference>,
    /// The main code.
    pub code: Option<CodeableConcept>,
    /// Immunization vaccine.
    pub vaccine_code: Option<CodeableConcept>,
    /// MedicationRequest/MedicationStatement medication.
    pub medication_codeable_concept: Option<CodeableConcept>,
    /// A medication given by reference.
    pub medication_reference: Option<Reference>,
    /// Contained resources (for example the Medication a `#id` reference points at).
    #[serde(default)]
    pub contained: Vec<serde_json::Value>,
    /// Encounter class.
    pub class: Option<EncounterClass>,
    /// Encounter/DiagnosticReport period.
    pub period: Option<Period>,
    /// Observation value.
    pub value_quantity: Option<Quantity>,
    /// Observation coded value.
    pub value_codeable_concept: Option<CodeableConcept>,
    /// Observation string value.
    pub value_string: Option<String>,
    /// Observation components.
    #[serde(default)]
    pub component: Vec<Component>,
    /// Times, by resource type.
    pub effective_date_time: Option<String>,
    /// Observation effective period.
    pub effective_period: Option<Period>,
    /// Observation issued.
    pub issued: Option<String>,
    /// Condition onset.
    pub onset_date_time: Option<String>,
    /// Condition onset period.
    pub onset_period: Option<Period>,
    /// Condition/AllergyIntolerance recorded date.
    pub recorded_date: Option<String>,
    /// MedicationRequest authored date.
    pub authored_on: Option<String>,
    /// Procedure performed time.
    pub performed_date_time: Option<String>,
    /// Procedure performed period.
    pub performed_period: Option<Period>,
    /// Immunization occurrence.
    pub occurrence_date_time: Option<String>,
    /// DocumentReference date.
    pub date: Option<String>,
    /// DocumentReference content.
    #[serde(default)]
    pub content: Vec<Content>,
    /// DiagnosticReport presented form.
    #[serde(default)]
    pub presented_form: Vec<Attachment>,
    /// Patient gender.
    pub gender: Option<String>,
    /// Patient birth date.
    pub birth_date: Option<String>,
    /// Patient death time.
    pub deceased_date_time: Option<String>,
    /// Patient extensions (race, ethnicity).
    #[serde(default)]
    pub extension: Vec<Extension>,
    /// Status (entered-in-error resources are skipped).
    pub status: Option<String>,
    /// Names (identifiers: used only to scrub free text, never kept). Kept as raw JSON because
    /// the field's shape differs between resource types (a string on Organization).
    pub name: Option<serde_json::Value>,
    /// Phones and emails (identifiers, as above).
    pub telecom: Option<serde_json::Value>,
    /// Addresses (identifiers, as above).
    pub address: Option<serde_json::Value>,
    /// Business identifiers such as the MRN and SSN (identifiers, as above).
    pub identifier: Option<serde_json::Value>,
}

/// The resource types FHIR R4 (4.0.1) defines. Only these names reach a report: any other
/// `resourceType` value is input text (it could hold anything) and is counted under
/// [`UNKNOWN_TYPE`].
#[rustfmt::skip]
pub const R4_RESOURCE_TYPES: &[&str] = &[
    "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
    "AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
    "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
    "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
    "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition",
    "ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric",
    "DeviceRequest", "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
    "DocumentReference", "EffectEvidenceSynthesis", "Encounter", "Endpoint", "EnrollmentRequest",
    "EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable",
    "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
    "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy",
    "Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
    "InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
    "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
    "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
    "MedicinalProductAuthorization", "MedicinalProductContraindication",
    "MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
    "MedicinalProductManufactured", "MedicinalProductPackaged", "MedicinalProductPharmaceutical",
    "MedicinalProductUndesirableEffect", "MessageDefinition", "MessageHeader",
    "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation", "ObservationDefinition",
    "OperationDefinition", "OperationOutcome", "Organization", "OrganizationAffiliation",
    "Parameters", "Patient", "PaymentNotice", "PaymentReconciliation", "Person", "PlanDefinition",
    "Practitioner", "PractitionerRole", "Procedure", "Provenance", "Questionnaire",
    "QuestionnaireResponse", "RelatedPerson", "RequestGroup", "ResearchDefinition",
    "ResearchElementDefinition", "ResearchStudy", "ResearchSubject", "RiskAssessment",
    "RiskEvidenceSynthesis", "Schedule", "SearchParameter", "ServiceRequest", "Slot", "Specimen",
    "SpecimenDefinition", "StructureDefinition", "StructureMap", "Subscription", "Substance",
    "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
    "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification",
    "SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
    "TestScript", "ValueSet", "VerificationResult", "VisionPrescription",
];

/// The label under which resources of a type FHIR R4 does not define are counted.
pub const UNKNOWN_TYPE: &str = "(resourceType not in FHIR R4)";

/// The name a resource type is reported under: itself if R4 defines it, [`UNKNOWN_TYPE`] if not.
pub fn type_label(resource_type: &str) -> &str {
    if R4_RESOURCE_TYPES.binary_search(&resource_type).is_ok() { resource_type } else { UNKNOWN_TYPE }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_r4_type_names_are_reported() {
        assert!(R4_RESOURCE_TYPES.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
        assert_eq!(type_label("Observation"), "Observation");
        assert_eq!(type_label("John Smith 1970-01-01"), UNKNOWN_TYPE);
        assert_eq!(type_label("observation"), UNKNOWN_TYPE);
    }
}
