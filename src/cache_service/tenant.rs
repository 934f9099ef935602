//! Which repository a token and a cache entry belong to, and so what a REST request
//! (`/repos/{owner}/{repo}/actions/caches...`) may see and delete.
//!
//! Entries record no repository of their own: their scope does. The OIDC exchange mints
//! tokens whose scopes are namespaced by repository (`acme/web:refs/heads/main`,
//! [`super::exchange`]), so every entry saved with one is stored under that scope. Git refs
//! cannot contain `:` (`git check-ref-format`), so the split is unambiguous. Entries of bare
//! refs (`refs/heads/main`: saved with a `serve token --ref refs/heads/main` token, by the
//! in-process service, or before the exchange existed) belong to no repository; they are
//! the one repository a service without namespaces holds, as it always was.
//!
//! The rules (docs/serve.md § REST):
//! - A token belongs to the repository its `repository` claim names (minted tokens carry
//!   it); without the claim, to the repositories its scopes are namespaced by. The path
//!   must name one of them, or the answer is 403.
//! - A token of bare refs only belongs to no repository: whatever the path names, it sees
//!   the entries of bare refs and nothing else.
//! - Listing and usage cover every ref of that repository, as GitHub's `actions: read`
//!   does; deleting an entry needs a token that writes the entry's scope (GitHub needs
//!   `actions: write`; a job's cache token writes one ref). An entry of another
//!   repository is "not found", whether it exists or not.

use super::auth::Access;
use super::error::ServiceError;
use super::index::StoredEntry;
use super::validate::quote_short;

/// The repository a scope is namespaced by, if any, and the ref.
pub fn split_scope(scope: &str) -> (Option<&str>, &str) {
    match scope.split_once(':') {
        Some((repo, git_ref)) if repo.split('/').count() == 2 => (Some(repo), git_ref),
        _ => (None, scope),
    }
}

/// Whose entries a REST request acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    /// The entries namespaced by this repository (`owner/repo`, as the token names it).
    Repository(String),
    /// The entries of bare refs.
    Unnamed,
}

impl Tenant {
    /// Whether an entry of `scope` is this tenant's.
    pub fn holds(&self, scope: &str) -> bool {
        match (self, split_scope(scope).0) {
            (Self::Repository(r), Some(ns)) => r.eq_ignore_ascii_case(ns),
            (Self::Unnamed, None) => true,
            _ => false,
        }
    }

    pub fn repository(&self) -> Option<&str> {
        match self {
            Self::Repository(r) => Some(r),
            Self::Unnamed => None,
        }
    }
}

/// What a REST request may do: its token, and the tenant it acts for.
#[derive(Debug, Clone)]
pub struct RestGrant {
    pub access: Access,
    pub tenant: Tenant,
}

impl RestGrant {
    /// Decide whose entries `access` acts on at `/repos/{path}` (`path` is `owner/repo`).
    pub fn new(access: Access, path: &str) -> Result<Self, ServiceError> {
        let named: Vec<&str> = match &access.subject.repository {
            Some(r) => vec![r.as_str()],
            None => access
                .scopes
                .iter()
                .filter_map(|s| split_scope(&s.scope).0)
                .collect(),
        };
        let tenant = if named.is_empty() {
            Tenant::Unnamed
        } else {
            let Some(r) = named.iter().find(|r| r.eq_ignore_ascii_case(path)) else {
                return Err(ServiceError::PermissionDenied(format!(
                    "this token does not belong to repository {}",
                    quote_short(path)
                )));
            };
            Tenant::Repository((*r).to_owned())
        };
        Ok(Self { access, tenant })
    }

    /// Whether the request may see `entry` (list it, count it, name it).
    pub fn sees(&self, entry: &StoredEntry) -> bool {
        self.tenant.holds(&entry.scope)
    }

    /// Whether the request may delete `entry` (it sees it and writes its scope).
    pub fn may_delete(&self, entry: &StoredEntry) -> bool {
        self.sees(entry) && self.access.writes(&entry.scope)
    }

