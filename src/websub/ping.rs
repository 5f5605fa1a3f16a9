//! Pings to external hubs after an export (the de-facto `hub.mode=publish`
//! request of PubSubHubbub, which WebSub leaves to hubs): one `POST` per
//! hub and changed feed, with `hub.mode=publish` and `hub.url=<feed URL>`.
//! A hub is named by the site's owner, so its address is not checked like
//! a subscriber's callback. A failed ping is a warning, never an error.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::Method;
use url::Url;

use super::client::{self, Reach};

/// How long one ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Pings every hub in `hubs` for every URL in `feeds`; returns one warning
/// per failed ping, with the hub's answer.
pub(crate) fn ping_all(hubs: &[String], feeds: &[String]) -> Vec<String> {
    if hubs.is_empty() || feeds.is_empty() {
        return Vec::new();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return vec![format!("cannot ping the WebSub hubs: {e}")],
    };
    let tls = match client::tls_config() {
        Ok(tls) => tls,
        Err(e) => return vec![format!("cannot ping the WebSub hubs: {e}")],
    };
    let reach = Reach {
        allow_private: true,
        own: Vec::new(),
        timeout: PING_TIMEOUT,
        tls,
    };
    runtime.block_on(async {
        let mut warnings = Vec::new();
        for hub in hubs {
            let Ok(hub_url) = Url::parse(hub) else {
                warnings.push(format!("WebSub hub `{hub}` is not a URL"));
                continue;
            };
            for feed in feeds {
                let body: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("hub.mode", "publish")
                    .append_pair("hub.url", feed)
                    .finish();
                let headers = vec![(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )];
                match client::send(
                    Method::POST,
                    &hub_url,
                    headers,
                    Bytes::from(body),
                    2048,
                    &reach,
                )
                .await
                {
                    Ok(answer) if answer.status.is_success() => {}
                    Ok(answer) => warnings.push(format!(
                        "WebSub hub {hub} answered {} to the ping for {feed}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body).trim()
                    )),
                    Err(e) => warnings.push(format!("WebSub hub {hub} not pinged for {feed}: {e}")),
                }
            }
        }
        warnings
    })
}

/// The URLs of the feeds of `built` whose bytes differ from the files of
/// the previous export in `dir` (all of them when `dir` holds none).
pub(crate) fn changed_feeds(built: &crate::build::BuiltSet, dir: &std::path::Path) -> Vec<String> {
    let previous = dir.join(crate::export::MARKER).is_file();
    built
        .resources
        .iter()
        .filter(|(_, resource)| resource.kind == crate::build::ResourceKind::Feed)
        .filter(|(path, resource)| {
            !previous
                || std::fs::read(dir.join(crate::static_files::file_for(path)))
                    .map_or(true, |old| old != resource.body)
        })
        .map(|(path, _)| {
            format!(
                "{}{}",
                built.feed_links.base_url,
                path.trim_start_matches('/')
            )
        })
        .collect()
}
