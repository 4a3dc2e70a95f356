//! Who may call the server: tenants, their clients, roles and API keys.
//!
//! A tenant is an organisation the operator serves (the health system's own sites, a partner);
//! it is served the deployments of one registry site. Each of its clients (an EHR, a partner's
//! service) holds one or two API keys — two so that a key can be rotated without downtime — and
//! is granted roles. Keys are stored only as SHA-256 digests: the file names no secret.
//!
//! ```yaml
//! tenants:
//!   - id: example-health
//!     site: main
//!     requests_per_minute: 600
//!     clients:
//!       - id: ehr
//!         roles: [clinician]
//!         key_sha256: [9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08]
//!       - id: epic
//!         roles: [clinician]
//!         cds_hooks:
//!           iss: https://ehr.example.org
//!           jwks_file: ehr-jwks.json
//! ```
//!
//! A client with `cds_hooks` is an EHR calling the CDS Hooks services: it signs a JWT per call
//! with a key of its JSON Web Key Set (`jwks_file`, relative to the tenants file, or `jwks`
//! inline), and is known by the JWT's `iss`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Why a tenants file was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    /// The file could not be read.
    #[error("cannot read the tenants file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a tenants file.
    #[error("the tenants file is not valid: {0}")]
    Invalid(String),
}

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Asks for predictions (a clinician's EHR).
    Clinician,
    /// Embeds records and simulates futures.
    Researcher,
    /// Reads and changes the registry.
    Admin,
    /// Reads the audit log (its own tenant's records).
    Auditor,
}

impl Role {
    /// The name, as configured.
    pub fn name(self) -> &'static str {
        match self {
            Role::Clinician => "clinician",
            Role::Researcher => "researcher",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

/// The tenants file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenants {
    /// Every tenant.
    pub tenants: Vec<Tenant>,
}

/// One tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Its id, as the audit log records it.
    pub id: String,
    /// The registry site whose deployments answer it.
    pub site: String,
    /// Its quota: requests a minute, all clients together.
    #[serde(default = "default_quota")]
    pub requests_per_minute: u32,
    /// Its clients.
    pub clients: Vec<Client>,
}

fn default_quota() -> u32 {
    600
}

/// One client of a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// Its id, as the audit log records it.
    pub id: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// The SHA-256 (hex) of each of its API keys: one, or two while a key is rotated (none for
    /// a client that only calls CDS Hooks).
    #[serde(default)]
    pub key_sha256: Vec<String>,
    /// How it signs its CDS Hooks calls, if it makes any.
    #[serde(default)]
    pub cds_hooks: Option<CdsIssuer>,
}

/// An EHR's CDS Hooks signing: its issuer and its public keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdsIssuer {
    /// The JWT `iss` it signs as.
    pub iss: String,
    /// Its JSON Web Key Set, inline.
    #[serde(default)]
    pub jwks: Option<jsonwebtoken::jwk::JwkSet>,
    /// Its JSON Web Key Set, in a file (relative to the tenants file).
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// The FHIR servers (base URLs) the service may read for it when its prefetch is incomplete.
    #[serde(default)]
    pub fhir_servers: Vec<String>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant.
    pub tenant: String,
    /// The registry site that answers it.
    pub site: String,
    /// The client.
    pub client: String,
    /// Its roles.
    pub roles: Vec<Role>,
}

