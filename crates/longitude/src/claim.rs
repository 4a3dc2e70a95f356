//! The `--replace` flag every command that writes a directory shares, and the claim it governs
//! (the `outputs` crate: a command deletes only what it wrote).

use std::path::{Path, PathBuf};

use clap::Args;
use outputs::{Existing, OutputDir};

/// Whether to write into an output directory that holds files longitude did not write.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Replace {
    /// Write into an output directory that holds files longitude did not write, beside them
    /// (none of them is deleted). Without it such a directory is refused. What an earlier run of
    /// the same command wrote there is replaced either way.
    #[arg(long)]
    pub replace: bool,
}

impl Replace {
    /// The policy for the `outputs` crate.
    pub fn existing(self) -> Existing {
        if self.replace { Existing::KeepBeside } else { Existing::Refuse }
    }
}

/// Claims `dir` for `command`, apart from every input.
pub fn claim(dir: &Path, command: &str, inputs: &[&Path], replace: Replace) -> anyhow::Result<OutputDir> {
    let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.to_path_buf()).collect();
    Ok(OutputDir::claim(dir, command, &inputs, replace.existing())?)
}
