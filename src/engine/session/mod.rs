//! The BuildKit session: the services BuildKit calls back into during a solve (its
//! "attachables"), served by this process over the session tunnel. Local directories go
//! out (FileSync, with `.dockerignore` matching), exports come back (FileSend), plus
//! registry credentials, secrets, ssh agents and the content store for `type=local` cache.

pub mod attachables;
pub mod content_store;
pub mod diff_copy;
pub mod dockerignore;
pub mod file_send;
pub mod file_sync;
pub mod fsutil;
pub mod ssh_agent;
pub mod ssh_forward;
