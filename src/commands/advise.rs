//! `layercache advise`: print Dockerfile cache advice for a terminal, a hook or CI.

use std::path::PathBuf;

use super::CommandError;
use crate::advice::{self, BuildContext};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:line: rule: message`, one per line.
    Text,
    /// `::warning file=...,line=...::message` workflow commands.
    Github,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Dockerfile (default: `<context>/Dockerfile`).
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// The build context, used to see which manifests and lock files exist.
    #[arg(long, default_value = ".")]
    pub context: PathBuf,
    /// A build argument (`NAME=value`), used to resolve `FROM $NAME`.
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Exit with status 1 when there is any finding.
    #[arg(long)]
    pub strict: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| args.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&file).map_err(|e| {
        CommandError::Usage(format!("--file: failed to read {}: {e}", file.display()))
    })?;
    let mut context = BuildContext::from_dir(&args.context);
    for pair in &args.build_args {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(CommandError::Usage(format!(
                "--build-arg: expected NAME=VALUE, got {pair:?}"
            )));
        };
        context.build_args.insert(k.to_owned(), v.to_owned());
    }
    let findings = advice::analyze(&text, &file.display().to_string(), &context);
    let mut text = String::new();
    for f in &findings {
        let line = match args.format {
            Format::Text => f.to_string(),
            Format::Github => f.annotation(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    write_stdout(&text)?;
    if findings.is_empty() && args.format == Format::Text {
        eprintln!("{}: no cache advice", file.display());
    }
    if args.strict && !findings.is_empty() {
        return Err(CommandError::Failed(format!(
            "{} cache advice finding(s)",
            findings.len()
        )));
    }
    Ok(())
}

/// Write to stdout; a closed pipe (`layercache advise | head -1`) is not an error.
pub(super) fn write_stdout(text: &str) -> Result<(), CommandError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CommandError::Failed(format!(
            "failed to write the findings: {e}"
        ))),
        _ => Ok(()),
    }
}
