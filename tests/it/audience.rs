//! Audience counting (`[stats]`), proved by replaying recorded request
//! streams against a server over loopback: the real user agents of the
//! major aggregators (with counts, feed ids, repeats and a changed count
//! across the day), direct pollers with and without validators, a crawler,
//! a client without a user agent; then `/stats.json` and `broadsheet
//! stats` must give exactly what the stream implies (computed here, apart
//! from the server's code). Also: 100,000 random user agents in bounded
//! memory, a restart that keeps the history, no address or direct
//! poller's user agent in the database file, who may see the page, and
//! the page in Chromium (axe, and a screenshot).
//!
//! The server trusts 127.0.0.1 as a proxy, so `X-Forwarded-For` names each
//! poller's address; requests without it come from 127.0.0.1, a loopback
//! client, which may see the page.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::fixture::{client, raw, raw_status, spawn_serving, url, Site};
use crate::prelude::RunningServer;

/// The aggregator families (from `src/audience/user_agent.rs`): never
/// direct pollers.
const AGGREGATORS: &[&str] = &[
    "Feedly",
    "Inoreader",
    "Feedbin",
    "NewsBlur",
    "The Old Reader",
    "BazQux",
    "Feedspot",
    "Bloglovin'",
    "Netvibes",
    "Newsify",
    "Blogtrottr",
    "Google Feedfetcher",
    "other aggregators",
];

/// A recorded user agent, from `tests/fixtures/audience/user-agents.toml`.
#[derive(Debug, Clone)]
struct Agent {
    user_agent: String,
    family: String,
    aggregator: String,
    subscribers: u64,
    feed_id: String,
}

