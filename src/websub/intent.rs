//! A subscriber's request to the hub (WebSub section 5.1), parsed and
//! checked without IO: `hub.mode` (`subscribe` or `unsubscribe`),
//! `hub.topic`, `hub.callback` (an http or https URL), optional
//! `hub.lease_seconds` (clamped to the configured bounds) and `hub.secret`
//! (under 200 bytes), and the legacy `hub.verify_token` some subscribers
//! (NewsBlur) still send, echoed back when verifying.
//!
//! Whether the topic is a feed of this site, and whether the callback's
//! address may be contacted, are the hub's to check (`hub.rs`).

use url::Url;

/// The longest `hub.secret` accepted, in bytes (WebSub: "less than 200 bytes").
pub(crate) const MAX_SECRET_BYTES: usize = 199;

/// The longest callback URL accepted, in bytes.
const MAX_CALLBACK_BYTES: usize = 2000;

/// The longest `hub.verify_token` accepted, in bytes.
const MAX_VERIFY_TOKEN_BYTES: usize = 200;

/// Subscribe or unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Subscribe,
    Unsubscribe,
}

impl Mode {
    /// The `hub.mode` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Subscribe => "subscribe",
            Mode::Unsubscribe => "unsubscribe",
        }
    }
}

/// A request that passed the checks that need no IO.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Intent {
    pub(crate) mode: Mode,
    pub(crate) topic: String,
    pub(crate) callback: Url,
    /// The lease granted, in seconds (within the bounds).
    pub(crate) lease_seconds: u64,
    pub(crate) secret: Option<Vec<u8>>,
    pub(crate) verify_token: Option<String>,
}

// Not derived: the secret is never printed.
impl std::fmt::Debug for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intent")
            .field("mode", &self.mode)
            .field("topic", &self.topic)
            .field("callback", &self.callback.as_str())
            .field("lease_seconds", &self.lease_seconds)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// Lease bounds, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Leases {
    pub(crate) default: u64,
    pub(crate) min: u64,
    pub(crate) max: u64,
}

impl Leases {
    fn clamp(self, asked: u64) -> u64 {
        asked.min(self.max).max(self.min.min(self.max))
    }
}

/// Parses a form body; `Err` is the reason, for the `400` answer.
pub(crate) fn parse(body: &[u8], leases: Leases) -> Result<Intent, String> {
    let mut mode = None;
    let mut topic = None;
    let mut callback = None;
    let mut lease = None;
    let mut secret = None;
    let mut verify_token = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        let slot = match key.as_ref() {
            "hub.mode" => &mut mode,
            "hub.topic" => &mut topic,
            "hub.callback" => &mut callback,
            "hub.lease_seconds" => &mut lease,
            "hub.secret" => &mut secret,
            "hub.verify_token" => &mut verify_token,
            // WebSub lets subscribers send more; they are ignored.
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("{key} is given more than once"));
        }
        *slot = Some(value.into_owned());
    }
    let mode = match mode.as_deref() {
        Some("subscribe") => Mode::Subscribe,
        Some("unsubscribe") => Mode::Unsubscribe,
        Some(other) => {
            return Err(format!(
                "hub.mode `{}` is not `subscribe` or `unsubscribe` (this hub takes no `publish`: it knows when its feeds change)",
                shorten(other)
            ))
        }
        None => return Err("hub.mode is missing".to_string()),
    };
    let topic = topic.ok_or("hub.topic is missing")?;
    let callback = callback.ok_or("hub.callback is missing")?;
    if callback.len() > MAX_CALLBACK_BYTES {
        return Err(format!(
            "hub.callback is longer than {MAX_CALLBACK_BYTES} bytes"
        ));
    }
    let callback = Url::parse(&callback)
        .map_err(|e| format!("hub.callback `{}` is not a URL: {e}", shorten(&callback)))?;
    if !matches!(callback.scheme(), "http" | "https") || callback.host().is_none() {
        return Err(format!(
            "hub.callback `{}` is not an http or https URL",
            shorten(callback.as_str())
        ));
    }
    if !callback.username().is_empty() || callback.password().is_some() {
        return Err("hub.callback may not hold a user name or password".to_string());
    }
    let lease_seconds = match lease {
        None => leases.default,
        Some(text) => match text.trim().parse::<u64>() {
            Ok(asked) => asked,
            Err(_) => {
                return Err(format!(
                    "hub.lease_seconds `{}` is not a whole number of seconds",
                    shorten(&text)
                ))
            }
        },
    };
    let secret = match secret {
        Some(secret) if secret.len() > MAX_SECRET_BYTES => {
            return Err(format!(
                "hub.secret is {} bytes long; it must be under 200",
                secret.len()
            ))
        }
        Some(secret) if secret.is_empty() => None,
        other => other.map(String::into_bytes),
    };
    if verify_token
        .as_ref()
        .is_some_and(|t| t.len() > MAX_VERIFY_TOKEN_BYTES)
    {
        return Err(format!(
            "hub.verify_token is longer than {MAX_VERIFY_TOKEN_BYTES} bytes"
        ));
    }
    Ok(Intent {
        mode,
        topic,
        callback,
        lease_seconds: leases.clamp(lease_seconds),
        secret,
        verify_token,
    })
}

