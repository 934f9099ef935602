//! `layercache serve`: run the GitHub-compatible cache service until SIGTERM or Ctrl-C;
//! `layercache serve token`: issue a token the service accepts (see `docs/serve.md`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tracing::{error, info, warn};

use super::CommandError;
use crate::cache_protocol::{self, AccessScope};
use crate::cache_service::{self, Limits, OidcConfig, ServiceConfig, TokenIssuer, oidc};
use crate::secret::Secret;
use crate::storage::StorageConfig;

/// Env var holding the shared signing secret itself.
pub const ENV_SECRET: &str = "LAYERCACHE_SERVE_SECRET";

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<ServeCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ServeCommand {
    /// Print a token (HS256 JWT with an `ac` claim) for ACTIONS_RUNTIME_TOKEN.
    Token(TokenArgs),
}

#[derive(Debug, clap::Args)]
struct SecretArgs {
    /// File holding the shared signing secret (else $LAYERCACHE_SERVE_SECRET).
    #[arg(long, env = "LAYERCACHE_SERVE_SECRET_FILE")]
    secret_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "LAYERCACHE_SERVE_LISTEN",
        default_value = "127.0.0.1:8484"
    )]
    listen: SocketAddr,
    /// Where entries live: a directory, `s3://bucket/prefix`, or `memory`.
    #[arg(
        long,
        env = "LAYERCACHE_SERVE_STORE",
        default_value = "layercache-cache"
    )]
    store: String,
    /// URL clients reach the service at (default: the Host header of each request).
    #[arg(long, env = "LAYERCACHE_SERVE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Total size budget in bytes (suffixes K, M, G, T); least recently used entries go first.
    #[arg(long, value_parser = parse_size)]
    max_size: Option<u64>,
    /// Evict entries not used for this many days (GitHub: 7).
    #[arg(long, default_value_t = 7)]
    max_age_days: u32,
    /// How long signed blob URLs stay valid, in seconds.
    #[arg(long, default_value_t = 3600)]
    url_ttl_secs: u32,
    #[command(flatten)]
    faults: FaultArgs,
    #[command(flatten)]
    secret: SecretArgs,
    #[command(flatten)]
    oidc: OidcArgs,
}

/// The GitHub OIDC exchange (`docs/serve.md` § OIDC); on when `--oidc-allow` is given.
#[derive(Debug, clap::Args)]
struct OidcArgs {
    /// Repositories whose OIDC tokens are exchanged: `owner/repo` or `owner/*` (repeatable
    /// or comma-separated).
    #[arg(long, env = "LAYERCACHE_SERVE_OIDC_ALLOW", value_delimiter = ',')]
    oidc_allow: Vec<String>,
    /// The token issuer (GHES: https://HOST/_services/token).
    #[arg(long, env = "LAYERCACHE_SERVE_OIDC_ISSUER", default_value = oidc::GITHUB_ISSUER)]
    oidc_issuer: String,
    /// Where the issuer's keys are (default: ISSUER/.well-known/jwks).
    #[arg(long, env = "LAYERCACHE_SERVE_OIDC_JWKS_URL")]
    oidc_jwks_url: Option<String>,
    /// The audience tokens must carry (the layercache action asks for `layercache`).
    #[arg(long, env = "LAYERCACHE_SERVE_OIDC_AUDIENCE", default_value = oidc::DEFAULT_AUDIENCE)]
    oidc_audience: String,
    /// The default branch jobs may read: `REF` for every repository, `owner/repo=REF` for
    /// one (repeatable).
    #[arg(long, default_value = "refs/heads/main")]
    default_branch: Vec<String>,
    /// Minutes the minted cache tokens stay valid.
    #[arg(long, default_value_t = 360)]
    oidc_token_ttl_mins: u32,
    /// Fewest seconds between two fetches of the issuer's keys for an unknown key id.
    #[arg(long, default_value_t = 60)]
    oidc_jwks_min_refresh_secs: u32,
}

