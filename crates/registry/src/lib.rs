//! # registry — which model versions exist, which may be used, and who said so
//!
//! A model version enters the registry only from a bundle whose owner's signature verified
//! ([`provenance::verify`]), and is pinned by its manifest's SHA-256: every later step checks the
//! bundle against it. It then moves through the [`lifecycle`]: validated only when the gates of a
//! [`policy`] pass on the bundle's own validation report; approved only by a named person with a
//! role and a reason (and, under the two-person rule, not the person who registered it);
//! deployed per site, active or in shadow; suspended or retired. Every step is a transition row
//! that is only ever inserted — who, in which role, when, why, from which state — and an audit
//! record ([`audit`]) appended in the same transaction, so the history cannot be edited without
//! the tamper-evident log showing it. A step the lifecycle does not allow is refused, naming the
//! steps it does.
//!
//! The registry lives in the same database as the audit log ([`store`]): SQLite by default,
//! PostgreSQL by URL.

pub mod lifecycle;
pub mod policy;

use audit::{Action, AuditLog, Entry, LogError, Outcome};
use serde::Serialize;
use store::sqlx::{self, Row};

pub use lifecycle::{State, Step};
pub use policy::{Evidence, GateResult, Policy, PolicyError};

/// Why a registry step failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The database failed.
    #[error("the registry's database failed: {0}")]
    Database(#[from] sqlx::Error),
    /// The audit log could not record the step (so the step was not taken).
    #[error(transparent)]
    Audit(#[from] LogError),
    /// No such version.
    #[error("no model version {0} in the registry")]
    NoSuchVersion(String),
    /// The lifecycle does not allow the step from the version's state.
    #[error("cannot {step} {id}: it is {state}; from {state} the lifecycle allows {}", allowed_list(.allowed))]
    NotAllowed {
        /// The version.
        id: String,
        /// The step asked for.
        step: Step,
        /// Its state.
        state: State,
        /// The steps allowed from it.
        allowed: Vec<Step>,
    },
    /// The step was refused by a rule (named).
    #[error("{0}")]
    Refused(String),
    /// The bundle given is not the one registered.
    #[error("the bundle given for {id} is not the one registered (manifest SHA-256 {found}, registered {registered})")]
    BundleChanged {
        /// The version.
        id: String,
        /// The registered manifest digest.
        registered: String,
        /// The given bundle's.
        found: String,
    },
    /// The bundle's validation report could not be read.
    #[error("the bundle's validation report: {0}")]
    Report(String),
}

fn allowed_list(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "nothing: retired is final".into();
    }
    steps.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
}

/// A person acting on the registry: a name and a role, both required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their name (or staff id), as the organisation knows them.
    pub name: String,
    /// Their role (e.g. `clinical-safety-officer`).
    pub role: String,
}

/// A registered model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelVersion {
    /// `name@version`.
    pub id: String,
    /// The model's name.
    pub name: String,
    /// Its version number under that name, from 1.
    pub version: i64,
    /// The bundle's manifest SHA-256: what was registered, byte for byte.
    pub manifest_sha256: String,
    /// Where the bundle was registered from.
    pub bundle: String,
    /// The key(s) that signed it.
    pub signed_by: String,
    /// The owning organisation, from the release manifest.
    pub owner: String,
    /// Where it stands.
    pub state: String,
    /// Who registered it.
    pub registered_by: String,
    /// When.
    pub registered_at: String,
}

/// One recorded step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// Its order among the version's steps, from 0.
    pub seq: i64,
    /// The step.
    pub action: String,
    /// The state before.
    pub from: String,
    /// The state after.
    pub to: String,
    /// Who.
    pub actor: String,
    /// In which role.
    pub role: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: String,
    /// What else was recorded (the policy and gates, the site), JSON.
    pub detail: String,
}

/// A current deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    /// The version.
    pub version_id: String,
    /// The site.
    pub site: String,
    /// `active` or `shadow`.
    pub mode: String,
    /// Who deployed it.
    pub deployed_by: String,
    /// When.
    pub deployed_at: String,
}

/// How a deployment answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Its answers are returned to the caller.
    Active,
    /// Scored and logged beside the active version, never returned.
    Shadow,
}

impl Mode {
    /// The name, as stored.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Active => "active",
            Mode::Shadow => "shadow",
        }
    }
}

