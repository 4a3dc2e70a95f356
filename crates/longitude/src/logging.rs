//! Log set-up: `tracing` to stderr, text or JSON, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::LogFormat;

/// Installs the global subscriber. `--quiet` lowers the default level to warnings.
pub fn init(quiet: bool, format: LogFormat) {
    // The database driver's notices ("relation already exists, skipping") are not the operator's.
    let default = if quiet { "warn" } else { "info,sqlx=warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only for a terminal: a log redirected to a file or a collector is plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
