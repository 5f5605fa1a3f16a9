//! Opening the object store a deploy URL names, through the `object_store`
//! crate: `s3://bucket/prefix` (AWS and every S3-compatible store),
//! `gs://bucket/prefix`, `az://container/prefix` and `file:///path`.
//!
//! Credentials, endpoint and region come from the usual environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_ENDPOINT`, `AWS_REGION`, `AWS_ALLOW_HTTP`;
//! `GOOGLE_SERVICE_ACCOUNT`…; `AZURE_STORAGE_ACCOUNT_NAME`…), and the
//! `[deploy]` keys `endpoint`, `region` and `allow_http` override them.
//! Every request is bounded in time (`request_timeout`) and retried with
//! growing waits on transient failures (`retries`).

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};

use crate::config::DeployConfig;

/// An opened store, and the prefix under which the site goes.
pub(crate) struct Target {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix (empty: the bucket's root).
    pub prefix: ObjectPath,
    /// Whether objects carry headers and metadata (every cloud store; not
    /// `file://`, which keeps bytes only).
    pub keeps_headers: bool,
}

/// Opens the store `url` names. The error says what is wrong with the URL
/// or the settings.
pub(crate) fn open(url: &str, settings: &DeployConfig) -> Result<Target, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: not a URL: {e}"))?;
    // The URL's path percent-decoded: `s3://b/caf%C3%A9` deploys under `café/`.
    let decoded = percent_encoding::percent_decode_str(parsed.path())
        .decode_utf8()
        .map_err(|e| format!("{url}: the path is not UTF-8 once decoded: {e}"))?;
    let prefix_text = decoded.trim_matches('/');
    let prefix = ObjectPath::parse(prefix_text)
        .map_err(|e| format!("{url}: the path is not a valid object prefix: {e}"))?;
    let timeout = format!(
        "{}ms",
        settings.request_timeout.duration().as_millis().max(1)
    );
    let connect_timeout = format!(
        "{}ms",
        settings
            .request_timeout
            .duration()
            .min(Duration::from_secs(10))
            .as_millis()
            .max(1)
    );
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: settings.retries,
        retry_timeout: settings.request_timeout.duration() * 3,
    };
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as Key};
            // A plain-http endpoint is refused by the client with no more
            // than "builder error": say what to set instead.
            let endpoint = settings
                .endpoint
                .clone()
                .or_else(|| std::env::var("AWS_ENDPOINT").ok())
                .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
            let allow_http = settings.allow_http.unwrap_or_else(|| {
                std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
            });
            if let Some(endpoint) = endpoint.filter(|e| e.starts_with("http://")) {
                if !allow_http {
                    return Err(format!(
                        "{url}: the endpoint {endpoint} is plain http: set AWS_ALLOW_HTTP=true or [deploy] allow_http = true (only for a store on a network you trust), or use https"
                    ));
                }
            }
            let mut builder = AmazonS3Builder::new()
                .with_config(Key::Client(ClientConfigKey::Timeout), &timeout)
                .with_config(
                    Key::Client(ClientConfigKey::ConnectTimeout),
                    &connect_timeout,
                );
            builder = from_env(builder, "AWS_", |b, key, value| {
                key.parse::<Key>().map(|key| b.with_config(key, value))
            });
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &settings.region {
                builder = builder.with_region(region);
            }
            if let Some(allow_http) = settings.allow_http {
                builder = builder.with_allow_http(allow_http);
            }
            let store = builder
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| format!("{url}: {e}"))?;
            Arc::new(store)
        }
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as Key};
            let mut builder = GoogleCloudStorageBuilder::new()
                .with_config(Key::Client(ClientConfigKey::Timeout), &timeout)
                .with_config(
                    Key::Client(ClientConfigKey::ConnectTimeout),
                    &connect_timeout,
                );
            builder = from_env(builder, "GOOGLE_", |b, key, value| {
                key.parse::<Key>().map(|key| b.with_config(key, value))
            });
            let store = builder
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| format!("{url}: {e}"))?;
            Arc::new(store)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            use object_store::azure::{AzureConfigKey as Key, MicrosoftAzureBuilder};
            let mut builder = MicrosoftAzureBuilder::new()
                .with_config(Key::Client(ClientConfigKey::Timeout), &timeout)
                .with_config(
                    Key::Client(ClientConfigKey::ConnectTimeout),
                    &connect_timeout,
                );
            builder = from_env(builder, "AZURE_", |b, key, value| {
                key.parse::<Key>().map(|key| b.with_config(key, value))
            });
            if let Some(endpoint) = &settings.endpoint {
                builder = builder.with_endpoint(endpoint.clone());
            }
            if let Some(allow_http) = settings.allow_http {
                builder = builder.with_allow_http(allow_http);
            }
            let store = builder
                .with_url(url)
                .with_retry(retry)
                .build()
                .map_err(|e| format!("{url}: {e}"))?;
            Arc::new(store)
        }
        "file" => {
            let dir = parsed
                .to_file_path()
                .map_err(|()| format!("{url}: not a local path (file:///absolute/path)"))?;
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                .map_err(|e| format!("{url}: {e}"))?
                .with_automatic_cleanup(true);
            return Ok(Target {
                store: Arc::new(store),
                prefix: ObjectPath::default(),
                keeps_headers: false,
            });
        }
        other => {
            return Err(format!(
                "{url}: `{other}` is not a store deploy knows: use s3://, gs://, az:// or file://"
            ))
        }
    };
    Ok(Target {
        store,
        prefix,
        keeps_headers: true,
    })
}

/// Applies each environment variable starting with `prefix` that `apply`
/// knows (as object_store's own `from_env` does, but after our defaults,
/// so that a variable overrides a default and the `[deploy]` keys override
/// both).
fn from_env<B>(
    mut builder: B,
    prefix: &str,
    apply: impl Fn(B, &str, &str) -> Result<B, object_store::Error>,
) -> B
where
    B: Clone,
{
    for (key, value) in std::env::vars_os() {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        if key.starts_with(prefix) {
            if let Ok(next) = apply(builder.clone(), &key.to_ascii_lowercase(), value) {
                builder = next;
            }
        }
    }
    builder
}
