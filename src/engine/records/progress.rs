//! BuildKit's status stream turned into build events and per-step records. BuildKit resends
//! a vertex each time it changes; the tracker reports each transition once.

use std::collections::HashMap;
use std::time::Duration;

use bollard::moby::buildkit::v1::{StatusResponse, Vertex, VertexStatus};

use super::cache_traffic::{CacheDirection, CacheTraffic, cache_layer};
use super::vertex::{is_dockerfile_step, since_epoch};

/// Something that happened during a build, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent {
    /// A phase of the engine's own work (packing the context, pushing, ...).
    Phase(String),
    StepStarted {
        index: usize,
        name: String,
    },
    StepLog {
        index: usize,
        name: String,
        text: String,
    },
    StepFinished {
        index: usize,
        name: String,
        cached: bool,
        duration: Option<Duration>,
        error: Option<String>,
    },
    Warning(String),
    Notice(String),
    /// Progress of one layer moving through the layer cache. BuildKit resends a layer's
    /// status as bytes arrive; `bytes` is the count so far (0 where BuildKit gives no size,
    /// as for exported layers and for downloads on Engine 20.10).
    CacheTransfer {
        direction: CacheDirection,
        layer: String,
        bytes: u64,
        elapsed: Option<Duration>,
        done: bool,
    },
}

/// Where events go. The action turns them into `::group::` log lines.
pub trait EventSink {
    fn event(&mut self, event: BuildEvent);
}

/// Collects events in memory (tests, the bench command).
#[derive(Debug, Default)]
pub struct Recorder(pub Vec<BuildEvent>);

impl EventSink for Recorder {
    fn event(&mut self, event: BuildEvent) {
        self.0.push(event);
    }
}

/// One BuildKit vertex as the build saw it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct StepRecord {
    pub name: String,
    pub cached: bool,
    pub duration: Option<Duration>,
    pub error: Option<String>,
    /// The step runs a Dockerfile instruction (`[2/3] RUN ...`), not internal work.
    pub dockerfile_step: bool,
    /// BuildKit's own start and end of the step, as time since the Unix epoch: the cache
    /// import and export rows of the summary are spans of these.
    #[serde(skip)]
    pub started_at: Option<Duration>,
    #[serde(skip)]
    pub completed_at: Option<Duration>,
    /// The Dockerfile line of a Dockerfile step, when the Dockerfile is at hand.
    #[serde(skip)]
    pub line: Option<usize>,
    /// BuildKit's vertex digest (status lines name their vertex by it).
    #[serde(skip)]
    pub digest: String,
}

#[derive(Debug, Default)]
pub struct Tracker {
    order: Vec<String>,
    steps: HashMap<String, (StepRecord, bool, bool)>,
    traffic: CacheTraffic,
    warnings: Vec<BuildWarning>,
}

impl Tracker {
    /// The frontend's warnings so far, each once.
    pub fn build_warnings(&self) -> Vec<BuildWarning> {
        self.warnings.clone()
    }

    pub fn apply(&mut self, status: &StatusResponse, sink: &mut dyn EventSink) {
        for v in &status.vertexes {
            self.vertex(v, sink);
        }
        for st in &status.statuses {
            let name = self.steps.get(&st.vertex).map_or("", |s| s.0.name.as_str());
            self.traffic.observe(st, name);
            if let Some(event) = transfer_event(st, name) {
                sink.event(event);
            }
        }
        for log in &status.logs {
            if let Some(index) = self.order.iter().position(|d| *d == log.vertex) {
                let name = self
                    .order
                    .get(index)
                    .and_then(|d| self.steps.get(d))
                    .map(|s| s.0.name.clone());
                let text = String::from_utf8_lossy(&log.msg).into_owned();
                sink.event(BuildEvent::StepLog {
                    index,
                    name: name.unwrap_or_default(),
                    text,
                });
            }
        }
        // Reported once the build ends, as annotations at their line (build checks).
        for w in &status.warnings {
            let warning = BuildWarning {
                level: w.level,
                message: String::from_utf8_lossy(&w.short).into_owned(),
                detail: w
                    .detail
                    .iter()
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect(),
                url: w.url.clone(),
                file: w.info.as_ref().map(|i| i.filename.clone()),
                line: w
                    .ranges
                    .first()
                    .and_then(|r| r.start.as_ref())
                    .and_then(|p| u32::try_from(p.line).ok())
                    .filter(|l| *l > 0),
            };
            if !self.warnings.contains(&warning) {
                self.warnings.push(warning);
            }
        }
    }

