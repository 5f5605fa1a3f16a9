//! Pure: what a request's `User-Agent` says about who polls a feed: its
//! client family (a hosted aggregator, a reader on someone's device or
//! server, a browser, a crawler, a script), and, for aggregators that
//! report it, how many of their users subscribe and under which feed id.
//!
//! Hosted aggregators put a count in their field, in a few shapes (the
//! real strings, with where each was seen, are in
//! `tests/fixtures/audience/user-agents.toml`):
//! - `Feedly/1.0 (+http://www.feedly.com/fetcher.html; 134 subscribers; )`
//! - `Feedbin feed-id:1306543 - 3 subscribers`
//! - `NewsBlur Feed Fetcher - 27 subscribers - https://www.newsblur.com/site/7704055/… (…)`
//! - `Mozilla/5.0 (compatible; theoldreader.com; 1 subscribers; feed-id=cead6c3a837650eeefd8fe4a)`
//! - `Mozilla/5.0 (compatible; inoreader.com; 114 subscribers)`
//! - `Netvibes (http://www.netvibes.com/; 5 subscribers; feedID: 5404723)`
//! - `Dreamwidth Studios (…; for https://…/; 2 readers)`
//!
//! The rule: a number followed by `subscriber(s)` or `reader(s)` is a
//! report; the feed id is what follows `feed-id=`, `feed-id:` or `feedID:`
//! (or NewsBlur's `/site/<id>/`), at most [`MAX_FEED_ID`] bytes of
//! letters, digits, `-` and `_`. A count over [`MAX_REPORTED`] is taken as
//! that cap: anyone can send any `User-Agent`, and one absurd claim must
//! not hide every other figure. An aggregator the table below does not
//! know is named by its product token (`Dreamwidth Studios`).
//!
//! Nothing here keeps the string: the caller hashes it (`tally.rs`) and
//! keeps only the family, the count and the feed id.

/// What kind of client a family is, which decides how it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A hosted service that fetches once for many readers and may report
    /// how many: counted by its reports, never as a direct poller.
    Aggregator,
    /// A reader app or a self-hosted reader: one person (or a few), a direct poller.
    Reader,
    /// A web browser (someone looking at the feed, or a reader that says `Mozilla`).
    Browser,
    /// A search engine's or other crawler: not a subscriber.
    Crawler,
    /// A script or an HTTP library (`curl`, `python-requests`).
    Tool,
    /// No `User-Agent`, or one not recognised.
    Other,
}

impl Kind {
    /// Whether a poller of this kind that reports no count is one of the
    /// "direct pollers" of the subscriber estimate.
    pub(crate) fn is_direct(self) -> bool {
        !matches!(self, Kind::Aggregator | Kind::Crawler)
    }
}

/// A client family: its name as shown, and its kind.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
}

/// Every family, in the order they are shown; [`Class::family`] indexes it.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        name: "Feedly",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Inoreader",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Feedbin",
        kind: Kind::Aggregator,
    },
    Family {
        name: "NewsBlur",
        kind: Kind::Aggregator,
    },
    Family {
        name: "The Old Reader",
        kind: Kind::Aggregator,
    },
    Family {
        name: "BazQux",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Feedspot",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Bloglovin'",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Netvibes",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Newsify",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Blogtrottr",
        kind: Kind::Aggregator,
    },
    Family {
        name: "Google Feedfetcher",
        kind: Kind::Aggregator,
    },
    Family {
        name: "other aggregators",
        kind: Kind::Aggregator,
    },
    Family {
        name: "NetNewsWire",
        kind: Kind::Reader,
    },
    Family {
        name: "Miniflux",
        kind: Kind::Reader,
    },
    Family {
        name: "FreshRSS",
        kind: Kind::Reader,
    },
    Family {
        name: "Tiny Tiny RSS",
        kind: Kind::Reader,
    },
    Family {
        name: "Nextcloud News",
        kind: Kind::Reader,
    },
    Family {
        name: "CommaFeed",
        kind: Kind::Reader,
    },
    Family {
        name: "Reeder",
        kind: Kind::Reader,
    },
    Family {
        name: "Liferea",
        kind: Kind::Reader,
    },
    Family {
        name: "Newsboat",
        kind: Kind::Reader,
    },
    Family {
        name: "Akregator",
        kind: Kind::Reader,
    },
    Family {
        name: "Thunderbird",
        kind: Kind::Reader,
    },
    Family {
        name: "crawlers",
        kind: Kind::Crawler,
    },
    Family {
        name: "scripts and libraries",
        kind: Kind::Tool,
    },
    Family {
        name: "browsers",
        kind: Kind::Browser,
    },
    Family {
        name: "other",
        kind: Kind::Other,
    },
    Family {
        name: "no User-Agent",
        kind: Kind::Other,
    },
];

