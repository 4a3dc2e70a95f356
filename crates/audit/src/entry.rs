//! What one audit record says, and its FHIR form.
//!
//! A record holds no PHI: the tenant, client and user are the pseudonymous identifiers the
//! server authenticated, the input is a SHA-256 of its canonical form, and the output a short
//! summary (a risk band, a count) — never a patient's identifiers or values. Its canonical bytes,
//! the ones hashed into the log, are its JSON with the fields in declaration order.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A model scored a patient (a CDS Hooks call, a REST prediction, a batch row).
    Prediction,
    /// A model version was registered, validated or retired, or changed state.
    RegistryChange,
    /// A named person approved (or suspended) a model version.
    Approval,
    /// A model version was deployed to, or withdrawn from, a site.
    Deployment,
    /// A caller failed to authenticate or was refused access.
    AuthenticationFailure,
    /// A clinician's response to a decision-support card (accepted, overridden).
    Feedback,
    /// A researcher's embedding of a record, or sampled futures (never a risk).
    Research,
    /// A synthetic record written by `longitude bench audit`.
    Benchmark,
}

impl Action {
    /// The snake-case name, as serialised.
    pub fn name(self) -> &'static str {
        match self {
            Action::Prediction => "prediction",
            Action::RegistryChange => "registry_change",
            Action::Approval => "approval",
            Action::Deployment => "deployment",
            Action::AuthenticationFailure => "authentication_failure",
            Action::Feedback => "feedback",
            Action::Research => "research",
            Action::Benchmark => "benchmark",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done as asked.
    Success,
    /// Refused: bad input, not allowed, not deployed.
    Refused,
    /// Failed inside the server.
    Failed,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// When, RFC 3339 in UTC.
    pub time: String,
    /// The site or organisation the call was made for.
    pub tenant: String,
    /// The authenticated client (an EHR, a partner's service), by its registered id.
    pub client: String,
    /// The pseudonymous user, where the client named one.
    pub user: Option<String>,
    /// What was done.
    pub action: Action,
    /// The model version involved.
    pub model_version: Option<String>,
    /// The clinical task.
    pub task: Option<String>,
    /// SHA-256 (hex) of the canonical input.
    pub input_sha256: Option<String>,
    /// A short summary of the output, without PHI.
    pub output: Option<String>,
    /// Time taken, microseconds.
    pub latency_us: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Entry {
    /// A record of `action` by `client` for `tenant`, now, successful, with nothing else set.
    pub fn new(tenant: impl Into<String>, client: impl Into<String>, action: Action) -> Entry {
        Entry {
            time: now(),
            tenant: tenant.into(),
            client: client.into(),
            user: None,
            action,
            model_version: None,
            task: None,
            input_sha256: None,
            output: None,
            latency_us: None,
            outcome: Outcome::Success,
        }
    }

    /// The canonical bytes the log hashes: JSON, fields in declaration order.
    pub fn canonical(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// The record as a FHIR R4 `AuditEvent`, in the manner of IHE's Basic Audit Log Patterns:
    /// the client (and user) as agents, the operator's log as the source, the model version and
    /// task as the entity, and the record's place in the log (`index`, `leaf`) as details, so an
    /// exported event can be traced back to the tamper-evident record.
    pub fn audit_event(&self, origin: &str, index: u64, leaf: &str) -> Value {
        let (type_coding, action) = match self.action {
            Action::Prediction | Action::Benchmark | Action::Research => {
                (coding(EVENT_TYPE, "rest", "RESTful Operation"), "E")
            }
            Action::Feedback => (coding(EVENT_TYPE, "rest", "RESTful Operation"), "C"),
            Action::AuthenticationFailure => (coding(DICOM, "110114", "User Authentication"), "E"),
            Action::RegistryChange | Action::Approval | Action::Deployment => {
                (coding(DICOM, "110100", "Application Activity"), "U")
            }
        };
        let outcome = match self.outcome {
            Outcome::Success => "0",
            Outcome::Refused => "4",
            Outcome::Failed => "8",
        };
        let mut agents = vec![json!({
            "type": {"coding": [coding(PARTICIPATION, "IRCP", "information recipient")]},
            "who": {"identifier": {"system": "urn:longitude:client", "value": self.client}},
            "requestor": true,
        })];
        if let Some(user) = &self.user {
            agents.push(json!({
                "type": {"coding": [coding(PARTICIPATION, "AUT", "author (originator)")]},
                "who": {"identifier": {"system": "urn:longitude:user", "value": user}},
                "requestor": false,
            }));
        }
        let mut details = vec![detail("log-index", &index.to_string()), detail("leaf-sha256", leaf)];
        for (name, value) in [("task", &self.task), ("input-sha256", &self.input_sha256), ("output", &self.output)] {
            if let Some(value) = value {
                details.push(detail(name, value));
            }
        }
        if let Some(us) = self.latency_us {
            details.push(detail("latency-us", &us.to_string()));
        }
        let mut entity = json!({
            "type": coding(ENTITY_TYPE, "2", "System Object"),
            "detail": details,
        });
        if let Some(version) = &self.model_version {
            entity["what"] = json!({"identifier": {"system": "urn:longitude:model-version", "value": version}});
        }
        json!({
            "resourceType": "AuditEvent",
            "id": format!("longitude-audit-{index}"),
            "type": type_coding,
            "subtype": [coding("urn:longitude:audit-action", self.action.name(), self.action.name())],
            "action": action,
            "recorded": self.time,
            "outcome": outcome,
            "agent": agents,
            "source": {
                "site": self.tenant,
                "observer": {"display": origin},
                "type": [coding(SOURCE_TYPE, "4", "Application Server")],
            },
            "entity": [entity],
        })
    }
}

const EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({"system": system, "code": code, "display": display})
}

fn detail(name: &str, value: &str) -> Value {
    json!({"type": name, "valueString": value})
}

/// Now, RFC 3339 in UTC to the millisecond.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