    fn vertex(&mut self, v: &Vertex, sink: &mut dyn EventSink) {
        if !self.steps.contains_key(&v.digest) {
            self.order.push(v.digest.clone());
            let record = StepRecord {
                name: v.name.clone(),
                dockerfile_step: is_dockerfile_step(&v.name),
                digest: v.digest.clone(),
                ..Default::default()
            };
            self.steps.insert(v.digest.clone(), (record, false, false));
        }
        let index = self.order.iter().position(|d| *d == v.digest).unwrap_or(0);
        let Some((record, started, finished)) = self.steps.get_mut(&v.digest) else {
            return;
        };
        // BuildKit resends a vertex whole; its latest word on times and errors stands.
        if let Some(t) = v
            .started
            .as_ref()
            .and_then(|t| since_epoch(t.seconds, t.nanos))
        {
            record.started_at = Some(t);
        }
        if let Some(t) = v
            .completed
            .as_ref()
            .and_then(|t| since_epoch(t.seconds, t.nanos))
        {
            record.completed_at = Some(t);
        }
        if !v.error.is_empty() {
            record.error = Some(v.error.clone());
        }
        if v.started.is_some() && !*started {
            *started = true;
            sink.event(BuildEvent::StepStarted {
                index,
                name: record.name.clone(),
            });
        }
        if (v.completed.is_some() || v.cached) && !*finished {
            *finished = true;
            record.cached = v.cached;
            record.duration = match (&v.started, &v.completed) {
                (Some(s), Some(c)) => span((s.seconds, s.nanos), (c.seconds, c.nanos)),
                _ => None,
            };
            sink.event(BuildEvent::StepFinished {
                index,
                name: record.name.clone(),
                cached: record.cached,
                duration: record.duration,
                error: record.error.clone(),
            });
        }
    }

    /// The steps in the order BuildKit first reported them.
    pub fn steps(&self) -> Vec<StepRecord> {
        self.order
            .iter()
            .filter_map(|d| self.steps.get(d))
            .map(|s| s.0.clone())
            .collect()
    }

    /// Layers the build moved through its cache.
    pub fn traffic(&self) -> CacheTraffic {
        self.traffic.clone()
    }

    /// The first step that failed, if any.
    pub fn failed_step(&self) -> Option<StepRecord> {
        self.steps().into_iter().find(|s| s.error.is_some())
    }
}

/// A status line about a cache layer as a [`BuildEvent::CacheTransfer`].
fn transfer_event(st: &VertexStatus, vertex_name: &str) -> Option<BuildEvent> {
    let (direction, layer) = cache_layer(st, vertex_name)?;
    let end = st.completed.as_ref().or(st.timestamp.as_ref());
    let elapsed = match (&st.started, end) {
        (Some(s), Some(e)) => span((s.seconds, s.nanos), (e.seconds, e.nanos)),
        _ => None,
    };
    let bytes = if st.completed.is_some() {
        st.current.max(st.total)
    } else {
        st.current
    };
    Some(BuildEvent::CacheTransfer {
        direction,
        layer: layer.to_owned(),
        bytes: u64::try_from(bytes).unwrap_or(0),
        elapsed,
        done: st.completed.is_some(),
    })
}

fn span(start: (i64, i32), end: (i64, i32)) -> Option<Duration> {
    let nanos = i128::from(end.0 - start.0) * 1_000_000_000 + i128::from(end.1 - start.1);
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// A frontend warning (a build check such as `FromAsCasing`), where BuildKit located it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildWarning {
    pub level: i64,
    pub message: String,
    pub detail: Vec<String>,
    pub url: String,
    /// The file as the frontend named it (`Dockerfile`) and the 1-based line.
    pub file: Option<String>,
    pub line: Option<u32>,
}