/// How many families there are.
pub(crate) const FAMILY_COUNT: usize = 29;

/// Family indexes used by the rules below.
const OTHER_AGGREGATOR: u8 = 12;
const CRAWLER: u8 = 24;
const TOOL: u8 = 25;
const BROWSER: u8 = 26;
const OTHER: u8 = 27;
/// The family of a request without `User-Agent`.
pub(crate) const NO_USER_AGENT: u8 = 28;

/// Lower-case needles, tried in order: the first found names the family.
/// Aggregators first (Feedly's and Feedspot's fields also say `like
/// FeedFetcher-Google`), crawlers and tools next, browsers last (readers
/// often say `Mozilla/5.0 (compatible; …)`).
const NEEDLES: &[(&str, u8)] = &[
    ("feedly", 0),
    ("inoreader", 1),
    ("feedbin", 2),
    ("newsblur", 3),
    ("theoldreader", 4),
    ("bazqux", 5),
    ("feedspot", 6),
    ("bloglovin", 7),
    ("netvibes", 8),
    ("newsify", 9),
    ("blogtrottr", 10),
    ("feedfetcher-google", 11),
    ("netnewswire", 13),
    ("miniflux", 14),
    ("freshrss", 15),
    ("tiny tiny rss", 16),
    ("tt-rss", 16),
    ("nextcloud-news", 17),
    ("commafeed", 18),
    ("reeder", 19),
    ("liferea", 20),
    ("newsboat", 21),
    ("newsbeuter", 21),
    ("akregator", 22),
    ("thunderbird", 23),
    ("bot", CRAWLER),
    ("crawler", CRAWLER),
    ("spider", CRAWLER),
    ("slurp", CRAWLER),
    ("curl/", TOOL),
    ("wget/", TOOL),
    ("python-", TOOL),
    ("go-http-client", TOOL),
    ("okhttp", TOOL),
    ("java/", TOOL),
    ("libwww-perl", TOOL),
    ("node-fetch", TOOL),
    ("axios/", TOOL),
    ("mozilla/", BROWSER),
];

/// The largest count a report is taken at.
pub(crate) const MAX_REPORTED: u64 = 10_000_000;

/// The longest feed id kept, in bytes.
pub(crate) const MAX_FEED_ID: usize = 64;

/// The longest name kept for an aggregator the table does not know.
const MAX_NAME: usize = 40;

/// The longest `User-Agent` read; past it, the rest is ignored.
const MAX_READ: usize = 1024;

/// What a `User-Agent` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    /// An index into [`FAMILIES`].
    pub(crate) family: u8,
    /// The subscribers it reports, if it reports any.
    pub(crate) report: Option<Reported>,
}

/// An aggregator's report of its subscribers to one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// The aggregator's name: its family's, or its product token for one
    /// the table does not know.
    pub(crate) aggregator: String,
    /// The feed id it sends, or `""`.
    pub(crate) feed_id: String,
    pub(crate) subscribers: u64,
}

/// Classifies `user_agent` (`None`: the request had none).
pub(crate) fn classify(user_agent: Option<&[u8]>) -> Class {
    let Some(raw) = user_agent else {
        return Class {
            family: NO_USER_AGENT,
            report: None,
        };
    };
    let raw = &raw[..raw.len().min(MAX_READ)];
    let lower: Vec<u8> = raw.iter().map(u8::to_ascii_lowercase).collect();
    let family = NEEDLES
        .iter()
        .find(|(needle, _)| find(&lower, needle.as_bytes()).is_some())
        .map_or(OTHER, |(_, family)| *family);
    let report = subscribers(&lower).map(|subscribers| {
        let known = FAMILIES[usize::from(family)].kind == Kind::Aggregator;
        Reported {
            aggregator: if known {
                FAMILIES[usize::from(family)].name.to_string()
            } else {
                product_name(raw)
            },
            feed_id: feed_id(raw, &lower),
            subscribers,
        }
    });
    // A client that reports subscribers is an aggregator, whatever else its
    // field says (`compatible; Mozilla`, a crawler's word).
    let family = match (&report, FAMILIES[usize::from(family)].kind) {
        (Some(_), kind) if kind != Kind::Aggregator => OTHER_AGGREGATOR,
        _ => family,
    };
    Class { family, report }
}

