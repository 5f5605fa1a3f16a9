//! The base URL a server builds its site with, decided once at start.
//!
//! Links in feeds and pages are absolute (RFC 4287 `rel="self"`, JSON Feed
//! `feed_url`, `<link rel="alternate">`), so they must name an address where
//! this very site answers:
//! - `--base-url URL` is used as given (a preview under the public name, a
//!   proxy the configuration does not know about).
//! - A loopback `base_url` (host `localhost`, `*.localhost`, `127.0.0.0/8`
//!   or `[::1]`) can only mean "this machine": it follows the address the
//!   server actually bound, as the development servers of Zola and Hugo do,
//!   so `--bind 127.0.0.1:0` gives links to the port it got. The scheme is
//!   the one the server speaks there (`https` with `[server.tls]`, else
//!   `http`) and the path `/` (it serves the site at its root). Its host is the bound IP, or, when bound to every
//!   interface (`0.0.0.0`, `[::]`), the configured host.
//! - Any other `base_url` is the public URL, kept as it is: behind a proxy
//!   or CDN the server's own address is not what subscribers use.
//!
//! Reloads keep using the base URL decided here.

use std::net::{IpAddr, SocketAddr};

use url::Host;

use crate::config::BaseUrl;

/// Where the effective base URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SiteUrl {
    /// `--base-url`.
    Given(BaseUrl),
    /// The configured loopback `base_url`, moved to the bound address.
    FollowsBind(BaseUrl),
    /// The configured public `base_url`, as it is.
    Configured(BaseUrl),
}

impl SiteUrl {
    /// The base URL to build with.
    pub(crate) fn base_url(&self) -> &BaseUrl {
        match self {
            SiteUrl::Given(url) | SiteUrl::FollowsBind(url) | SiteUrl::Configured(url) => url,
        }
    }

    /// The base URL to build with in place of config.toml's, if any: a
    /// configured public one is left to the configuration, so that a reload
    /// that changes it takes effect.
    pub(crate) fn override_of_config(&self) -> Option<&BaseUrl> {
        match self {
            SiteUrl::Given(url) | SiteUrl::FollowsBind(url) => Some(url),
            SiteUrl::Configured(_) => None,
        }
    }
}

/// The effective base URL of a server bound to `bound` and speaking
/// `scheme` (`http` or `https`), given the configured `base_url` and the
/// `--base-url` option.
pub(crate) fn decide(
    configured: &BaseUrl,
    given: Option<&BaseUrl>,
    bound: SocketAddr,
    scheme: &str,
) -> SiteUrl {
    if let Some(given) = given {
        return SiteUrl::Given(given.clone());
    }
    if !is_loopback(configured) {
        return SiteUrl::Configured(configured.clone());
    }
    let mut url = configured.url().clone();
    // Each step below is valid for an http(s) URL with a host, which a
    // `BaseUrl` always is; should one fail, the configured URL stands.
    let moved = url.set_scheme(scheme).is_ok()
        && (bound.ip().is_unspecified() || url.set_ip_host(bound.ip()).is_ok())
        && url.set_port(Some(bound.port())).is_ok();
    url.set_path("/");
    match BaseUrl::parse(url.as_str()) {
        Ok(url) if moved => SiteUrl::FollowsBind(url),
        _ => SiteUrl::Configured(configured.clone()),
    }
}

/// True when `url` names this machine, whatever the network.
pub(crate) fn is_loopback(url: &BaseUrl) -> bool {
    match url.url().host() {
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A note for the log when a configured public `base_url` is not the bound
/// address: right behind a proxy or CDN, a surprise on a laptop; `None`
/// when they agree.
pub(crate) fn mismatch_note(site: &SiteUrl, bound: SocketAddr, scheme: &str) -> Option<String> {
    let SiteUrl::Configured(url) = site else {
        return None;
    };
    let url = url.url();
    let same_host = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip) == bound.ip(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip) == bound.ip(),
        _ => false,
    };
    if same_host && url.port_or_known_default() == Some(bound.port()) {
        return None;
    }
    Some(format!(
        "links point at base_url {url}, not at this server's address {bound}: right when a \
         proxy or CDN serves {url} from here; to try the site on this machine, serve with \
         --base-url {scheme}://{bound}/"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> BaseUrl {
        BaseUrl::parse(text).expect("test URL")
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn a_loopback_base_url_follows_the_bound_address() {
        let bound = addr("127.0.0.1:43117");
        for configured in [
            "http://127.0.0.1:8080/",
            "http://localhost:8080/",
            "https://localhost/news/",
            "http://[::1]:8080/",
        ] {
            let site = decide(&url(configured), None, bound, "http");
            assert_eq!(
                site,
                SiteUrl::FollowsBind(url("http://127.0.0.1:43117/")),
                "{configured}"
            );
        }
    }

    #[test]
    fn an_https_server_follows_its_bound_address_with_https() {
        let site = decide(
            &url("http://localhost:8080/"),
            None,
            addr("127.0.0.1:8443"),
            "https",
        );
        assert_eq!(site.base_url(), &url("https://127.0.0.1:8443/"));
    }

    #[test]
    fn a_wildcard_bind_keeps_the_configured_loopback_host() {
        let site = decide(
            &url("http://localhost:8080/"),
            None,
            addr("0.0.0.0:9000"),
            "http",
        );
        assert_eq!(site.base_url(), &url("http://localhost:9000/"));
        let site = decide(&url("http://[::1]:8080/"), None, addr("[::]:9000"), "http");
        assert_eq!(site.base_url(), &url("http://[::1]:9000/"));
    }

    #[test]
    fn a_public_base_url_is_kept_and_noted_only_when_it_is_not_the_bound_address() {
        let bound = addr("127.0.0.1:8080");
        let site = decide(&url("https://example.org/news/"), None, bound, "http");
        assert_eq!(site, SiteUrl::Configured(url("https://example.org/news/")));
        assert_eq!(site.override_of_config(), None);
        let note = mismatch_note(&site, bound, "http").expect("a note");
        assert!(note.contains("proxy") && note.contains("--base-url http://127.0.0.1:8080/"));

        let lan = addr("192.168.1.5:8080");
        let site = decide(&url("http://192.168.1.5:8080/"), None, lan, "http");
        assert_eq!(mismatch_note(&site, lan, "http"), None);
        assert_eq!(
            mismatch_note(&SiteUrl::Given(url("https://e.org/")), bound, "http"),
            None
        );
    }

    #[test]
    fn a_given_base_url_wins() {
        let given = url("https://example.org/");
        let site = decide(
            &url("http://127.0.0.1:8080/"),
            Some(&given),
            addr("127.0.0.1:1"),
            "http",
        );
        assert_eq!(site.override_of_config(), Some(&given));
    }

    #[test]
    fn only_this_machine_is_loopback() {
        assert!(is_loopback(&url("http://127.0.0.2/")));
        assert!(is_loopback(&url("http://app.localhost/")));
        assert!(!is_loopback(&url("http://localhost.example.org/")));
        assert!(!is_loopback(&url("http://10.0.0.1/")));
    }
}
