//! fsutil's packet protocol (tonistiigi/fsutil), which BuildKit speaks through the session
//! in both directions: it pulls local directories from us ([`send`], the FileSync service)
//! and hands `local` exports to us ([`receive`], the FileSend service).

pub mod receive;
pub mod send;
mod wire;
