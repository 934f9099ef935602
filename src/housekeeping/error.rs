//! Housekeeping errors: one line each, naming what failed and what to change. None of
//! them carries the token (octocrab's errors never include request headers).

/// What went wrong while listing, deleting or measuring caches.
#[derive(Debug, thiserror::Error)]
pub enum HousekeepingError {
    #[error(
        "failed to read the repository: {0:?} is not owner/name (from --repository or GITHUB_REPOSITORY)"
    )]
    InvalidRepository(String),
    #[error(
        "failed to read the API URL: {0:?} is not an http(s) URL (from --api-url or GITHUB_API_URL)"
    )]
    InvalidApiUrl(String),
    #[error(
        "failed to {action}: no token (the action: set the github-token input; layercache prune: set GITHUB_TOKEN, or name another variable with --token-env)"
    )]
    NoToken { action: &'static str },
    #[error("failed to {action}: GitHub answered 403 ({message}); the job's token lacks the `{permission}` permission (add `permissions: {{ actions: {level} }}` to the job)", permission = permission_name(.needs_write), level = permission_level(.needs_write))]
    Forbidden {
        action: &'static str,
        message: String,
        needs_write: bool,
    },
    #[error(
        "failed to {action}: GitHub's API rate limit is exhausted ({message}); try again later"
    )]
    RateLimited {
        action: &'static str,
        message: String,
    },
    #[error("failed to {action}: GitHub answered 401 ({message}); the token is invalid or expired")]
    Unauthorized {
        action: &'static str,
        message: String,
    },
    #[error(
        "failed to {action}: GitHub answered 404 ({message}); check the repository name and that the token can see it"
    )]
    NotFound {
        action: &'static str,
        message: String,
    },
    #[error("failed to {action}: GitHub answered {status} ({message})")]
    Api {
        action: &'static str,
        status: u16,
        message: String,
    },
    #[error("failed to {action}: {detail}")]
    Transport {
        action: &'static str,
        detail: String,
    },
}

fn permission_name(needs_write: &bool) -> &'static str {
    if *needs_write {
        "actions: write"
    } else {
        "actions: read"
    }
}

fn permission_level(needs_write: &bool) -> &'static str {
    if *needs_write { "write" } else { "read" }
}

impl HousekeepingError {
    /// Map an octocrab error for `action`. `needs_write` says which permission a 403 lacks.
    pub(crate) fn from_octocrab(
        action: &'static str,
        needs_write: bool,
        err: octocrab::Error,
    ) -> Self {
        match err {
            octocrab::Error::GitHub { source, .. } => {
                let message = source.message.clone();
                match source.status_code.as_u16() {
                    401 => Self::Unauthorized { action, message },
                    404 => Self::NotFound { action, message },
                    403 | 429 if message.to_ascii_lowercase().contains("rate limit") => {
                        Self::RateLimited { action, message }
                    }
                    403 => Self::Forbidden {
                        action,
                        message,
                        needs_write,
                    },
                    status => Self::Api {
                        action,
                        status,
                        message,
                    },
                }
            }
            other => Self::Transport {
                action,
                detail: other.to_string(),
            },
        }
    }

    /// A 404: the entry (or repository) is not there.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