/// The outcome of a validation: every gate's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// Whether every gate passed (and the version is now validated).
    pub passed: bool,
    /// Each gate on each task.
    pub gates: Vec<GateResult>,
}

/// The registry, kept beside the audit log it writes to.
#[derive(Debug, Clone)]
pub struct Registry {
    audit: AuditLog,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl Registry {
    /// The registry in the audit log's database.
    pub fn new(audit: AuditLog) -> Registry {
        Registry { audit }
    }

    fn pool(&self) -> &sqlx::AnyPool {
        self.audit.database().pool()
    }

    /// Registers the verified bundle `verified` (found at `bundle`) as the next version of
    /// `name`, by `by`.
    pub async fn register(
        &self,
        verified: &provenance::Verified,
        bundle: &str,
        name: &str,
        by: &Person,
    ) -> Result<ModelVersion, RegistryError> {
        check_person(by)?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(RegistryError::Refused(format!(
                "{name:?} is not a model name: use letters, digits, '-', '_' and '.'"
            )));
        }
        let Some(release) = &verified.bundle.manifest().release else {
            return Err(RegistryError::Refused(
                "the bundle is not a release (no task models, report or data fingerprint): assemble one with \
                 `longitude bundle assemble`, sign it, then register it"
                    .into(),
            ));
        };
        let mut tx = self.pool().begin().await?;
        let existing = sqlx::query("SELECT id FROM registry_versions WHERE manifest_sha256 = $1")
            .bind(&verified.manifest_sha256)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            let id: String = row.try_get("id")?;
            return Err(RegistryError::Refused(format!("this bundle is already registered as {id}")));
        }
        let last = sqlx::query("SELECT MAX(version) AS v FROM registry_versions WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let version = last.try_get::<Option<i64>, _>("v")?.unwrap_or(0) + 1;
        let id = format!("{name}@{version}");
        let now = audit::entry::now();
        let signed_by = verified.signed_by.join(", ");
        sqlx::query(
            "INSERT INTO registry_versions (id, name, version, manifest_sha256, bundle, signed_by, owner, state, \
             registered_by, registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(name)
        .bind(version)
        .bind(&verified.manifest_sha256)
        .bind(bundle)
        .bind(&signed_by)
        .bind(&release.owner)
        .bind(State::Registered.name())
        .bind(&by.name)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({"manifest_sha256": verified.manifest_sha256, "signed_by": signed_by});
        self.record(&mut tx, &id, Step::Register, None, State::Registered, by, "registered", &detail, None).await?;
        tx.commit().await?;
        self.version(&id).await
    }

    /// Checks `policy` (whose text has the SHA-256 `policy_sha256`) on the validation report of
    /// `verified`, which must be the bundle registered as `id`. Records the evaluation whatever
    /// its outcome; moves the version to `validated` if every gate passed.
    pub async fn validate(
        &self,
        id: &str,
        verified: &provenance::Verified,
        policy: &Policy,
        policy_sha256: &str,
        by: &Person,
    ) -> Result<Validation, RegistryError> {
        check_person(by)?;
        let version = self.version(id).await?;
        let state = parse_state(&version.state)?;
        if state.after(Step::Validate).is_none() {
            return self.refuse(id, by, Step::Validate, not_allowed(id, Step::Validate, state)).await;
        }
        if version.manifest_sha256 != verified.manifest_sha256 {
            return Err(RegistryError::BundleChanged {
                id: id.into(),
                registered: version.manifest_sha256,
                found: verified.manifest_sha256.clone(),
            });
        }
        let evidence = Evidence::of_release(verified).map_err(RegistryError::Report)?;
        let gates = policy::evaluate(policy, &evidence);
        let passed = gates.iter().all(|g| g.passed);

        let mut tx = self.pool().begin().await?;
        let seq = next_seq(&mut tx, "registry_evaluations", id).await?;
        let policy_json = serde_json::to_string(policy).map_err(|e| RegistryError::Report(e.to_string()))?;
        let gates_json = serde_json::to_string(&gates).map_err(|e| RegistryError::Report(e.to_string()))?;
        sqlx::query(
            "INSERT INTO registry_evaluations (version_id, seq, policy_name, policy_sha256, policy, passed, gates, \
             actor, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(seq)
        .bind(format!("{} v{}", policy.name, policy.version))
        .bind(policy_sha256)
        .bind(&policy_json)
        .bind(i64::from(passed))
        .bind(&gates_json)
        .bind(&by.name)
        .bind(audit::entry::now())
        .execute(&mut *tx)
        .await?;
        let failed: Vec<String> =
            gates.iter().filter(|g| !g.passed).map(|g| format!("{} {}: {}", g.task, g.gate, g.detail)).collect();
        let detail = serde_json::json!({
            "policy": format!("{} v{}", policy.name, policy.version),
            "policy_sha256": policy_sha256,
            "gates": gates.len(),
            "failed": failed,
        });
        if passed {
            self.record(
                &mut tx,
                id,
                Step::Validate,
                Some(state),
                State::Validated,
                by,
                "every gate passed",
                &detail,
                None,
            )
            .await?;
        } else {
            let mut entry = self.entry(id, Action::RegistryChange, by, "validation failed");
            entry.outcome = Outcome::Refused;
            self.audit.append_within(&mut tx, &entry).await?;
        }
        tx.commit().await?;
        Ok(Validation { passed, gates })
    }

    /// Approves `id` for use, by the named `by`, for `reason`, under the approval rule of the
    /// policy it was validated with.
    pub async fn approve(&self, id: &str, by: &Person, reason: &str) -> Result<ModelVersion, RegistryError> {
        check_person(by)?;
        check_reason(reason, "an approval")?;
        let version = self.version(id).await?;
        let state = parse_state(&version.state)?;
        if state.after(Step::Approve).is_none() {
            return self.refuse(id, by, Step::Approve, not_allowed(id, Step::Approve, state)).await;
        }
        let row = sqlx::query(
            "SELECT policy FROM registry_evaluations WHERE version_id = $1 AND passed = 1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(row) = row else {
            return Err(RegistryError::Refused(format!("{id} has passed no validation")));
        };
        let policy: Policy = serde_json::from_str(&row.try_get::<String, _>("policy")?)
            .map_err(|e| RegistryError::Report(format!("the recorded policy: {e}")))?;
        if policy.approval.two_person && by.name == version.registered_by {
            return self
                .refuse(
                    id,
                    by,
                    Step::Approve,
                    RegistryError::Refused(format!(
                        "{} registered {id} and may not also approve it: the policy {} v{} requires a second person",
                        by.name, policy.name, policy.version
                    )),
                )
                .await;
        }
        if !policy.approval.roles.is_empty() && !policy.approval.roles.contains(&by.role) {
            return self
                .refuse(
                    id,
                    by,
                    Step::Approve,
                    RegistryError::Refused(format!(
                        "the role {} may not approve under the policy {} v{}: it allows {}",
                        by.role,
                        policy.name,
                        policy.version,
                        policy.approval.roles.join(", ")
                    )),
                )
                .await;
        }
        let mut tx = self.pool().begin().await?;
        let detail = serde_json::json!({"policy": format!("{} v{}", policy.name, policy.version)});
        self.record(&mut tx, id, Step::Approve, Some(state), State::Approved, by, reason, &detail, None).await?;
        tx.commit().await?;
        self.version(id).await
    }

    /// Deploys `id` to `site` in `mode`. At most one version of a model answers (is active) at a
    /// site; others may run beside it in shadow.
    pub async fn deploy(
        &self,
        id: &str,
        site: &str,
        mode: Mode,
        by: &Person,
        reason: &str,
    ) -> Result<Deployment, RegistryError> {
        check_person(by)?;
        check_reason(reason, "a deployment")?;
        if site.trim().is_empty() {
            return Err(RegistryError::Refused("a deployment needs a site".into()));
        }
        let version = self.version(id).await?;
        let state = parse_state(&version.state)?;
        if state.after(Step::Deploy).is_none() {
            return self.refuse(id, by, Step::Deploy, not_allowed(id, Step::Deploy, state)).await;
        }
        let mut tx = self.pool().begin().await?;
        let here = sqlx::query(
            "SELECT d.version_id AS id, d.mode AS mode FROM registry_deployments d JOIN registry_versions v ON \
             v.id = d.version_id WHERE d.site = $1 AND v.name = $2",
        )
        .bind(site)
        .bind(&version.name)
        .fetch_all(&mut *tx)
        .await?;
        for row in &here {
            let (other, other_mode): (String, String) = (row.try_get("id")?, row.try_get("mode")?);
            if other == id {
                drop(tx);
                let why = format!("{id} is already deployed at {site} ({other_mode})");
                return self.refuse(id, by, Step::Deploy, RegistryError::Refused(why)).await;
            }
            if mode == Mode::Active && other_mode == Mode::Active.name() {
                drop(tx);
                let why = format!(
                    "{other} already answers at {site}: retire or suspend it first, or deploy {id} in shadow beside it"
                );
                return self.refuse(id, by, Step::Deploy, RegistryError::Refused(why)).await;
            }
        }
        let now = audit::entry::now();
        sqlx::query(
            "INSERT INTO registry_deployments (version_id, site, mode, deployed_by, deployed_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(site)
        .bind(mode.name())
        .bind(&by.name)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        let detail = serde_json::json!({"site": site, "mode": mode.name()});
        self.record(&mut tx, id, Step::Deploy, Some(state), State::Deployed, by, reason, &detail, Some(site)).await?;
        tx.commit().await?;
        Ok(Deployment {
            version_id: id.into(),
            site: site.into(),
            mode: mode.name().into(),
            deployed_by: by.name.clone(),
            deployed_at: now,
        })
    }

    /// Suspends `id` (withdrawing every deployment): it answers nowhere until a new named
    /// approval and deployment.
    pub async fn suspend(&self, id: &str, by: &Person, reason: &str) -> Result<ModelVersion, RegistryError> {
        self.withdraw(id, Step::Suspend, State::Suspended, by, reason).await
    }

    /// Retires `id` for good (withdrawing every deployment).
    pub async fn retire(&self, id: &str, by: &Person, reason: &str) -> Result<ModelVersion, RegistryError> {
        self.withdraw(id, Step::Retire, State::Retired, by, reason).await
    }

    async fn withdraw(
        &self,
        id: &str,
        step: Step,
        to: State,
        by: &Person,
        reason: &str,
    ) -> Result<ModelVersion, RegistryError> {
        check_person(by)?;
        check_reason(reason, "a withdrawal")?;
        let state = parse_state(&self.version(id).await?.state)?;
        if state.after(step).is_none() {
            return self.refuse(id, by, step, not_allowed(id, step, state)).await;
        }
        let mut tx = self.pool().begin().await?;
        let sites: Vec<String> =
            sqlx::query("SELECT site FROM registry_deployments WHERE version_id = $1 ORDER BY site")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("site"))
                .collect::<Result<_, _>>()?;
        sqlx::query("DELETE FROM registry_deployments WHERE version_id = $1").bind(id).execute(&mut *tx).await?;
        let detail = serde_json::json!({"withdrawn_from": sites});
        self.record(&mut tx, id, step, Some(state), to, by, reason, &detail, None).await?;
        tx.commit().await?;
        self.version(id).await
    }

    /// The version `id`.
    pub async fn version(&self, id: &str) -> Result<ModelVersion, RegistryError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_VERSION} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| RegistryError::NoSuchVersion(id.into()))?;
        read_version(&row)
    }

    /// Every version, by name and number.
    pub async fn versions(&self) -> Result<Vec<ModelVersion>, RegistryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT_VERSION} ORDER BY name, version")))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(read_version).collect()
    }

    /// Every step of `id`, in order.
    pub async fn history(&self, id: &str) -> Result<Vec<Transition>, RegistryError> {
        self.version(id).await?;
        let rows = sqlx::query(
            "SELECT seq, action, from_state, to_state, actor, role, reason, at, detail FROM registry_transitions \
             WHERE version_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Transition {
                    seq: r.try_get("seq")?,
                    action: r.try_get("action")?,
                    from: r.try_get("from_state")?,
                    to: r.try_get("to_state")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    reason: r.try_get("reason")?,
                    at: r.try_get("at")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Current deployments, at `site` or everywhere.
    pub async fn deployments(&self, site: Option<&str>) -> Result<Vec<Deployment>, RegistryError> {
        let rows = sqlx::query(
            "SELECT version_id, site, mode, deployed_by, deployed_at FROM registry_deployments \
             WHERE ($1 = '' OR site = $1) ORDER BY site, version_id",
        )
        .bind(site.unwrap_or(""))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Deployment {
                    version_id: r.try_get("version_id")?,
                    site: r.try_get("site")?,
                    mode: r.try_get("mode")?,
                    deployed_by: r.try_get("deployed_by")?,
                    deployed_at: r.try_get("deployed_at")?,
                })
            })
            .collect()
    }

    /// Inserts the transition, sets the state, and appends the audit record, in `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        step: Step,
        from: Option<State>,
        to: State,
        by: &Person,
        reason: &str,
        detail: &serde_json::Value,
        site: Option<&str>,
    ) -> Result<(), RegistryError> {
        let seq = next_seq(tx, "registry_transitions", id).await?;
        let from_name = from.map_or("none", State::name);
        sqlx::query(
            "INSERT INTO registry_transitions (version_id, seq, action, from_state, to_state, actor, role, reason, \
             at, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(seq)
        .bind(step.name())
        .bind(from_name)
        .bind(to.name())
        .bind(&by.name)
        .bind(&by.role)
        .bind(reason)
        .bind(audit::entry::now())
        .bind(detail.to_string())
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE registry_versions SET state = $1 WHERE id = $2")
            .bind(to.name())
            .bind(id)
            .execute(&mut **tx)
            .await?;
        let mut entry = self.entry(id, action_of(step), by, &format!("{step}: {from_name} -> {to}"));
        if let Some(site) = site {
            entry.tenant = site.into();
        }
        self.audit.append_within(tx, &entry).await?;
        Ok(())
    }

    fn entry(&self, id: &str, action: Action, by: &Person, output: &str) -> Entry {
        let mut entry = Entry::new("registry", "longitude-registry", action);
        entry.user = Some(format!("{} ({})", by.name, by.role));
        entry.model_version = Some(id.into());
        entry.output = Some(output.into());
        entry
    }

    /// Records a refused step in the audit log, then returns the refusal.
    async fn refuse<T>(&self, id: &str, by: &Person, step: Step, error: RegistryError) -> Result<T, RegistryError> {
        let mut entry = self.entry(id, action_of(step), by, &format!("{step} refused"));
        entry.outcome = Outcome::Refused;
        self.audit.append(&entry).await?;
        Err(error)
    }
}