impl OidcArgs {
    fn config(&self) -> Result<Option<OidcConfig>, CommandError> {
        let allow: Vec<String> = self
            .oidc_allow
            .iter()
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if allow.is_empty() {
            return Ok(None);
        }
        for a in &allow {
            let ok = matches!(a.split_once('/'), Some((o, r)) if !o.is_empty() && !r.is_empty() && !r.contains('/'));
            if !ok {
                return Err(CommandError::Usage(format!(
                    "--oidc-allow {a:?}: use owner/repo or owner/*"
                )));
            }
        }
        let mut config = OidcConfig::github(allow);
        config.issuer = self.oidc_issuer.trim_end_matches('/').to_owned();
        config.jwks_url = self
            .oidc_jwks_url
            .clone()
            .unwrap_or_else(|| oidc::jwks_url_for(&config.issuer));
        config.audience = self.oidc_audience.clone();
        for b in &self.default_branch {
            match b.split_once('=') {
                Some((repo, r)) if repo.contains('/') && !r.is_empty() => {
                    config
                        .default_branches
                        .insert(repo.to_owned(), r.to_owned());
                }
                None if !b.is_empty() => config.default_branch = b.clone(),
                _ => {
                    return Err(CommandError::Usage(format!(
                        "--default-branch {b:?}: use REF or owner/repo=REF"
                    )));
                }
            }
        }
        config.token_ttl = chrono::Duration::minutes(i64::from(self.oidc_token_ttl_mins));
        config.min_jwks_refresh = Duration::from_secs(u64::from(self.oidc_jwks_min_refresh_secs));
        Ok(Some(config))
    }
}

/// Injected latency and failures, to measure clients against a slow or flaky service
/// (docs/serve.md § Fault injection). Never for a service people use.
#[derive(Debug, clap::Args)]
struct FaultArgs {
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Answer this share of requests (0 to 1) with 503.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    fail_share: f64,
    /// Answer this share of requests (0 to 1) with 429 and Retry-After.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    throttle_share: f64,
    /// The Retry-After of injected 429s, in seconds.
    #[arg(long, default_value_t = 1)]
    retry_after_secs: u64,
}

impl FaultArgs {
    fn faults(&self) -> cache_service::Faults {
        cache_service::Faults {
            latency: Duration::from_millis(self.latency_ms),
            fail_share: self.fail_share,
            throttle_share: self.throttle_share,
            retry_after_secs: self.retry_after_secs,
            counts: Default::default(),
        }
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?}: use a share from 0 to 1, e.g. 0.3")),
    }
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The ref the token may read and write, e.g. refs/heads/main.
    #[arg(long = "ref")]
    git_ref: String,
    /// More refs the token may only read (repeatable), e.g. the default branch.
    #[arg(long = "read")]
    read: Vec<String>,
    /// Hours until the token expires.
    #[arg(long, default_value_t = 6)]
    ttl_hours: u32,
    #[command(flatten)]
    secret: SecretArgs,
}

fn parse_size(s: &str) -> Result<u64, String> {
    crate::plan::parse_bytes(s)
        .ok_or_else(|| format!("{s:?}: use bytes with an optional K, M, G or T suffix"))
}

fn read_secret(args: &SecretArgs) -> Result<Option<Secret>, CommandError> {
    if let Some(path) = &args.secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CommandError::Usage(format!(
                "--secret-file {}: failed to read: {e}",
                path.display()
            ))
        })?;
        let text = text.trim();
        if text.len() < 16 {
            return Err(CommandError::Usage(format!(
                "--secret-file {}: the secret must be at least 16 characters",
                path.display()
            )));
        }
        return Ok(Some(Secret::new(text)));
    }
    Ok(std::env::var(ENV_SECRET)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Secret::new(s.trim())))
}

/// Without a way to verify tokens, any client can claim any ref (cache poisoning), so
/// only this machine may reach the service.
fn check_open_door(listen: SocketAddr, verifies: bool) -> Result<(), CommandError> {
    if verifies || listen.ip().is_loopback() {
        return Ok(());
    }
    Err(CommandError::Usage(format!(
        "--listen {listen}: without token verification serve only listens on loopback \
         (127.0.0.1 or ::1); configure --secret-file (or {ENV_SECRET}) \
         or OIDC (--oidc-allow owner/repo) to listen on other addresses"
    )))
}

