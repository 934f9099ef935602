//! `layercache prune`: delete superseded BuildKit cache indexes (and, with `--orphans`,
//! unreferenced layer blobs) from a repository's GitHub Actions cache.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{Duration, Utc};

use super::CommandError;
use crate::action::env::Env;
use crate::action::runtime::Runtime;
use crate::housekeeping::{
    self, ApiConfig, CacheServiceBodies, GithubCaches, PrunePolicy, Referenced,
};
use crate::secret::Secret;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The repository, `owner/name`.
    #[arg(long, env = "GITHUB_REPOSITORY")]
    pub repository: String,
    /// The environment variable holding the token (never pass a token on the command line).
    #[arg(long = "token-env", default_value = "GITHUB_TOKEN")]
    pub token_env: String,
    /// The REST API root (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(long = "api-url", env = "GITHUB_API_URL", default_value = housekeeping::DEFAULT_API_URL)]
    pub api_url: String,
    /// A cache `scope` this build owns (repeat for several). Only their indexes are pruned.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// How many of the newest index entries to keep per scope and ref.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub keep: u16,
    /// Only entries written by this ref (`refs/heads/main`); default: every ref.
    #[arg(long = "ref")]
    pub git_ref: Option<String>,
    /// The default branch's ref; without it every ref's blobs count as shared.
    #[arg(long = "default-ref")]
    pub default_ref: Option<String>,
    /// Also delete layer blobs that no live index references.
    #[arg(long)]
    pub orphans: bool,
    /// With `--orphans`: a file of the digests (`sha256:...`, one a line) every live index
    /// references. Without it the indexes are read through the cache service
    /// (`ACTIONS_RESULTS_URL` or `ACTIONS_CACHE_URL`, with `ACTIONS_RUNTIME_TOKEN`).
    #[arg(long = "referenced-digests", value_name = "FILE")]
    pub referenced_digests: Option<PathBuf>,
    /// Blobs created or used within this age are never orphans (`30m`, `1h`, `2d`).
    #[arg(long = "min-blob-age", default_value = "1h", value_parser = parse_age)]
    pub min_blob_age: Duration,
    /// Print what would be deleted, delete nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Also print the repository's cache usage against its budget.
    #[arg(long)]
    pub usage: bool,
}

fn parse_age(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age like 30m, 1h or 2d"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" | "" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("{s:?} is not an age like 30m, 1h or 2d")),
    }
}

fn read_digests(path: &PathBuf) -> Result<BTreeSet<String>, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::Usage(format!(
            "--referenced-digests: failed to read {}: {e}",
            path.display()
        ))
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    let token = Secret::new(std::env::var(&args.token_env).unwrap_or_default());
    let config = ApiConfig {
        api_url: args.api_url.clone(),
        token,
        repository: args.repository.clone(),
    };
    let caches = GithubCaches::new(&config).map_err(|e| CommandError::Usage(e.to_string()))?;
    let bodies = cache_service_bodies();
    let referenced = match (&args.orphans, &args.referenced_digests, &bodies) {
        (true, Some(path), _) => Some(Referenced::Digests(read_digests(path)?)),
        (true, None, Some(bodies)) => Some(Referenced::Bodies(bodies)),
        (true, None, None) => {
            return Err(CommandError::Usage(
                "--orphans: needs --referenced-digests FILE, or ACTIONS_RUNTIME_TOKEN with ACTIONS_RESULTS_URL or ACTIONS_CACHE_URL to read the indexes".into(),
            ));
        }
        (false, ..) => None,
    };
    let policy = PrunePolicy {
        scopes: args.scopes.clone(),
        keep: usize::from(args.keep),
        git_ref: args.git_ref.clone(),
        orphans: args.orphans,
        default_ref: args.default_ref.clone(),
        min_blob_age: args.min_blob_age,
        now: Utc::now(),
    };
    let report = housekeeping::prune(&caches, &policy, referenced, args.dry_run)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    let usage = match args.usage {
        true => Some(
            caches
                .usage()
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?,
        ),
        false => None,
    };
    let text = crate::report::prune_text(&report, usage.as_ref());
    super::advise::write_stdout(&text)?;
    Ok(())
}

/// The cache service of this job, when the runner's credentials are in the environment (a
/// container action gets them; a `run:` step after `layercache expose` too), spoken in the
/// protocol `action::runtime` chooses (its GHES rule included).
fn cache_service_bodies() -> Option<CacheServiceBodies> {
    let runtime = Runtime::from_env(&Env::from_process());
    let token = runtime.token.filter(|t| !t.is_empty())?;
    Some(CacheServiceBodies::new(runtime.protocol?, token))
}