/// The audit action a step is recorded as.
fn action_of(step: Step) -> Action {
    match step {
        Step::Approve | Step::Suspend => Action::Approval,
        Step::Deploy | Step::Retire => Action::Deployment,
        Step::Register | Step::Validate => Action::RegistryChange,
    }
}

const SELECT_VERSION: &str = "SELECT id, name, version, manifest_sha256, bundle, signed_by, owner, state, \
                              registered_by, registered_at FROM registry_versions";

fn read_version(row: &sqlx::any::AnyRow) -> Result<ModelVersion, RegistryError> {
    Ok(ModelVersion {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        manifest_sha256: row.try_get("manifest_sha256")?,
        bundle: row.try_get("bundle")?,
        signed_by: row.try_get("signed_by")?,
        owner: row.try_get("owner")?,
        state: row.try_get("state")?,
        registered_by: row.try_get("registered_by")?,
        registered_at: row.try_get("registered_at")?,
    })
}

async fn next_seq(tx: &mut Tx<'_>, table: &'static str, id: &str) -> Result<i64, RegistryError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table} WHERE version_id = $1")))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("n")?)
}

fn parse_state(name: &str) -> Result<State, RegistryError> {
    State::parse(name).ok_or_else(|| RegistryError::Report(format!("unknown state {name:?} in the registry")))
}

fn not_allowed(id: &str, step: Step, state: State) -> RegistryError {
    RegistryError::NotAllowed { id: id.into(), step, state, allowed: state.allowed().to_vec() }
}

fn check_person(by: &Person) -> Result<(), RegistryError> {
    if by.name.trim().is_empty() || by.role.trim().is_empty() {
        return Err(RegistryError::Refused(
            "every registry step needs the name and role of the person taking it".into(),
        ));
    }
    Ok(())
}

fn check_reason(reason: &str, what: &str) -> Result<(), RegistryError> {
    if reason.trim().is_empty() {
        return Err(RegistryError::Refused(format!("{what} needs a reason")));
    }
    Ok(())
}