pub async fn run(args: Args) -> Result<(), CommandError> {
    match args.command {
        Some(ServeCommand::Token(t)) => token(t),
        None => serve(args.run).await,
    }
}

fn token(args: TokenArgs) -> Result<(), CommandError> {
    let secret = read_secret(&args.secret)?.ok_or_else(|| {
        CommandError::Usage(format!(
            "serve token: no secret: pass --secret-file or set {ENV_SECRET}"
        ))
    })?;
    let issuer = TokenIssuer::new(secret);
    let mut scopes = vec![AccessScope {
        scope: args.git_ref.clone(),
        permission: cache_protocol::READ | cache_protocol::WRITE,
    }];
    scopes.extend(args.read.iter().map(|r| AccessScope {
        scope: r.clone(),
        permission: cache_protocol::READ,
    }));
    let token = issuer.issue(&scopes, chrono::Duration::hours(i64::from(args.ttl_hours)));
    // Printing the token is this command's purpose; it goes to stdout only.
    println!("{}", token.expose());
    Ok(())
}

async fn serve(args: RunArgs) -> Result<(), CommandError> {
    let storage = StorageConfig::parse(&args.store)
        .map_err(|e| CommandError::Usage(format!("--store: {e}")))?;
    let secret = read_secret(&args.secret)?;
    let oidc = args.oidc.config()?;
    check_open_door(args.listen, secret.is_some() || oidc.is_some())?;
    if let Some(o) = &oidc {
        info!(issuer = %o.issuer, jwks = %o.jwks_url, audience = %o.audience, allow = %o.allow.join(","), "OIDC exchange enabled");
        if secret.is_none() {
            warn!(
                "OIDC without a shared secret: tokens minted here are accepted by this instance only; give every instance of a fleet the same --secret-file"
            );
        }
    } else if secret.is_none() {
        warn!(
            "no signing secret configured (--secret-file or {ENV_SECRET}): bearer tokens are decoded \
             WITHOUT verification, so any client can claim any ref; set a secret for a shared service"
        );
    }
    let config = ServiceConfig {
        listen: args.listen,
        storage,
        secret,
        public_url: args.public_url,
        limits: Limits {
            max_total_bytes: args.max_size,
            max_age: Some(chrono::Duration::days(i64::from(args.max_age_days))),
        },
        url_ttl: chrono::Duration::seconds(i64::from(args.url_ttl_secs)),
        oidc,
        faults: args.faults.faults(),
    };
    let state = cache_service::AppState::new(&config)
        .await
        .map_err(|e| CommandError::Failed(format!("serve: {e}")))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            CommandError::Failed(format!("serve: failed to listen on {}: {e}", config.listen))
        })?;
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                if let Err(e) = state.cache.housekeep(None).await {
                    error!(error = %e, "housekeeping failed");
                }
            }
        })
    };
    let addr = listener
        .local_addr()
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    info!(%addr, store = %args.store, "cache service listening");
    cache_service::serve(listener, cache_service::router(state), shutdown_signal()).await;
    sweeper.abort();
    info!("cache service stopped");
    Ok(())
}

/// SIGTERM (what `docker stop` and service managers send) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    info!("shutting down: finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_door_is_refused_only_off_loopback_without_verification() {
        let addr = |s: &str| {
            s.parse::<SocketAddr>()
                .unwrap_or_else(|e| panic!("{s}: {e}"))
        };
        assert!(check_open_door(addr("127.0.0.1:8484"), false).is_ok());
        assert!(check_open_door(addr("[::1]:8484"), false).is_ok());
        assert!(check_open_door(addr("0.0.0.0:8484"), true).is_ok());
        for open in ["0.0.0.0:8484", "[::]:8484", "10.1.2.3:80"] {
            let Err(CommandError::Usage(msg)) = check_open_door(addr(open), false) else {
                panic!("{open} was allowed without verification");
            };
            assert!(
                msg.contains("--secret-file") && msg.contains("--oidc-allow"),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "not one line: {msg}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("5MiB"), Ok(5 << 20));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3X").is_err());
        assert_eq!(parse_size("1.5g"), Ok(3 << 29), "the inputs' grammar");
    }
}