/// `text` cut to 100 characters for a message.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The verification URL (WebSub section 5.3): the callback with its own
/// query kept and the hub's parameters appended.
pub(crate) fn verification_url(intent: &Intent, challenge: &str) -> Url {
    let mut url = intent.callback.clone();
    url.set_fragment(None);
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("hub.mode", intent.mode.as_str())
            .append_pair("hub.topic", &intent.topic)
            .append_pair("hub.challenge", challenge);
        if intent.mode == Mode::Subscribe {
            query.append_pair("hub.lease_seconds", &intent.lease_seconds.to_string());
        }
        if let Some(token) = &intent.verify_token {
            query.append_pair("hub.verify_token", token);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASES: Leases = Leases {
        default: 864_000,
        min: 3600,
        max: 2_592_000,
    };

    fn ok(body: &str) -> Intent {
        parse(body.as_bytes(), LEASES).unwrap()
    }

    fn err(body: &str) -> String {
        parse(body.as_bytes(), LEASES).unwrap_err()
    }

    #[test]
    fn a_subscription_with_every_field() {
        let intent = ok("hub.mode=subscribe&hub.topic=http%3A%2F%2Fa%2Frss.xml&hub.callback=http%3A%2F%2Fb%2Fcb%3Fx%3D1&hub.lease_seconds=7200&hub.secret=s3cret&hub.verify_token=tok");
        assert_eq!(intent.mode, Mode::Subscribe);
        assert_eq!(intent.topic, "http://a/rss.xml");
        assert_eq!(intent.callback.as_str(), "http://b/cb?x=1");
        assert_eq!(intent.lease_seconds, 7200);
        assert_eq!(intent.secret.as_deref(), Some(&b"s3cret"[..]));
        assert_eq!(intent.verify_token.as_deref(), Some("tok"));
        assert!(!format!("{intent:?}").contains("s3cret"));
    }

    #[test]
    fn leases_default_and_are_clamped() {
        let base = "hub.mode=subscribe&hub.topic=t&hub.callback=http://b/";
        assert_eq!(ok(base).lease_seconds, 864_000);
        assert_eq!(
            ok(&format!("{base}&hub.lease_seconds=1")).lease_seconds,
            3600
        );
        assert_eq!(
            ok(&format!("{base}&hub.lease_seconds=99999999999")).lease_seconds,
            2_592_000
        );
        assert!(err(&format!("{base}&hub.lease_seconds=-5")).contains("lease_seconds"));
    }

    #[test]
    fn bad_requests_say_why() {
        assert!(err("").contains("hub.mode is missing"));
        assert!(err("hub.mode=publish&hub.topic=t&hub.callback=http://b/").contains("publish"));
        assert!(err("hub.mode=subscribe&hub.callback=http://b/").contains("hub.topic"));
        assert!(err("hub.mode=subscribe&hub.topic=t").contains("hub.callback"));
        assert!(err("hub.mode=subscribe&hub.topic=t&hub.callback=ftp://b/").contains("http"));
        assert!(err("hub.mode=subscribe&hub.topic=t&hub.callback=nonsense").contains("not a URL"));
        assert!(
            err("hub.mode=subscribe&hub.topic=t&hub.callback=http://u:p@b/").contains("password")
        );
        let secret = "s".repeat(200);
        assert!(err(&format!(
            "hub.mode=subscribe&hub.topic=t&hub.callback=http://b/&hub.secret={secret}"
        ))
        .contains("under 200"));
        assert!(
            err("hub.mode=subscribe&hub.mode=unsubscribe&hub.topic=t&hub.callback=http://b/")
                .contains("more than once")
        );
    }

    #[test]
    fn any_bytes_give_an_answer() {
        for body in [&b"\xff\xfe=\x00&&=="[..], b"%zz=%", b"hub.mode=%FF"] {
            assert!(parse(body, LEASES).is_err());
        }
    }

    #[test]
    fn verification_keeps_the_callbacks_query_and_echoes_the_token() {
        let mut intent = ok("hub.mode=subscribe&hub.topic=http://a/rss.xml&hub.callback=http%3A%2F%2Fb%2Fcb%3Fid%3D7%23frag&hub.verify_token=nb");
        let url = verification_url(&intent, "xyz");
        assert_eq!(
            url.as_str(),
            "http://b/cb?id=7&hub.mode=subscribe&hub.topic=http%3A%2F%2Fa%2Frss.xml&hub.challenge=xyz&hub.lease_seconds=864000&hub.verify_token=nb"
        );
        intent.mode = Mode::Unsubscribe;
        intent.verify_token = None;
        assert!(!verification_url(&intent, "c").as_str().contains("lease"));
    }
}
