//! `longitude registry …`: model versions, their gates, approvals and deployments.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use registry::{Mode, Person, Policy, Registry};
use signing::VerifierKey;

use crate::audit_cmd::LogArgs;

/// The person taking a step.
#[derive(Debug, Args)]
pub struct ByArgs {
    /// Your name (or staff id), recorded with the step.
    #[arg(long)]
    by: String,
    /// Your role (e.g. clinical-safety-officer), recorded with the step.
    #[arg(long)]
    role: String,
}

impl ByArgs {
    fn person(&self) -> Person {
        Person { name: self.by.clone(), role: self.role.clone() }
    }
}

/// A signed release and the keys it must verify against.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The release bundle (`bundle assemble`, then `bundle sign`).
    #[arg(long)]
    bundle: PathBuf,
    /// The owner's public key (KEY.pub or its text). Repeatable.
    #[arg(long, required = true)]
    trusted: Vec<String>,
}

impl BundleArgs {
    fn verify(&self) -> Result<provenance::Verified> {
        let keys = self.trusted.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
        Ok(provenance::verify(&self.bundle, &keys)?)
    }
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a signed release as the next version of NAME (its signature and every file are
    /// checked first).
    Register {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        bundle: BundleArgs,
        /// The model's name; versions are numbered under it (NAME@1, NAME@2, …).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        by: ByArgs,
    },
    /// Check a policy's gates on the version's own validation report; it becomes `validated`
    /// only if every gate passes. Exits 2 naming each failed gate's task and margin.
    Validate {
        #[command(flatten)]
        log: LogArgs,
        /// The version (NAME@N).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        bundle: BundleArgs,
        /// The policy (YAML).
        #[arg(long)]
        policy: PathBuf,
        #[command(flatten)]
        by: ByArgs,
    },
    /// Approve a validated (or suspended) version for use, by name, role and reason.
    Approve {
        #[command(flatten)]
        log: LogArgs,
        /// The version.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        by: ByArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Deploy an approved version to a site: active (it answers) or shadow (scored and logged
    /// beside the active one).
    Deploy {
        #[command(flatten)]
        log: LogArgs,
        /// The version.
        #[arg(long)]
        id: String,
        /// The site or tenant.
        #[arg(long)]
        site: String,
        /// How it answers.
        #[arg(long, value_enum, default_value_t = DeployMode::Active)]
        mode: DeployMode,
        #[command(flatten)]
        by: ByArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Suspend a version everywhere until a new named approval.
    Suspend {
        #[command(flatten)]
        log: LogArgs,
        /// The version.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        by: ByArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Retire a version for good.
    Retire {
        #[command(flatten)]
        log: LogArgs,
        /// The version.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        by: ByArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Every version and its state.
    List {
        #[command(flatten)]
        log: LogArgs,
    },
    /// Every step of a version: who, in which role, when, why, from which state.
    History {
        #[command(flatten)]
        log: LogArgs,
        /// The version.
        #[arg(long)]
        id: String,
    },
    /// Where versions answer now.
    Deployments {
        #[command(flatten)]
        log: LogArgs,
        /// Only this site.
        #[arg(long)]
        site: Option<String>,
    },
}

/// How a deployment answers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeployMode {
    /// Its answers are returned.
    Active,
    /// Scored and logged, never returned.
    Shadow,
}

pub fn run(cmd: RegistryCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_async(cmd))
}

/// The registry in an existing database (every command but `register`, which may start one).
async fn open(log: &LogArgs) -> Result<Registry> {
    Ok(Registry::new(crate::audit_cmd::open(log).await?))
}

async fn run_async(cmd: RegistryCommand) -> Result<ExitCode> {
    match cmd {
        RegistryCommand::Register { log, bundle, name, by } => {
            let verified = bundle.verify()?;
            let db = store::Database::open(&log.db).await?;
            let registry = Registry::new(audit::AuditLog::new(db, log.origin.clone()));
            let shown = bundle.bundle.display().to_string();
            let v = registry.register(&verified, &shown, &name, &by.person()).await?;
            outln!(
                "registered {} (owner {}, signed by {}, manifest SHA-256 {})",
                v.id,
                v.owner,
                v.signed_by,
                v.manifest_sha256
            );
        }
        RegistryCommand::Validate { log, id, bundle, policy, by } => {
            let verified = bundle.verify()?;
            let text = std::fs::read_to_string(&policy).with_context(|| format!("cannot read {}", policy.display()))?;
            let (policy_read, sha) = Policy::parse(&text).with_context(|| policy.display().to_string())?;
            let registry = open(&log).await?;
            let validation = registry.validate(&id, &verified, &policy_read, &sha, &by.person()).await?;
            for gate in &validation.gates {
                outln!("{gate}");
            }
            let failed = validation.gates.iter().filter(|g| !g.passed).count();
            if failed > 0 {
                eprintln!(
                    "error: {id} failed {failed} of {} gates of {} v{} (policy SHA-256 {sha}); it stays {}",
                    validation.gates.len(),
                    policy_read.name,
                    policy_read.version,
                    registry.version(&id).await?.state
                );
                return Ok(ExitCode::from(2));
            }
            outln!("{id} validated under {} v{} (policy SHA-256 {sha})", policy_read.name, policy_read.version);
        }
        RegistryCommand::Approve { log, id, by, reason } => {
            let v = open(&log).await?.approve(&id, &by.person(), &reason).await?;
            outln!("{} approved by {} ({})", v.id, by.by, by.role);
        }
        RegistryCommand::Deploy { log, id, site, mode, by, reason } => {
            let mode = match mode {
                DeployMode::Active => Mode::Active,
                DeployMode::Shadow => Mode::Shadow,
            };
            let d = open(&log).await?.deploy(&id, &site, mode, &by.person(), &reason).await?;
            outln!("{} deployed at {} ({})", d.version_id, d.site, d.mode);
        }
        RegistryCommand::Suspend { log, id, by, reason } => {
            let v = open(&log).await?.suspend(&id, &by.person(), &reason).await?;
            outln!("{} suspended", v.id);
        }
        RegistryCommand::Retire { log, id, by, reason } => {
            let v = open(&log).await?.retire(&id, &by.person(), &reason).await?;
            outln!("{} retired", v.id);
        }
        RegistryCommand::List { log } => {
            outln!("{:<28} {:<10} {:<24} {:<16} registered", "version", "state", "owner", "by");
            for v in open(&log).await?.versions().await? {
                outln!("{:<28} {:<10} {:<24} {:<16} {}", v.id, v.state, v.owner, v.registered_by, v.registered_at);
            }
        }
        RegistryCommand::History { log, id } => {
            outln!("{:<4} {:<9} {:<24} {:<16} {:<26} {:<24} reason", "#", "step", "from -> to", "by", "role", "at");
            for t in open(&log).await?.history(&id).await? {
                outln!(
                    "{:<4} {:<9} {:<24} {:<16} {:<26} {:<24} {}",
                    t.seq,
                    t.action,
                    format!("{} -> {}", t.from, t.to),
                    t.actor,
                    t.role,
                    t.at,
                    t.reason
                );
            }
        }
        RegistryCommand::Deployments { log, site } => {
            outln!("{:<16} {:<28} {:<7} {:<16} since", "site", "version", "mode", "by");
            for d in open(&log).await?.deployments(site.as_deref()).await? {
                outln!("{:<16} {:<28} {:<7} {:<16} {}", d.site, d.version_id, d.mode, d.deployed_by, d.deployed_at);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