/// The count before ` subscriber` or ` reader`, if there is one.
fn subscribers(lower: &[u8]) -> Option<u64> {
    for word in [&b"subscriber"[..], b"reader"] {
        let mut from = 0;
        while let Some(at) = find(&lower[from..], word) {
            let at = from + at;
            if let Some(count) = number_before(&lower[..at]) {
                return Some(count.min(MAX_REPORTED));
            }
            from = at + word.len();
        }
    }
    None
}

/// The decimal number that ends `text`, spaces between allowed.
fn number_before(text: &[u8]) -> Option<u64> {
    let text = text.strip_suffix(b" ").unwrap_or(text);
    let digits = text.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let start = text.len() - digits;
    // A number glued to a word (`v2reader`) is not a count.
    if start > 0 && text[start - 1].is_ascii_alphabetic() {
        return None;
    }
    Some(text[start..].iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The feed id after `feed-id=`, `feed-id:`, `feedid:` or `feedid=` (any
/// case, spaces allowed), or NewsBlur's `/site/<id>`; `""` when none.
fn feed_id(raw: &[u8], lower: &[u8]) -> String {
    for marker in [&b"feed-id"[..], b"feedid", b"/site/"] {
        let Some(at) = find(lower, marker) else {
            continue;
        };
        let mut rest = &raw[at + marker.len()..];
        if marker != b"/site/" {
            rest = rest.trim_ascii_start();
            match rest.first() {
                Some(b'=' | b':') => rest = rest[1..].trim_ascii_start(),
                _ => continue,
            }
        }
        let id: String = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
            .take(MAX_FEED_ID)
            .map(|b| char::from(*b))
            .collect();
        if !id.is_empty() {
            return id;
        }
    }
    String::new()
}

/// The product token of an unknown aggregator: the text before the first
/// `/`, `(` or `;`, or, after `compatible;`, the next such token.
fn product_name(raw: &[u8]) -> String {
    let lower: Vec<u8> = raw.iter().map(u8::to_ascii_lowercase).collect();
    let start = find(&lower, b"compatible;").map_or(0, |at| at + b"compatible;".len());
    let name: String = raw[start..]
        .iter()
        .take_while(|b| !matches!(b, b'/' | b'(' | b';' | b')'))
        .take(MAX_NAME)
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .map(|b| char::from(*b))
        .collect();
    let name = name.trim();
    if name.is_empty() {
        "unnamed aggregator".to_string()
    } else {
        name.to_string()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ua: &str) -> Class {
        classify(Some(ua.as_bytes()))
    }

    fn name(class: &Class) -> &'static str {
        FAMILIES[usize::from(class.family)].name
    }

    #[test]
    fn the_family_table_and_its_count_agree() {
        assert_eq!(FAMILIES.len(), FAMILY_COUNT);
        assert_eq!(
            FAMILIES[usize::from(OTHER_AGGREGATOR)].kind,
            Kind::Aggregator
        );
        assert_eq!(FAMILIES[usize::from(CRAWLER)].kind, Kind::Crawler);
        assert_eq!(FAMILIES[usize::from(TOOL)].kind, Kind::Tool);
        assert_eq!(FAMILIES[usize::from(BROWSER)].kind, Kind::Browser);
        assert_eq!(FAMILIES[usize::from(OTHER)].name, "other");
        assert_eq!(FAMILIES[usize::from(NO_USER_AGENT)].name, "no User-Agent");
        for (_, family) in NEEDLES {
            assert!(usize::from(*family) < FAMILY_COUNT);
        }
    }

    /// Every real string of the fixture reads as the fixture says.
    #[test]
    fn the_recorded_user_agents_read_as_expected() {
        let text = include_str!("../../tests/fixtures/audience/user-agents.toml");
        let fixture: toml::Table = text.parse().unwrap();
        let agents = fixture["agent"].as_array().unwrap();
        assert!(agents.len() >= 20);
        for agent in agents {
            let ua = agent["user_agent"].as_str().unwrap();
            let c = class(ua);
            assert_eq!(name(&c), agent["family"].as_str().unwrap(), "{ua}");
            let subscribers = agent["subscribers"].as_integer().unwrap();
            match &c.report {
                None => assert_eq!(subscribers, 0, "{ua}"),
                Some(report) => {
                    assert_eq!(report.subscribers as i64, subscribers, "{ua}");
                    assert_eq!(report.feed_id, agent["feed_id"].as_str().unwrap(), "{ua}");
                    let aggregator = agent
                        .get("aggregator")
                        .or(agent.get("family"))
                        .and_then(|a| a.as_str())
                        .unwrap();
                    assert_eq!(report.aggregator, aggregator, "{ua}");
                }
            }
        }
    }

    #[test]
    fn feedbin_reports_its_feed_id_and_count() {
        let c = class("Feedbin feed-id:1306543 - 3 subscribers");
        assert_eq!(name(&c), "Feedbin");
        assert_eq!(
            c.report,
            Some(Reported {
                aggregator: "Feedbin".into(),
                feed_id: "1306543".into(),
                subscribers: 3
            })
        );
    }

    #[test]
    fn newsblur_s_site_id_is_its_feed_id() {
        let c = class("NewsBlur Feed Fetcher - 27 subscribers - https://www.newsblur.com/site/7704055/rendezvous (\"Mozilla/5.0 (Macintosh)\")");
        assert_eq!(name(&c), "NewsBlur");
        let report = c.report.unwrap();
        assert_eq!(
            (report.feed_id.as_str(), report.subscribers),
            ("7704055", 27)
        );
    }

    #[test]
    fn one_subscriber_and_other_spellings() {
        assert_eq!(
            class("Feedbin feed-id:1 - 1 subscriber")
                .report
                .unwrap()
                .subscribers,
            1
        );
        let c = class("Netvibes (http://www.netvibes.com/; 5 subscribers; feedID: 5404723)");
        assert_eq!(c.report.unwrap().feed_id, "5404723");
        let c = class("Dreamwidth Studios (webmaster@dreamwidth.org; for https://www.dreamwidth.org/users/x/; 2 readers)");
        assert_eq!(name(&c), "other aggregators");
        let report = c.report.unwrap();
        assert_eq!(
            (report.aggregator.as_str(), report.subscribers),
            ("Dreamwidth Studios", 2)
        );
    }

    #[test]
    fn readers_and_tools_report_nothing() {
        for (ua, family) in [
            (
                "NetNewsWire (RSS Reader; https://netnewswire.com/)",
                "NetNewsWire",
            ),
            (
                "Mozilla/5.0 (compatible; Miniflux/2.0.44; +https://miniflux.app)",
                "Miniflux",
            ),
            (
                "Tiny Tiny RSS/22.08-1bd5d9ea2 (https://tt-rss.org/)",
                "Tiny Tiny RSS",
            ),
            ("curl/8.5.0", "scripts and libraries"),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "browsers",
            ),
            (
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                "crawlers",
            ),
        ] {
            let c = class(ua);
            assert_eq!(name(&c), family, "{ua}");
            assert_eq!(c.report, None, "{ua}");
        }
        assert_eq!(name(&classify(None)), "no User-Agent");
    }

    #[test]
    fn feedly_without_a_count_is_still_feedly() {
        let c = class("Feedly/1.0 (+http://www.feedly.com/fetcher.html; like FeedFetcher-Google)");
        assert_eq!((name(&c), c.report), ("Feedly", None));
        assert!(!FAMILIES[usize::from(c.family)].kind.is_direct());
    }

    #[test]
    fn absurd_counts_are_capped_and_odd_bytes_are_harmless() {
        let c = class("Evil/1.0 (99999999999999999999999999 subscribers; feed-id=<script>)");
        let report = c.report.unwrap();
        assert_eq!(report.subscribers, MAX_REPORTED);
        assert_eq!(report.feed_id, "", "only letters, digits, - and _");
        let c = classify(Some(&[
            0xff, 0xfe, b'7', b' ', b'r', b'e', b'a', b'd', b'e', b'r',
        ]));
        assert_eq!(c.report.unwrap().subscribers, 7);
        let long = format!("X ({} subscribers; feed-id={})", 5, "a".repeat(500));
        assert_eq!(class(&long).report.unwrap().feed_id.len(), MAX_FEED_ID);
        assert_eq!(
            class("v2reader/1.0").report,
            None,
            "a number glued to a word"
        );
        assert_eq!(
            class("Feedbin feed-id:1 - 3 SUBSCRIBERS")
                .report
                .unwrap()
                .subscribers,
            3
        );
    }
}