    /// Whether a `ref=` filter names `scope`: the scope as stored, or, in a repository's
    /// namespace, its ref alone (`refs/heads/main` for `acme/web:refs/heads/main`), as a
    /// client of GitHub's API writes it.
    pub fn ref_matches(&self, scope: &str, filter: &str) -> bool {
        scope == filter || (self.tenant.repository().is_some() && split_scope(scope).1 == filter)
    }

    /// The repository, job ref and workflow the token was made for, for the log ("-" where
    /// it does not say).
    pub fn who(&self) -> (&str, &str, &str) {
        let s = &self.access.subject;
        let repository = s.repository.as_deref().or(self.tenant.repository());
        let git_ref = s.git_ref.as_deref().or(self.access.writable());
        (
            repository.unwrap_or("-"),
            git_ref.unwrap_or("-"),
            s.workflow.as_deref().unwrap_or("-"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_protocol::{AccessScope, READ, WRITE};
    use crate::cache_service::auth::Subject;

    fn access(repository: Option<&str>, scopes: &[(&str, u8)]) -> Access {
        Access {
            scopes: scopes
                .iter()
                .map(|(s, p)| AccessScope {
                    scope: (*s).to_owned(),
                    permission: *p,
                })
                .collect(),
            subject: Subject {
                repository: repository.map(str::to_owned),
                ..Subject::default()
            },
        }
    }

    fn entry(scope: &str) -> StoredEntry {
        StoredEntry {
            id: 1,
            key: "k".into(),
            version: "v".into(),
            scope: scope.into(),
            size: 1,
            created_at: chrono::Utc::now(),
            last_accessed_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn scopes_split_at_the_repository() {
        assert_eq!(
            split_scope("acme/web:refs/heads/main"),
            (Some("acme/web"), "refs/heads/main")
        );
        assert_eq!(split_scope("refs/heads/main"), (None, "refs/heads/main"));
        assert_eq!(split_scope("a:b"), (None, "a:b"));
    }

    #[test]
    fn tokens_act_for_their_repository_only() {
        let pr = access(
            Some("acme/web"),
            &[
                ("acme/web:refs/pull/7/merge", READ | WRITE),
                ("acme/web:refs/heads/main", READ),
            ],
        );
        let grant = RestGrant::new(pr.clone(), "Acme/Web").unwrap();
        assert_eq!(grant.tenant, Tenant::Repository("acme/web".into()));
        assert!(grant.sees(&entry("acme/web:refs/heads/main")));
        assert!(!grant.may_delete(&entry("acme/web:refs/heads/main")));
        assert!(grant.may_delete(&entry("acme/web:refs/pull/7/merge")));
        assert!(!grant.sees(&entry("acme/gadgets:refs/heads/main")));
        assert!(!grant.sees(&entry("refs/heads/main")));
        assert!(grant.ref_matches("acme/web:refs/heads/main", "refs/heads/main"));
        assert!(matches!(
            RestGrant::new(pr, "acme/gadgets"),
            Err(ServiceError::PermissionDenied(_))
        ));

        // Without a repository claim, the scopes' namespace decides.
        let made = access(None, &[("acme/web:refs/heads/x", READ | WRITE)]);
        assert!(RestGrant::new(made.clone(), "acme/web").is_ok());
        assert!(RestGrant::new(made, "acme/gadgets").is_err());

        // Bare refs: any path, bare entries only.
        let bare = access(None, &[("refs/heads/main", READ | WRITE)]);
        let grant = RestGrant::new(bare, "o/r").unwrap();
        assert_eq!(grant.tenant, Tenant::Unnamed);
        assert!(grant.may_delete(&entry("refs/heads/main")));
        assert!(!grant.sees(&entry("acme/web:refs/heads/main")));
        assert!(!grant.ref_matches("x:refs/heads/main", "refs/heads/main"));
    }
}