impl Tenants {
    /// Reads and checks the tenants file at `path` (YAML).
    pub fn read(path: &Path) -> Result<Tenants, TenantsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TenantsError::Io { path: path.display().to_string(), source })?;
        let mut tenants = Tenants::parse(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for client in tenants.tenants.iter_mut().flat_map(|t| t.clients.iter_mut()) {
            let Some(cds) = client.cds_hooks.as_mut() else { continue };
            let Some(file) = cds.jwks_file.as_ref() else { continue };
            let file = base.join(file);
            let text = std::fs::read_to_string(&file)
                .map_err(|source| TenantsError::Io { path: file.display().to_string(), source })?;
            let set = serde_json::from_str(&text)
                .map_err(|e| TenantsError::Invalid(format!("{}: not a JSON Web Key Set: {e}", file.display())))?;
            cds.jwks = Some(set);
        }
        Ok(tenants)
    }

    /// Parses and checks a tenants file: ids unique and non-empty, every client with one or two
    /// well-formed key digests and at least one role, no key held by two clients.
    pub fn parse(text: &str) -> Result<Tenants, TenantsError> {
        let tenants: Tenants = yaml_serde::from_str(text).map_err(|e| TenantsError::Invalid(e.to_string()))?;
        let invalid = |m: String| Err(TenantsError::Invalid(m));
        let mut ids = HashSet::new();
        let mut keys = HashSet::new();
        let mut issuers = HashSet::new();
        for t in &tenants.tenants {
            if t.id.trim().is_empty() || t.site.trim().is_empty() {
                return invalid("a tenant without an id or a site".into());
            }
            if !ids.insert(&t.id) {
                return invalid(format!("tenant {} is named twice", t.id));
            }
            if t.requests_per_minute == 0 {
                return invalid(format!("tenant {}: requests_per_minute must be at least 1", t.id));
            }
            let mut clients = HashSet::new();
            for c in &t.clients {
                if c.id.trim().is_empty() || !clients.insert(&c.id) {
                    return invalid(format!("tenant {}: a client id is empty or named twice", t.id));
                }
                if c.roles.is_empty() {
                    return invalid(format!("tenant {}, client {}: no role", t.id, c.id));
                }
                if let Some(cds) = &c.cds_hooks {
                    if cds.iss.trim().is_empty() || !issuers.insert(cds.iss.clone()) {
                        return invalid(format!(
                            "tenant {}, client {}: a CDS Hooks iss is empty or used twice",
                            t.id, c.id
                        ));
                    }
                    if cds.jwks.is_some() == cds.jwks_file.is_some() {
                        return invalid(format!(
                            "tenant {}, client {}: give jwks or jwks_file, one of them",
                            t.id, c.id
                        ));
                    }
                }
                let keyless = c.key_sha256.is_empty() && c.cds_hooks.is_some();
                if !keyless && (c.key_sha256.is_empty() || c.key_sha256.len() > 2) {
                    return invalid(format!(
                        "tenant {}, client {}: one or two keys, not {}",
                        t.id,
                        c.id,
                        c.key_sha256.len()
                    ));
                }
                for k in &c.key_sha256 {
                    if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return invalid(format!("tenant {}, client {}: a key digest is not 64 hex digits", t.id, c.id));
                    }
                    if !keys.insert(k.to_ascii_lowercase()) {
                        return invalid(format!("tenant {}, client {}: a key is held twice", t.id, c.id));
                    }
                }
            }
        }
        Ok(tenants)
    }

    /// Every CDS Hooks issuer: its caller, key set and FHIR servers.
    pub fn issuers(&self) -> HashMap<String, (Caller, CdsIssuer)> {
        let mut out = HashMap::new();
        for t in &self.tenants {
            for c in &t.clients {
                if let Some(cds) = &c.cds_hooks {
                    let caller = Caller {
                        tenant: t.id.clone(),
                        site: t.site.clone(),
                        client: c.id.clone(),
                        roles: c.roles.clone(),
                    };
                    out.insert(cds.iss.clone(), (caller, cds.clone()));
                }
            }
        }
        out
    }

    /// Every key digest and the caller it authenticates.
    pub fn callers(&self) -> HashMap<String, Caller> {
        let mut out = HashMap::new();
        for t in &self.tenants {
            for c in &t.clients {
                for k in &c.key_sha256 {
                    let caller = Caller {
                        tenant: t.id.clone(),
                        site: t.site.clone(),
                        client: c.id.clone(),
                        roles: c.roles.clone(),
                    };
                    out.insert(k.to_ascii_lowercase(), caller);
                }
            }
        }
        out
    }
}

/// The SHA-256 (hex) of an API key: what the tenants file holds.
pub fn key_sha256(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key: 32 random bytes from the operating system, hex, prefixed `lgk_` so that a
/// leaked key is recognisable to secret scanners.
pub fn new_key() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(format!("lgk_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_file_with_a_shared_key_or_no_role_is_refused() {
        let ok = format!(
            "tenants:\n  - id: a\n    site: main\n    clients:\n      - id: ehr\n        roles: [clinician]\n        key_sha256: [{KEY}]\n"
        );
        let t = Tenants::parse(&ok).expect("valid");
        assert_eq!(t.callers()[KEY].tenant, "a");
        assert_eq!(t.tenants[0].requests_per_minute, 600);
        let shared = format!(
            "{ok}  - id: b\n    site: main\n    clients:\n      - id: x\n        roles: [auditor]\n        key_sha256: [{KEY}]\n"
        );
        assert!(Tenants::parse(&shared).expect_err("shared").to_string().contains("held twice"));
        let no_role = ok.replace("[clinician]", "[]");
        assert!(Tenants::parse(&no_role).expect_err("no role").to_string().contains("no role"));
        let short = ok.replace(KEY, "abc");
        assert!(Tenants::parse(&short).expect_err("short").to_string().contains("64 hex"));
        let unknown = ok.replace("[clinician]", "[surgeon]");
        assert!(Tenants::parse(&unknown).is_err());
    }

    #[test]
    fn a_new_key_is_random_and_its_digest_is_sha256() {
        let (a, b) = (new_key().expect("key"), new_key().expect("key"));
        assert_ne!(a, b);
        assert!(a.starts_with("lgk_") && a.len() == 68);
        assert_eq!(key_sha256("test"), KEY);
    }
}
