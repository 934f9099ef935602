//! layercache: build Docker images in GitHub Actions with BuildKit and the Actions cache.
//!
//! The data path: raw inputs → `plan::BuildPlan` → engine → outcome →
//! reports. Modules are named for what they hold.

pub mod action;
pub mod advice;
pub mod app;
pub mod bench;
pub mod cache_client;
pub mod cache_config;
pub mod cache_mounts;
pub mod cache_protocol;
pub mod cache_service;
pub mod commands;
pub mod dockerfile;
pub mod engine;
pub mod housekeeping;
pub mod logging;
pub mod plan;
pub mod relay;
pub mod report;
pub mod retry;
pub mod runner_host;
pub mod secret;
pub mod storage;