fn recorded_agents() -> Vec<Agent> {
    let text = std::fs::read_to_string(
        crate::fixture::repo_root().join("tests/fixtures/audience/user-agents.toml"),
    )
    .expect("the fixture");
    let table: toml::Table = text.parse().expect("TOML");
    table["agent"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| {
            let family = a["family"].as_str().unwrap().to_string();
            Agent {
                user_agent: a["user_agent"].as_str().unwrap().to_string(),
                aggregator: a
                    .get("aggregator")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&family)
                    .to_string(),
                family,
                subscribers: a["subscribers"].as_integer().unwrap() as u64,
                feed_id: a["feed_id"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// One request of a stream.
#[derive(Debug, Clone)]
struct Poll {
    path: String,
    user_agent: Option<String>,
    /// The client's address (sent as `X-Forwarded-For`).
    client: String,
    /// Send the ETag of the last answer for this path back.
    validators: bool,
    /// The family the page should file it under.
    family: String,
    /// The report it carries: (aggregator, feed id, subscribers).
    report: Option<(String, String, u64)>,
}

/// What a stream implies, computed from the polls and the answers.
#[derive(Debug, Default)]
struct Expected {
    /// (feed, format) -> counts [requests, 200, 304, other, bytes].
    counts: BTreeMap<(String, String), [u64; 5]>,
    /// (feed, format) -> pollers, and direct pollers: (client, user agent).
    pollers: BTreeMap<(String, String), BTreeSet<(String, String)>>,
    direct: BTreeMap<(String, String), BTreeSet<(String, String)>>,
    /// (feed, format, aggregator, feed id) -> the latest count.
    reports: BTreeMap<(String, String, String, String), u64>,
    /// family -> [requests, with validators, 304].
    families: BTreeMap<String, [u64; 3]>,
}

impl Expected {
    fn union(map: &BTreeMap<(String, String), BTreeSet<(String, String)>>, feed: &str) -> usize {
        map.iter()
            .filter(|((f, _), _)| f == feed)
            .flat_map(|(_, set)| set.iter())
            .collect::<BTreeSet<_>>()
            .len()
    }

    fn feeds(&self) -> BTreeSet<String> {
        self.counts.keys().map(|(feed, _)| feed.clone()).collect()
    }
}

/// The feed and format of a feed path.
fn split(path: &str) -> (String, String) {
    let at = path.rfind('/').unwrap() + 1;
    let format = match &path[at..] {
        "rss.xml" => "rss",
        "atom.xml" => "atom",
        "feed.json" => "json",
        other => panic!("not a feed: {other}"),
    };
    (path[..at].to_string(), format.to_string())
}

/// Sends `polls` in order and returns what they imply.
async fn replay(server: &RunningServer, polls: &[Poll]) -> Expected {
    let http = client();
    let mut etags: BTreeMap<String, String> = BTreeMap::new();
    let mut expected = Expected::default();
    for poll in polls {
        let mut request = http
            .get(url(server, &poll.path))
            .header("X-Forwarded-For", &poll.client);
        if let Some(ua) = &poll.user_agent {
            request = request.header("User-Agent", ua);
        }
        let validators = poll.validators && etags.contains_key(&poll.path);
        if validators {
            request = request.header("If-None-Match", &etags[&poll.path]);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        if let Some(etag) = response.headers().get("etag") {
            etags.insert(poll.path.clone(), etag.to_str().unwrap().to_string());
        }
        let bytes = response.bytes().await.expect("a body").len() as u64;
        let key = split(&poll.path);
        let counts = expected.counts.entry(key.clone()).or_default();
        counts[0] += 1;
        match status {
            200 => counts[1] += 1,
            304 => counts[2] += 1,
            _ => counts[3] += 1,
        }
        counts[4] += bytes;
        let who = (
            poll.client.clone(),
            poll.user_agent.clone().unwrap_or_default(),
        );
        expected
            .pollers
            .entry(key.clone())
            .or_default()
            .insert(who.clone());
        match &poll.report {
            Some((aggregator, feed_id, subscribers)) => {
                expected.reports.insert(
                    (
                        key.0.clone(),
                        key.1.clone(),
                        aggregator.clone(),
                        feed_id.clone(),
                    ),
                    *subscribers,
                );
            }
            None => {
                if !AGGREGATORS.contains(&poll.family.as_str()) && poll.family != "crawlers" {
                    expected.direct.entry(key.clone()).or_default().insert(who);
                }
            }
        }
        let family = expected.families.entry(poll.family.clone()).or_default();
        family[0] += 1;
        family[1] += u64::from(validators);
        family[2] += u64::from(status == 304);
    }
    expected
}

/// The recorded stream: every recorded agent polls three times in the day
/// (the second and third time with its validators; a reporting agent's
/// third poll reports one subscriber more), on one of four feeds; twelve
/// direct pollers (one reader on two formats of a feed), a client without
/// a user agent, a crawler.
fn recorded_stream() -> Vec<Poll> {
    let feeds = [
        "/rss.xml",
        "/opinion/atom.xml",
        "/comment/feed.json",
        "/opinion/rss.xml",
    ];
    let mut polls = Vec::new();
    for round in 0..3 {
        for (i, agent) in recorded_agents().iter().enumerate() {
            let subscribers = agent.subscribers + u64::from(round == 2 && agent.subscribers > 0);
            let user_agent = if subscribers != agent.subscribers {
                let (was, now) = (agent.subscribers, subscribers);
                let changed = agent
                    .user_agent
                    .replacen(
                        &format!("{was} subscriber"),
                        &format!("{now} subscriber"),
                        1,
                    )
                    .replacen(&format!("{was} reader"), &format!("{now} reader"), 1);
                assert_ne!(changed, agent.user_agent);
                changed
            } else {
                agent.user_agent.clone()
            };
            polls.push(Poll {
                path: feeds[i % feeds.len()].to_string(),
                user_agent: Some(user_agent),
                client: format!("198.51.100.{}", i + 1),
                validators: round > 0,
                family: agent.family.clone(),
                report: (agent.subscribers > 0)
                    .then(|| (agent.aggregator.clone(), agent.feed_id.clone(), subscribers)),
            });
        }
        for reader in 0..12 {
            let path = if reader == 0 && round == 1 {
                "/opinion/atom.xml"
            } else {
                "/opinion/rss.xml"
            };
            polls.push(Poll {
                path: path.to_string(),
                user_agent: Some(format!(
                    "SecretReader/9.{reader} (+https://reader.example/{reader})"
                )),
                client: format!("203.0.113.{}", 10 + reader),
                validators: reader % 2 == 0,
                family: "other".into(),
                report: None,
            });
        }
        polls.push(Poll {
            path: "/rss.xml".into(),
            user_agent: None,
            client: "192.0.2.44".into(),
            validators: false,
            family: "no User-Agent".into(),
            report: None,
        });
        polls.push(Poll {
            path: "/rss.xml".into(),
            user_agent: Some(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
            ),
            client: "192.0.2.45".into(),
            validators: false,
            family: "crawlers".into(),
            report: None,
        });
    }
    polls
}

/// The bundled site, trusting 127.0.0.1 as a proxy, with `stats` lines in `[stats]`.
fn counted_site(stats: &str) -> Site {
    let site = Site::bundled_with_server("trusted_proxies = [\"127.0.0.1\"]");
    site.append("config.toml", &format!("\n[stats]\n{stats}\n"));
    site
}

async fn stats_json(server: &RunningServer) -> Value {
    let response = client()
        .get(url(server, "/stats.json"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "private, no-store",
        "no shared cache keeps it"
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).expect("JSON")
}

fn feed<'a>(json: &'a Value, feed: &str) -> &'a Value {
    json["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feed"] == feed)
        .unwrap_or_else(|| panic!("no feed {feed} in {json:#}"))
}

/// Checks `json` (the page's or the CLI's) against `expected`.
fn check_figures(json: &Value, expected: &Expected) {
    for dir in expected.feeds() {
        let f = feed(json, &dir);
        let mut total = [0u64; 5];
        for ((d, format), counts) in &expected.counts {
            if *d != dir {
                continue;
            }
            let row = f["formats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["format"] == format.as_str())
                .unwrap_or_else(|| panic!("{dir} {format} in {f:#}"));
            let t = &row["totals"];
            assert_eq!(
                [
                    &t["requests"],
                    &t["ok"],
                    &t["not_modified"],
                    &t["other"],
                    &t["bytes"]
                ],
                counts.map(Value::from).each_ref(),
                "{dir} {format}"
            );
            let key = (dir.clone(), format.clone());
            assert_eq!(
                row["pollers"],
                expected.pollers[&key].len(),
                "{dir} {format} pollers"
            );
            assert_eq!(
                row["direct_pollers"],
                expected.direct.get(&key).map_or(0, BTreeSet::len),
                "{dir} {format} direct pollers"
            );
            for (t, c) in total.iter_mut().zip(counts) {
                *t += c;
            }
        }
        assert_eq!(f["totals"]["requests"], total[0], "{dir}");
        assert_eq!(f["totals"]["bytes"], total[4], "{dir}");
        let today = f["daily"].as_array().unwrap().last().unwrap();
        assert_eq!(
            today["pollers"],
            Expected::union(&expected.pollers, &dir),
            "{dir}: the union of its formats' pollers"
        );
        let s = &f["subscribers"];
        let direct = Expected::union(&expected.direct, &dir);
        assert_eq!(s["direct_pollers"], direct, "{dir} direct pollers");
        let reports: BTreeMap<(String, String, String), u64> = expected
            .reports
            .iter()
            .filter(|((d, ..), _)| *d == dir)
            .map(|((_, format, aggregator, id), n)| {
                ((format.clone(), aggregator.clone(), id.clone()), *n)
            })
            .collect();
        let shown: BTreeMap<(String, String, String), u64> = s["aggregators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    (
                        a["format"].as_str().unwrap().to_string(),
                        a["aggregator"].as_str().unwrap().to_string(),
                        a["feed_id"].as_str().unwrap().to_string(),
                    ),
                    a["subscribers"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown, reports,
            "{dir}: each aggregator's latest count, per feed id"
        );
        let aggregated: u64 = reports.values().sum();
        assert_eq!(s["aggregator_subscribers"], aggregated, "{dir}");
        assert_eq!(s["websub"], 0, "{dir}");
        assert_eq!(
            s["estimate"],
            aggregated + direct as u64,
            "{dir}: the sum of its parts"
        );
    }
    for (family, [requests, validators, not_modified]) in &expected.families {
        let row = json["families"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["family"] == family.as_str())
            .unwrap_or_else(|| panic!("family {family} in {:#}", json["families"]));
        assert_eq!(
            [
                &row["requests"],
                &row["with_validators"],
                &row["not_modified"]
            ],
            [requests, validators, not_modified]
                .map(|n| Value::from(*n))
                .each_ref(),
            "{family}"
        );
    }
}

/// Runs `broadsheet stats ARGS` on `site`.
fn stats_cli(site: &Site, args: &[&str]) -> std::process::Output {
    let mut all = vec!["stats"];
    all.extend_from_slice(args);
    site.run(&all)
}

#[tokio::test]
async fn a_replayed_stream_gives_the_figures_it_implies_on_the_page_the_json_and_the_cli() {
    let site = counted_site("");
    let server = site.serve();
    let expected = replay(&server, &recorded_stream()).await;
    // Some figures, by hand, so that the computation above is checked too.
    let feedly = &expected.reports[&(
        "/".to_string(),
        "rss".to_string(),
        "Feedly".to_string(),
        String::new(),
    )];
    assert_eq!(
        *feedly, 463,
        "the third poll's count, one more than recorded"
    );
    assert!(
        expected.counts[&("/opinion/".into(), "rss".into())][2] > 0,
        "some 304s"
    );
    let json = stats_json(&server).await;
    check_figures(&json, &expected);
    // The CLI reads the database while the server runs, and agrees.
    let output = stats_cli(&site, &["--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_cli: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    check_figures(&from_cli, &expected);
    assert_eq!(from_cli["feeds"], json["feeds"]);
    // The table, for one feed.
    let output = stats_cli(&site, &["--feed", "/opinion/rss.xml", "--days", "7"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8(output.stdout).unwrap();
    let opinion = feed(&json, "/opinion/");
    let line = table
        .lines()
        .find(|l| l.starts_with("/opinion/ "))
        .unwrap_or_else(|| panic!("{table}"));
    let numbers: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        numbers[1],
        opinion["subscribers"]["estimate"].to_string(),
        "{line}"
    );
    assert_eq!(
        numbers[5],
        opinion["totals"]["requests"].to_string(),
        "{line}"
    );
    assert!(
        !table.contains("/comment/"),
        "only the feed asked for:\n{table}"
    );
    assert!(table.contains("Feedbin (rss) feed-id 1697787"), "{table}");
    // The page shows the same parts.
    let page = client()
        .get(url(&server, "/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let estimate = &opinion["subscribers"];
    assert!(
        page.contains(&format!(
            "{} via aggregators + {} direct pollers + 0 WebSub",
            estimate["aggregator_subscribers"], estimate["direct_pollers"]
        )),
        "{page}"
    );
    assert!(page.contains("<svg"), "the chart");
}

/// Sends `count` pipelined `HEAD /rss.xml` requests, each with a user agent
/// and address of its own, on one connection; returns how many were answered 200.
fn burst(addr: SocketAddr, from: u32, count: u32) -> u32 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answered = 0;
    let mut pending = Vec::new();
    let batch = 500;
    let mut sent = 0;
    while sent < count {
        let n = batch.min(count - sent);
        let mut requests = String::new();
        for i in from + sent..from + sent + n {
            requests.push_str(&format!(
                "HEAD /rss.xml HTTP/1.1\r\nHost: x\r\nUser-Agent: Random/{i:x}.{} (+https://r{i}.example/)\r\nX-Forwarded-For: 10.{}.{}.{}\r\n\r\n",
                i.wrapping_mul(2_654_435_761),
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            ));
        }
        stream.write_all(requests.as_bytes()).expect("send");
        sent += n;
        // Read this batch's answers (heads only: HEAD) before the next.
        let mut seen = 0;
        while seen < n {
            let mut buf = [0u8; 65536];
            let got = stream.read(&mut buf).expect("read");
            assert!(got > 0, "the server closed the connection");
            pending.extend_from_slice(&buf[..got]);
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                if pending.starts_with(b"HTTP/1.1 200") {
                    answered += 1;
                }
                pending.drain(..end + 4);
                seen += 1;
            }
        }
    }
    answered
}

#[tokio::test]
async fn a_burst_of_100000_random_user_agents_is_counted_in_bounded_memory() {
    let site = counted_site("");
    let server = site.serve();
    let addr = server.local_addr();
    let run = move |from: u32, count: u32| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let part = count / 4;
                std::thread::spawn(move || burst(addr, from + t * part, part))
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum::<u32>()
    };
    let first = tokio::task::spawn_blocking(move || run(0, 20_000))
        .await
        .unwrap();
    assert_eq!(first, 20_000);
    let after_20k = stats_json(&server).await;
    let rest = tokio::task::spawn_blocking(move || run(20_000, 80_000))
        .await
        .unwrap();
    assert_eq!(rest, 80_000);
    let json = stats_json(&server).await;
    let rss = feed(&json, "/")["formats"][0].clone();
    assert_eq!(rss["format"], "rss");
    assert_eq!(rss["totals"]["requests"], 100_000, "every request counted");
    let pollers = rss["pollers"].as_u64().unwrap();
    // A HyperLogLog of 1,024 registers: a standard error of 3.3 %.
    assert!(
        (85_000..=115_000).contains(&pollers),
        "about 100,000 distinct pollers: {pollers}"
    );
    let memory = |json: &Value| json["counting"]["memory_bytes"].as_u64().unwrap();
    assert!(memory(&json) < 1024 * 1024, "{}", memory(&json));
    assert!(
        memory(&json) <= memory(&after_20k) + 64 * 1024,
        "the flood does not grow memory: {} after 20,000, {} after 100,000",
        memory(&after_20k),
        memory(&json)
    );
    let families = json["families"].as_array().unwrap();
    assert_eq!(families[0]["family"], "other");
    assert_eq!(families[0]["requests"], 100_000);
}

#[tokio::test]
async fn websub_subscriptions_are_part_of_the_estimate() {
    let site = counted_site("");
    site.append(
        "config.toml",
        "\n[websub]\nallow_private_callbacks = true\n",
    );
    let server = site.serve();
    let subscriber = crate::websub::Subscriber::start();
    for (n, path) in ["/a", "/b"].into_iter().enumerate() {
        let callback = subscriber.callback(path);
        let (status, body) = crate::websub::hub_request(
            &server,
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", "http://127.0.0.1:8080/opinion/rss.xml"),
                ("hub.callback", &callback),
            ],
        )
        .await;
        assert_eq!(status, 202, "{body}");
        crate::fixture::eventually(Duration::from_secs(5), "the subscription", || async {
            (crate::websub::websub_health(&server).await["subscriptions"] == n + 1).then_some(())
        })
        .await;
    }
    let expected = replay(
        &server,
        &[Poll {
            path: "/opinion/atom.xml".into(),
            user_agent: Some("Feedbin feed-id:9 - 5 subscribers".into()),
            client: "198.51.100.1".into(),
            validators: false,
            family: "Feedbin".into(),
            report: Some(("Feedbin".into(), "9".into(), 5)),
        }],
    )
    .await;
    assert_eq!(expected.counts.len(), 1);
    let json = stats_json(&server).await;
    let opinion = feed(&json, "/opinion/");
    let s = &opinion["subscribers"];
    assert_eq!(
        (&s["websub"], &s["aggregator_subscribers"]),
        (&Value::from(2), &Value::from(5))
    );
    assert_eq!(s["estimate"], 7);
    let rss = opinion["formats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["format"] == "rss")
        .expect("the rss feed, subscribed though never polled");
    assert_eq!(rss["websub"], 2);
    assert_eq!(rss["totals"]["requests"], 0);
}

#[tokio::test]
async fn a_restart_keeps_the_history_and_the_reports() {
    let site = counted_site("");
    let poll = |ua: &str, client: &str| Poll {
        path: "/opinion/rss.xml".into(),
        user_agent: Some(ua.into()),
        client: client.into(),
        validators: false,
        family: String::new(),
        report: None,
    };
    let first = site.serve();
    let before = [
        poll("Feedbin feed-id:7 - 40 subscribers", "198.51.100.1"),
        poll(
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            "203.0.113.1",
        ),
        poll(
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            "203.0.113.2",
        ),
        poll(
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            "203.0.113.3",
        ),
    ];
    replay(&first, &before).await;
    first.shutdown();
    crate::fixture::join_within(first, Duration::from_secs(30)).await;
    let second = site.serve();
    let after = [
        poll("Feedbin feed-id:7 - 41 subscribers", "198.51.100.1"),
        poll(
            "NetNewsWire (RSS Reader; https://netnewswire.com/)",
            "203.0.113.1",
        ),
    ];
    replay(&second, &after).await;
    let json = stats_json(&second).await;
    let opinion = feed(&json, "/opinion/");
    assert_eq!(
        opinion["totals"]["requests"], 6,
        "the counts before the restart are kept"
    );
    let s = &opinion["subscribers"];
    assert_eq!(s["aggregators"][0]["subscribers"], 41, "the latest report");
    assert_eq!(s["aggregators"].as_array().unwrap().len(), 1);
    // A new key after a restart: the day's pollers are the larger part.
    assert_eq!(s["direct_pollers"], 3);
    assert_eq!(s["estimate"], 44);
}

#[tokio::test]
async fn no_address_or_user_agent_of_a_direct_poller_is_in_the_database() {
    let site = counted_site("");
    let server = site.serve();
    replay(&server, &recorded_stream()).await;
    server.shutdown();
    crate::fixture::join_within(server, Duration::from_secs(30)).await;
    let dir = site.path(".broadsheet");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audience")
        })
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("audience.sqlite3")),
        "{files:?}"
    );
    let bytes: Vec<u8> = files
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for reader in 0..12u8 {
        let ua = format!("SecretReader/9.{reader} (+https://reader.example/{reader})");
        assert!(!contains(ua.as_bytes()), "{ua} is in the database");
        let address = format!("203.0.113.{}", 10 + reader);
        assert!(
            !contains(address.as_bytes()),
            "{address} is in the database"
        );
        assert!(
            !contains(&[203, 0, 113, 10 + reader]),
            "{address}, as bytes"
        );
    }
    assert!(!contains(b"SecretReader"));
    assert!(!contains(b"reader.example"));
    assert!(!contains(b"198.51.100."), "nor an aggregator's address");
    assert!(!contains(b"Mozilla/5.0"), "nor a raw user agent");
    // What is stored: figures, aggregators' names and the feed ids they send.
    assert!(contains(b"Feedbin") && contains(b"1697787"));
}

#[tokio::test]
async fn the_page_is_private_unless_asked_from_loopback_or_with_the_token() {
    let token = "tok-0123456789abcdef";
    let site = counted_site(&format!("token = \"{token}\""));
    let server = site.serve();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = client().get(url(&server, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let outsider = ("X-Forwarded-For", "203.0.113.9");
    for path in ["/stats", "/stats.json"] {
        let missing = get("/no-such-page", &[outsider]).await.unwrap();
        let response = get(path, &[outsider]).await.unwrap();
        assert_eq!(response.status(), 404, "{path}: as if it did not exist");
        assert_eq!(
            response.text().await.unwrap(),
            missing.text().await.unwrap()
        );
        let wrong = get(
            path,
            &[outsider, ("Authorization", "Bearer tok-0123456789abcdeX")],
        )
        .await
        .unwrap();
        assert_eq!(wrong.status(), 404, "{path}");
        let right = get(
            path,
            &[outsider, ("Authorization", &format!("Bearer {token}"))],
        )
        .await
        .unwrap();
        assert_eq!(right.status(), 200, "{path}");
        assert_eq!(right.headers()["cache-control"], "private, no-store");
        assert_eq!(right.headers()["x-content-type-options"], "nosniff");
        let local = get(path, &[]).await.unwrap();
        assert_eq!(local.status(), 200, "{path} from loopback");
    }
    let page = get("/stats", &[]).await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let post = client().post(url(&server, "/stats")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    // Behind a proxy on the same machine: loopback needs the token too.
    let site = counted_site("trust_loopback = false");
    let server = site.serve();
    assert_eq!(
        raw_status(&raw(
            server.local_addr(),
            "GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )),
        404
    );
    // Counting off: no page, no database.
    let site = counted_site("enabled = false");
    let server = site.serve();
    assert_eq!(
        raw_status(&raw(
            server.local_addr(),
            "GET /stats.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )),
        404
    );
    drop(server);
    assert!(!site.path(".broadsheet/audience.sqlite3").exists());
}

#[test]
fn the_token_may_come_from_the_environment() {
    let token = "env-token-0123456789";
    let site = counted_site("trust_loopback = false");
    let (_server, addr, _) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .args(["serve", "--no-watch", "--bind", "127.0.0.1:0", "--root"])
            .arg(site.root())
            .env("RUST_LOG", "warn")
            .env("BROADSHEET_STATS_TOKEN", token),
    );
    let ask = |auth: &str| {
        raw_status(&raw(
            addr,
            &format!("GET /stats.json HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
        ))
    };
    assert_eq!(ask(""), 404);
    assert_eq!(ask(&format!("Authorization: Bearer {token}\r\n")), 200);
    // A token too short to be a secret stops the start.
    let output = Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .args(["serve", "--no-watch", "--bind", "127.0.0.1:0", "--root"])
        .arg(site.root())
        .env("RUST_LOG", "warn")
        .env("BROADSHEET_STATS_TOKEN", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BROADSHEET_STATS_TOKEN"), "{stderr}");
    assert!(
        !stderr.contains("short"),
        "the token is never printed: {stderr}"
    );
}

/// Counts not yet written when `SIGTERM` or `SIGINT` comes are written
/// before the process exits (well within the 2 s between writes).
#[test]
fn every_count_is_written_before_exit_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let site = counted_site("");
        let (mut server, addr, _) = spawn_serving(
            Command::new(env!("CARGO_BIN_EXE_broadsheet"))
                .args(["serve", "--no-watch", "--bind", "127.0.0.1:0", "--root"])
                .arg(site.root())
                .env("RUST_LOG", "warn"),
        );
        for i in 0..50 {
            let response = raw(
                addr,
                &format!("GET /opinion/atom.xml HTTP/1.1\r\nHost: x\r\nUser-Agent: R{i}\r\nConnection: close\r\n\r\n"),
            );
            assert_eq!(raw_status(&response), 200);
        }
        let kill = format!("kill -s {signal} {}", server.0.id());
        assert!(Command::new("sh")
            .args(["-c", &kill])
            .status()
            .unwrap()
            .success());
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while server.0.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "still running after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = stats_cli(&site, &["--json", "--feed", "opinion"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: Value = serde_json::from_slice(&output.stdout).unwrap();
        let opinion = feed(&json, "/opinion/");
        assert_eq!(opinion["totals"]["requests"], 50, "SIG{signal}");
        assert_eq!(opinion["subscribers"]["direct_pollers"], 50, "SIG{signal}");
        assert_eq!(json["feeds"].as_array().unwrap().len(), 1, "--feed");
    }
}

#[test]
fn the_cli_says_when_nothing_was_counted_yet() {
    let site = Site::bundled();
    let output = stats_cli(&site, &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("audience.sqlite3") && stderr.contains("nothing has been counted yet"),
        "{stderr}"
    );
    assert!(!stats_cli(&site, &["--days", "0"]).status.success());
}

#[tokio::test]
async fn days_past_the_horizon_are_deleted() {
    let site = counted_site("retention_days = 30");
    let first = site.serve();
    first.shutdown();
    crate::fixture::join_within(first, Duration::from_secs(30)).await;
    let database = site.path(".broadsheet/audience.sqlite3");
    let today = chrono::Utc::now().timestamp().div_euclid(86_400);
    write_history(&database, today);
    let db = rusqlite::Connection::open(&database).unwrap();
    db.execute(
        "INSERT INTO feed_day (day, feed, format, requests) VALUES (?1, '/', 'rss', 7)",
        [today - 500],
    )
    .unwrap();
    let days = |db: &rusqlite::Connection| -> (i64, i64) {
        db.query_row(
            "SELECT MIN(day), COUNT(DISTINCT day) FROM feed_day",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(days(&db), (today - 500, 30));
    drop(db);
    let server = site.serve();
    // Deleted at start, before the first request.
    stats_json(&server).await;
    let db = rusqlite::Connection::open(&database).unwrap();
    assert_eq!(
        days(&db),
        (today - 29, 29),
        "the 30 days up to today are kept"
    );
}

/// Writes 29 days of history before today into the site's audience
/// database (made by a first start), as a month of polling would have.
fn write_history(database: &Path, today: i64) {
    let db = rusqlite::Connection::open(database).unwrap();
    for back in 1..30i64 {
        let day = today - back;
        let growth = 30 - back;
        for (feed, format, requests, direct) in [
            ("/", "rss", 400 + 9 * growth, 8 + growth / 3),
            ("/opinion/", "atom", 150 + 4 * growth, 3 + growth / 6),
        ] {
            for fmt in [format, ""] {
                db.execute(
                    "INSERT INTO feed_day (day, feed, format, requests, ok, not_modified, bytes, pollers, direct_pollers)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    rusqlite::params![day, feed, fmt, requests, requests / 5, requests - requests / 5, requests * 900, direct + 3, direct],
                )
                .unwrap();
            }
        }
        db.execute(
            "INSERT INTO aggregator_day (day, feed, format, aggregator, feed_id, subscribers, reported_at)
             VALUES (?1, '/', 'rss', 'Feedly', '', ?2, ?3)",
            rusqlite::params![day, 420 + growth, day * 86_400_000],
        )
        .unwrap();
    }
}

/// The page after a replay, in Chromium: axe finds no serious violation
/// (light and dark, 390 and 1280 px, no request to another origin), and a
/// screenshot is taken (to `$STATS_SCREENSHOT` when set, for a person to
/// look at).
#[tokio::test]
async fn the_page_in_chromium_passes_axe_and_is_screenshotted() {
    let a11y = crate::fixture::repo_root().join("tests/a11y");
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing: apt-get update && apt-get install -y chromium"
    );
    assert!(
        a11y.join("node_modules/axe-core").is_dir()
            && a11y.join("node_modules/playwright-core").is_dir(),
        "axe-core and playwright-core are missing: run `npm ci` in tests/a11y"
    );
    let site = counted_site("");
    let first = site.serve();
    first.shutdown();
    crate::fixture::join_within(first, Duration::from_secs(30)).await;
    let today = chrono::Utc::now().timestamp().div_euclid(86_400);
    write_history(&site.path(".broadsheet/audience.sqlite3"), today);
    let server = site.serve();
    replay(&server, &recorded_stream()).await;
    let base = format!("http://{}", server.local_addr());
    let node = move |args: Vec<String>| {
        let output = Command::new("node")
            .current_dir(&a11y)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js"));
        assert!(
            output.status.success(),
            "node {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let out = std::env::var_os("STATS_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| site.path("stats.png"));
    let run = tokio::task::spawn_blocking(move || {
        node(vec!["check.mjs".into(), base.clone(), "/stats".into()]);
        node(vec![
            "screenshot.mjs".into(),
            format!("{base}/stats"),
            out.to_string_lossy().into_owned(),
            "1280".into(),
        ]);
        // And as a phone shows it, in the dark scheme, beside it.
        let phone = out.with_file_name(format!(
            "{}-390-dark.png",
            out.file_stem().unwrap().to_string_lossy()
        ));
        node(vec![
            "screenshot.mjs".into(),
            format!("{base}/stats"),
            phone.to_string_lossy().into_owned(),
            "390".into(),
            "dark".into(),
        ]);
        out
    });
    let out = run.await.unwrap();
    let png = std::fs::read(&out).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        out.display()
    );
}
