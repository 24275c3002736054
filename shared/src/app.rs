//! The dependencies every handler gets: the store, the queue, the clock, one HTTP client and the
//! typed configuration, built once per process (Lambda init, or the local runner's start).

use crate::domain::clock::{Clock, SystemClock};
use crate::domain::secret::Secret;
use crate::domain::settings::Settings;
use crate::platforms::config::Channel;
use crate::queue::Queue;
use crate::queue::intake::{InOrder, Intake, OneCommit};
use crate::queue::memory::MemoryQueue;
use crate::queue::sqs::SqsQueue;
use crate::store::dynamo::DynamoTable;
use crate::store::embedded::EmbeddedTable;
use crate::store::repo::Repo;
use crate::store::{StoreResult, Table};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const MIN_API_TOKEN: usize = 16;

#[derive(thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
}

/// A function's `main` returns this when it cannot start: the process prints it (through
/// `Debug`) on its way out, so it reads as the plain message.
impl std::fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Typed settings read once from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HERALD_API_TOKEN`: the admin/API bearer token (the API refuses to start without a good one).
    pub api_token: Option<Secret>,
    /// `HERALD_PUBLIC_URL`: where the platforms reach Herald (webhook registration, deep links).
    pub public_url: Option<String>,
    /// `HERALD_<KIND>_URL` (e.g. `HERALD_TELEGRAM_URL`): the base URL of a platform's receiver
    /// when it has an address of its own (the stack's Lambda function URLs); it comes before
    /// `public_url` for that platform ([`Config::receiver_base`]).
    pub receiver_urls: std::collections::BTreeMap<crate::domain::ChannelKind, String>,
    /// `HERALD_CACHE_SECS`: how long a function keeps channel configs and settings (default 30).
    pub cache_ttl: Duration,
    /// `HERALD_MAX_ATTEMPTS`: send attempts before a delivery fails (default 6).
    pub max_attempts: u32,
    /// `HERALD_MAX_RECEIVES`: the queue's redrive `maxReceiveCount` (default 20), so the
    /// dispatcher can finish a message itself on its last receive.
    pub max_receives: u32,
    /// `HERALD_RETRY_BASE_SECS`: the first retry's delay; each next one doubles (default 10).
    pub retry_base: Duration,
    /// `HERALD_HTTP_TIMEOUT_SECS`: the longest one outbound call may take (default 10).
    pub http_timeout: Duration,
    /// `HERALD_LEASE_SECS`: how long a `sending` claim keeps a delivery from a second sender
    /// (default 120; longer than any one send, shorter than the queue's visibility timeout).
    pub lease: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api_token: None,
            public_url: None,
            receiver_urls: Default::default(),
            cache_ttl: Duration::from_secs(30),
            max_attempts: 6,
            max_receives: 20,
            retry_base: Duration::from_secs(10),
            http_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(120),
        }
    }
}

/// A variable's value, trimmed; unset and blank read the same here (blank API tokens are
/// refused separately).
fn var_in(get: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn env(name: &str) -> Option<String> {
    var_in(&|n| std::env::var(n).ok(), name)
}

/// A number variable: `default` when unset, else it must parse and lie in `range` (an error
/// names the variable and the range; nothing wraps or is silently clamped upwards).
fn num_in<T>(get: &dyn Fn(&str) -> Option<String>, name: &str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = var_in(get, name) else { return Ok(default) };
    match v.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid(format!("{name} must be a number from {} to {}, not {v:?}", range.start(), range.end()))),
    }
}

/// Why an API token cannot be used, if it cannot.
pub fn check_api_token(token: &str) -> Result<(), ConfigError> {
    let n = token.chars().count();
    if n < MIN_API_TOKEN {
        return Err(ConfigError::Invalid(format!(
            "HERALD_API_TOKEN must be at least {MIN_API_TOKEN} characters (it has {n}); generate one with: openssl rand -base64 24"
        )));
    }
    Ok(())
}

impl Config {
    /// Reads every `HERALD_*` variable once. Errors name the variable: a number that is not one,
    /// a bad `HERALD_PUBLIC_URL`, a `HERALD_API_TOKEN` that is set but blank.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A variable that is not UTF-8 would read as unset (a token set that way replaced by a
        // generated one, a data directory by the default): refused by name instead.
        if let Some((name, _)) = std::env::vars_os().find(|(k, v)| k.to_str().is_some_and(|k| k.starts_with("HERALD_")) && v.to_str().is_none()) {
            return Err(ConfigError::Invalid(format!("{} is not valid UTF-8", name.to_string_lossy())));
        }
        Self::from_vars(&|n| std::env::var(n).ok())
    }

    /// [`Config::from_env`] over any source of variables (`get` answers a variable's raw value,
    /// `None` when unset), so the rules can be tested without touching the process environment.
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let public_url = var_in(get, "HERALD_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned());
        if let Some(u) = &public_url {
            crate::domain::check_url("HERALD_PUBLIC_URL", u).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        // Set but blank is a mistake (an empty secret in a template, `HERALD_API_TOKEN=' '`),
        // not a wish for a generated token: refuse it rather than start with another token.
        if get("HERALD_API_TOKEN").is_some() && var_in(get, "HERALD_API_TOKEN").is_none() {
            return Err(ConfigError::Invalid(
                "HERALD_API_TOKEN is set but blank; set it to 16+ characters (openssl rand -base64 24), or unset it to use a generated token".into(),
            ));
        }
        let mut receiver_urls = std::collections::BTreeMap::new();
        for kind in crate::domain::ChannelKind::ALL {
            let name = format!("HERALD_{}_URL", kind.as_str().to_ascii_uppercase());
            if let Some(u) = var_in(get, &name) {
                crate::domain::check_url(&name, &u).map_err(|e| ConfigError::Invalid(e.to_string()))?;
                receiver_urls.insert(kind, u.trim_end_matches('/').to_owned());
            }
        }
        Ok(Self {
            api_token: var_in(get, "HERALD_API_TOKEN").map(Secret::new),
            public_url,
            receiver_urls,
            cache_ttl: Duration::from_secs(num_in(get, "HERALD_CACHE_SECS", 30u64, 0..=86_400)?),
            max_attempts: num_in(get, "HERALD_MAX_ATTEMPTS", 6u32, 0..=100)?.max(1),
            max_receives: num_in(get, "HERALD_MAX_RECEIVES", 20u32, 0..=1000)?.max(2),
            retry_base: Duration::from_secs(num_in(get, "HERALD_RETRY_BASE_SECS", 10u64, 0..=3600)?),
            http_timeout: Duration::from_secs(num_in(get, "HERALD_HTTP_TIMEOUT_SECS", 10u64, 0..=300)?.max(1)),
            lease: Duration::from_secs(num_in(get, "HERALD_LEASE_SECS", 120u64, 0..=43_200)?.max(1)),
        })
    }

    /// Where `kind`'s receiver is reached from the internet: its own URL when it has one, else
    /// `HERALD_PUBLIC_URL`, else `origin` (the address the asking request came in on). Without
    /// a trailing slash; `None` when there is none of the three.
    pub fn receiver_base(&self, kind: crate::domain::ChannelKind, origin: Option<String>) -> Option<String> {
        self.receiver_urls.get(&kind).or(self.public_url.as_ref()).cloned().or(origin)
    }

    /// The API token, checked (the API function and the local runner call this at start).
    pub fn require_api_token(&self) -> Result<&Secret, ConfigError> {
        let token = self.api_token.as_ref().ok_or_else(|| ConfigError::Invalid("HERALD_API_TOKEN is not set".into()))?;
        check_api_token(token.expose())?;
        Ok(token)
    }
}

/// Channel configs and settings as of a moment; cached per process for `cache_ttl`.
#[derive(Debug)]
pub struct Snapshot {
    pub channels: Vec<Channel>,
    pub settings: Settings,
    /// The host app's declared commands ([`crate::domain::command`]).
    pub commands: Vec<crate::domain::command::HostCommand>,
}

impl Snapshot {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    pub fn command(&self, name: &str) -> Option<&crate::domain::command::HostCommand> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// The enabled channel of `kind` an inbound request is for: `?source=NAME`, or, without one,
    /// the only channel of that kind.
    pub fn source(&self, kind: crate::domain::ChannelKind, source: Option<&str>) -> Option<&Channel> {
        let mut of_kind = self.channels.iter().filter(|c| c.kind() == kind && c.enabled);
        match source {
            Some(name) => of_kind.find(|c| c.name == name),
            None => {
                let first = of_kind.next()?;
                of_kind.next().is_none().then_some(first)
            }
        }
    }
}

pub struct App {
    pub repo: Repo,
    pub queue: Arc<dyn Queue>,
    /// How `POST /api/v1/notify` writes a notification's records and messages together.
    pub intake: Arc<dyn Intake>,
    /// Set when this process is the only one working its store (an embedded store's file, which
    /// redb locks to one process), to when it opened it: a delivery's claim made before then was a
    /// crashed predecessor's, and is over at once instead of after the lease.
    pub sole_since: Option<jiff::Timestamp>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    pub config: Config,
    snapshot: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    /// Counts [`App::invalidate`]s: a snapshot read while one happened is not cached.
    changes: std::sync::atomic::AtomicU64,
}

/// The one outbound HTTP client: short timeouts, so a slow platform delays one send by seconds
/// at most, never a whole batch; redirects are never followed.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(4)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        // No redirect is followed: a 3xx is a visible, permanent failure (channels::redirected).
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Invalid(format!("cannot build the HTTP client: {e}")))
}

impl App {
    pub fn new(table: Arc<dyn Table>, queue: Arc<dyn Queue>, clock: Arc<dyn Clock>, config: Config) -> Result<Self, ConfigError> {
        let intake = Arc::new(InOrder { table: table.clone(), queue: queue.clone() });
        Ok(Self {
            repo: Repo::new(table, clock.clone()),
            queue,
            intake,
            sole_since: None,
            clock,
            http: http_client(config.http_timeout)?,
            config,
            snapshot: Mutex::new(None),
            changes: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// DynamoDB and SQS, from the standard AWS environment (`AWS_ENDPOINT_URL` for an emulator),
    /// `HERALD_TABLE` and `HERALD_QUEUE_URL` / `HERALD_DLQ_URL`. With `create`, missing resources
    /// are created (for an emulator; on AWS the SAM template creates them), and the queue may be
    /// named by `HERALD_QUEUE_NAME` instead.
    pub async fn aws(config: Config, create: bool) -> Result<Self, ConfigError> {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        // Every store call answers within 10 s, retries included: a write cannot land long after
        // the request that made it gave up (see `crate::queue::intake::CLAIM_HOLD`).
        let timeouts = aws_config::timeout::TimeoutConfig::builder().operation_timeout(std::time::Duration::from_secs(10)).build();
        let dynamo = aws_sdk_dynamodb::config::Builder::from(&sdk).timeout_config(timeouts).build();
        let table = DynamoTable::new(aws_sdk_dynamodb::Client::from_conf(dynamo), env("HERALD_TABLE").unwrap_or_else(|| "herald".into()));
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = match (env("HERALD_QUEUE_URL"), env("HERALD_DLQ_URL")) {
            (Some(url), Some(dlq)) => SqsQueue::new(sqs, url, dlq),
            _ if create => {
                let name = env("HERALD_QUEUE_NAME").unwrap_or_else(|| "herald".into());
                SqsQueue::ensure(sqs, &name, 180, config.max_receives).await.map_err(|e| ConfigError::Invalid(e.to_string()))?
            }
            _ => return Err(ConfigError::Invalid("HERALD_QUEUE_URL and HERALD_DLQ_URL must be set".into())),
        };
        if create {
            table.ensure_table().await.map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        Self::new(Arc::new(table), Arc::new(queue), Arc::new(SystemClock), config)
    }

    /// The embedded store and the in-process queue, both kept in one file in `dir`
    /// ([`Self::on_store_file`]).
    pub fn embedded(dir: &Path, config: Config) -> Result<Self, ConfigError> {
        let table = EmbeddedTable::open(dir).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Self::on_store_file(table, Arc::new(SystemClock), config)
    }

    /// On an embedded store kept in a file: the in-process queue kept in the same file, and a
    /// new notification's records and messages written in one transaction ([`OneCommit`]).
    pub fn on_store_file(table: EmbeddedTable, clock: Arc<dyn Clock>, config: Config) -> Result<Self, ConfigError> {
        let queue = MemoryQueue::in_store(&table, Duration::from_secs(180), config.max_receives).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let intake =
            OneCommit::new(table.clone(), queue.clone()).ok_or_else(|| ConfigError::Invalid("the queue is not in the store's file".into()))?;
        let mut app = Self::new(Arc::new(table), Arc::new(queue), clock, config)?;
        app.intake = Arc::new(intake);
        app.sole_since = Some(app.now());
        Ok(app)
    }

    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    /// Channel configs and settings, from the cache when fresh.
    pub async fn snapshot(&self) -> StoreResult<Arc<Snapshot>> {
        if let Some((at, snap)) = crate::lock(&self.snapshot).as_ref()
            && at.elapsed() < self.config.cache_ttl
        {
            return Ok(snap.clone());
        }
        let changes = self.changes.load(std::sync::atomic::Ordering::Acquire);
        let snap = Arc::new(Snapshot {
            channels: self.repo.channels().await?,
            settings: self.repo.settings().await?,
            commands: self.repo.commands().await?,
        });
        let mut cached = crate::lock(&self.snapshot);
        // A change written while this was read may be missing from it: used once, not kept.
        if self.changes.load(std::sync::atomic::Ordering::Acquire) == changes {
            *cached = Some((Instant::now(), snap.clone()));
        }
        Ok(snap)
    }

    /// What a platform call may use: the HTTP client and the store as the platforms' memory.
    pub fn platform_context(&self) -> crate::platforms::Context<'_> {
        crate::platforms::Context { http: &self.http, memory: &self.repo }
    }

    /// Forgets the cached snapshot, after this process changed a channel, the settings or a
    /// command (call it once the change is written): the next [`App::snapshot`] reads them
    /// again, and one being read while this is called is not cached.
    pub fn invalidate(&self) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        *crate::lock(&self.snapshot) = None;
    }
}
