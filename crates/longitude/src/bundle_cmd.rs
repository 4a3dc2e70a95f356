//! `longitude bundle …`: the owner's signing key, and signing and verifying model bundles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use signing::{SignerKey, VerifierKey};

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Make the owning organisation's signing key (Ed25519): the private key in KEY (readable by
    /// its owner only; never overwritten) and the public key in KEY.pub, to give to whoever must
    /// check the organisation's bundles.
    Keygen {
        /// The key's name: the organisation (e.g. its domain, `hospital.example`).
        #[arg(long)]
        name: String,
        /// Where to write the private key.
        #[arg(long)]
        key: PathBuf,
    },
    /// Assemble a release: the pretrained model, every task model `adapt` fitted, the validation
    /// report and model cards, under one manifest with the owner, the time, the code version and
    /// the training data's fingerprint (never a subject). Sign it next with `bundle sign`.
    Assemble {
        /// The pretrained model bundle (`pretrain`'s `model` directory).
        #[arg(long)]
        model: PathBuf,
        /// The adaptation output (`adapt --out`).
        #[arg(long)]
        adapted: PathBuf,
        /// The report directory (`report --out`).
        #[arg(long)]
        report: PathBuf,
        /// The MEDS dataset the model was trained and validated on.
        #[arg(long)]
        dataset: PathBuf,
        /// The owning organisation's name.
        #[arg(long)]
        owner: String,
        /// The new release directory (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a model bundle (the `model` directory `longitude pretrain` wrote): every file is
    /// checked against its manifest, then the manifest's SHA-256 is signed into bundle.sig.
    Sign {
        /// The bundle directory.
        #[arg(long)]
        bundle: PathBuf,
        /// The private key (`bundle keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Check that a bundle is, byte for byte, the one a trusted key signed: the signature, the
    /// manifest, every file. Exits 2 with the failing key, manifest or file named.
    Verify {
        /// The bundle directory.
        #[arg(long)]
        bundle: PathBuf,
        /// A trusted public key: a KEY.pub file or the key's one-line text. Repeatable.
        #[arg(long, required = true)]
        trusted: Vec<String>,
    },
}

pub fn run(cmd: BundleCommand) -> Result<ExitCode> {
    match cmd {
        BundleCommand::Keygen { name, key } => {
            let public = key.with_extension("pub");
            if public.exists() {
                bail!("{} is already there: a key is never overwritten", public.display());
            }
            let signer = SignerKey::generate(&name, &key)?;
            let verifier = signer.verifier().to_string();
            outputs::atomic::write(&public, outputs::atomic::Access::Shared, format!("{verifier}\n").as_bytes())?;
            outln!("private key in {} (keep it; never share it); public key in {}:", key.display(), public.display());
            outln!("{verifier}");
        }
        BundleCommand::Assemble { model, adapted, report, dataset, owner, out } => {
            let plan = provenance::release::ReleasePlan { model, adapted, report, dataset, owner, out };
            let digest = provenance::release::assemble(&plan)?;
            outln!(
                "release assembled in {} (manifest SHA-256 {digest}); sign it with `longitude bundle sign`",
                plan.out.display()
            );
        }
        BundleCommand::Sign { bundle, key } => {
            let signer = SignerKey::read(&key)?;
            let digest = provenance::sign(&bundle, &signer)?;
            outln!("signed {} as {} (manifest SHA-256 {digest})", bundle.display(), signer.name());
        }
        BundleCommand::Verify { bundle, trusted } => {
            let keys = trusted.iter().map(|k| VerifierKey::read_or_parse(k)).collect::<Result<Vec<_>, _>>()?;
            let verified = provenance::verify(&bundle, &keys)?;
            outln!(
                "verified: {} signed by {}; manifest SHA-256 {}; all {} files match",
                bundle.display(),
                verified.signed_by.join(", "),
                verified.manifest_sha256,
                verified.bundle.manifest().files.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
