//! Pure: the audience figures as people read them, from what the database
//! holds: one [`Report`] that `/stats.json` serializes, `/stats` draws
//! (`page.rs`) and `broadsheet stats` prints ([`text`]), so the three
//! always agree.
//!
//! Subscribers of a feed on a day are estimated as the sum of three parts,
//! each shown:
//! - aggregators: for each aggregator and feed id it sends (per format),
//!   its latest count reported that day or in the
//!   [`REPORT_LOOKBACK_DAYS`] − 1 days before;
//! - direct pollers: distinct pollers that day that report no count and
//!   are neither aggregators nor crawlers (readers, browsers, scripts);
//! - WebSub: subscriptions active on the hub that day.
//!
//! The headline figure is today's (UTC), so far.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use super::flush::REPORT_LOOKBACK_DAYS;
use super::store::{AggregatorDay, FeedDay, Stored};
use super::tally::{Counts, FamilyCounts};
use super::user_agent::{Kind, FAMILIES};

/// The days the page and the JSON cover.
pub(crate) const DAYS: u32 = 30;

/// Everything shown.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) generated_at: String,
    /// The first and last day covered (UTC), `YYYY-MM-DD`.
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) days: u32,
    /// Every feed together.
    pub(crate) site: SiteFigures,
    /// The feeds, most subscribers first.
    pub(crate) feeds: Vec<FeedReport>,
    /// Client families, most requests first, over the days covered.
    pub(crate) families: Vec<FamilyReport>,
    /// How counting itself is doing (only from a running server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) counting: Option<Counting>,
}

/// Every feed's figures added up.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SiteFigures {
    /// Today's estimated subscribers, added over the feeds (someone who
    /// follows two feeds counts twice: these are subscriptions).
    pub(crate) subscribers: u64,
    pub(crate) totals: Totals,
    pub(crate) daily: Vec<SiteDay>,
}

/// One day of [`SiteFigures`].
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SiteDay {
    pub(crate) date: String,
    pub(crate) requests: u64,
    pub(crate) subscribers: u64,
}

/// One feed (all its formats).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FeedReport {
    /// The feed's directory: `/`, `/opinion/`, `/tags/energy/`.
    pub(crate) feed: String,
    pub(crate) subscribers: Estimate,
    /// Over the days covered.
    pub(crate) totals: Totals,
    pub(crate) formats: Vec<FormatReport>,
    pub(crate) daily: Vec<FeedDayReport>,
}

/// The subscriber estimate of a feed on a day, with its parts.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Estimate {
    pub(crate) date: String,
    pub(crate) estimate: u64,
    pub(crate) aggregator_subscribers: u64,
    pub(crate) direct_pollers: u64,
    pub(crate) websub: u64,
    /// Each aggregator's latest report, largest first.
    pub(crate) aggregators: Vec<AggregatorReport>,
}

/// An aggregator's latest report for one format of a feed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AggregatorReport {
    pub(crate) aggregator: String,
    /// `""` when it sends none.
    pub(crate) feed_id: String,
    pub(crate) format: String,
    pub(crate) subscribers: u64,
    /// The day of the report.
    pub(crate) reported: String,
}

/// Answers and bytes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) not_modified: u64,
    pub(crate) too_many: u64,
    pub(crate) other: u64,
    pub(crate) bytes: u64,
}

impl From<Counts> for Totals {
    fn from(c: Counts) -> Totals {
        Totals {
            requests: c.requests,
            ok: c.ok,
            not_modified: c.not_modified,
            too_many: c.too_many,
            other: c.other,
            bytes: c.bytes,
        }
    }
}

/// One format of a feed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FormatReport {
    pub(crate) format: String,
    /// Over the days covered.
    pub(crate) totals: Totals,
    /// Today.
    pub(crate) pollers: u64,
    pub(crate) direct_pollers: u64,
    pub(crate) websub: u64,
}

/// One day of a feed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FeedDayReport {
    pub(crate) date: String,
    #[serde(flatten)]
    pub(crate) totals: Totals,
    pub(crate) pollers: u64,
    pub(crate) direct_pollers: u64,
    pub(crate) aggregator_subscribers: u64,
    pub(crate) websub: u64,
    pub(crate) subscribers: u64,
}

/// What one client family did over the days covered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FamilyReport {
    pub(crate) family: String,
    pub(crate) kind: &'static str,
    pub(crate) requests: u64,
    pub(crate) with_validators: u64,
    /// `with_validators / requests`.
    pub(crate) validator_share: f64,
    pub(crate) not_modified: u64,
    /// `not_modified / requests`.
    pub(crate) not_modified_share: f64,
    pub(crate) too_many: u64,
}

/// How counting is doing.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Counting {
    /// Memory held by the counts not yet written and the day's sketches.
    pub(crate) memory_bytes: u64,
    /// Aggregator reports not kept for want of room (a flood of feed ids).
    pub(crate) reports_dropped: u64,
    pub(crate) flush_seconds: u64,
}

/// `YYYY-MM-DD` of a day number.
pub(crate) fn date(day: i64) -> String {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(day)))
        .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Aggregator => "aggregator",
        Kind::Reader => "reader",
        Kind::Browser => "browser",
        Kind::Crawler => "crawler",
        Kind::Tool => "tool",
        Kind::Other => "other",
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Three decimals are plenty for a share; JSON stays short.
        (part as f64 / whole as f64 * 1000.0).round() / 1000.0
    }
}

/// Builds the report of the `days` days ending with `today`, from `stored`
/// (which holds those days, and aggregator reports from
/// [`REPORT_LOOKBACK_DAYS`] − 1 days earlier), as of `now_ms`.
pub(crate) fn build(
    stored: &Stored,
    today: i64,
    days: u32,
    now_ms: i64,
    counting: Option<Counting>,
) -> Report {
    let first = today - i64::from(days.max(1)) + 1;
    // Per feed: its rows by format and day, and its reports.
    let mut rows: BTreeMap<&str, BTreeMap<(&str, i64), &FeedDay>> = BTreeMap::new();
    for row in stored
        .feeds
        .iter()
        .filter(|r| (first..=today).contains(&r.day))
    {
        rows.entry(&row.feed)
            .or_default()
            .insert((&row.format, row.day), row);
    }
    let mut reports: BTreeMap<&str, Vec<&AggregatorDay>> = BTreeMap::new();
    for report in stored.aggregators.iter().filter(|r| r.day <= today) {
        reports.entry(&report.feed).or_default().push(report);
        rows.entry(&report.feed).or_default();
    }
    for of_feed in reports.values_mut() {
        of_feed.sort_by_key(|r| r.day);
    }
    let mut feeds: Vec<FeedReport> = rows
        .iter()
        .map(|(feed, by_format)| {
            feed_report(
                feed,
                by_format,
                reports.get(feed).map_or(&[][..], Vec::as_slice),
                first,
                today,
            )
        })
        .collect();
    feeds.sort_by(|a, b| {
        b.subscribers
            .estimate
            .cmp(&a.subscribers.estimate)
            .then(b.totals.requests.cmp(&a.totals.requests))
            .then(a.feed.cmp(&b.feed))
    });
    let site = SiteFigures {
        subscribers: feeds.iter().map(|f| f.subscribers.estimate).sum(),
        totals: feeds.iter().fold(Totals::default(), |mut t, f| {
            add_totals(&mut t, &f.totals);
            t
        }),
        daily: (first..=today)
            .map(|day| {
                let index = usize::try_from(day - first).unwrap_or(0);
                let of_day = feeds.iter().filter_map(|f| f.daily.get(index));
                let (requests, subscribers) = of_day.fold((0, 0), |(r, s), d| {
                    (r + d.totals.requests, s + d.subscribers)
                });
                SiteDay {
                    date: date(day),
                    requests,
                    subscribers,
                }
            })
            .collect(),
    };
    Report {
        generated_at: DateTime::<Utc>::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        from: date(first),
        to: date(today),
        days: days.max(1),
        site,
        feeds,
        families: families(stored, first, today),
        counting,
    }
}

fn add_totals(to: &mut Totals, from: &Totals) {
    to.requests += from.requests;
    to.ok += from.ok;
    to.not_modified += from.not_modified;
    to.too_many += from.too_many;
    to.other += from.other;
    to.bytes = to.bytes.saturating_add(from.bytes);
}

fn feed_report(
    feed: &str,
    rows: &BTreeMap<(&str, i64), &FeedDay>,
    reports: &[&AggregatorDay],
    first: i64,
    today: i64,
) -> FeedReport {
    let all = |day: i64| rows.get(&("", day)).copied();
    let daily: Vec<FeedDayReport> = (first..=today)
        .map(|day| {
            let estimate = estimate(all(day), reports, day);
            let row = all(day);
            FeedDayReport {
                date: date(day),
                totals: row.map(|r| Totals::from(r.counts)).unwrap_or_default(),
                pollers: row.map_or(0, |r| r.pollers),
                direct_pollers: estimate.direct_pollers,
                aggregator_subscribers: estimate.aggregator_subscribers,
                websub: estimate.websub,
                subscribers: estimate.estimate,
            }
        })
        .collect();
    let mut totals = Totals::default();
    for day in &daily {
        add_totals(&mut totals, &day.totals);
    }
    let mut formats: BTreeMap<&str, FormatReport> = BTreeMap::new();
    for ((format, day), row) in rows {
        if format.is_empty() {
            continue;
        }
        let entry = formats.entry(format).or_insert_with(|| FormatReport {
            format: format.to_string(),
            totals: Totals::default(),
            pollers: 0,
            direct_pollers: 0,
            websub: 0,
        });
        add_totals(&mut entry.totals, &Totals::from(row.counts));
        if *day == today {
            entry.pollers = row.pollers;
            entry.direct_pollers = row.direct_pollers;
            entry.websub = row.websub.unwrap_or(0);
        }
    }
    FeedReport {
        feed: feed.to_string(),
        subscribers: estimate(all(today), reports, today),
        totals,
        formats: formats.into_values().collect(),
        daily,
    }
}

/// The estimate of `day`: from the feed's row of all formats that day, and
/// its aggregators' latest reports up to that day within the lookback.
fn estimate(all: Option<&FeedDay>, reports: &[&AggregatorDay], day: i64) -> Estimate {
    let mut latest: BTreeMap<(&str, &str, &str), &AggregatorDay> = BTreeMap::new();
    // `reports` is sorted by day (`feed_report`): only the lookback's days are read.
    let start = reports.partition_point(|r| r.day <= day - REPORT_LOOKBACK_DAYS);
    let end = reports.partition_point(|r| r.day <= day);
    for report in reports.get(start..end).unwrap_or_default() {
        let key = (
            report.format.as_str(),
            report.aggregator.as_str(),
            report.feed_id.as_str(),
        );
        match latest.get(&key) {
            Some(kept) if kept.reported_at >= report.reported_at => {}
            _ => {
                latest.insert(key, report);
            }
        }
    }
    let mut aggregators: Vec<AggregatorReport> = latest
        .values()
        .map(|r| AggregatorReport {
            aggregator: r.aggregator.clone(),
            feed_id: r.feed_id.clone(),
            format: r.format.clone(),
            subscribers: r.subscribers,
            reported: date(r.day),
        })
        .collect();
    aggregators.sort_by(|a, b| {
        b.subscribers
            .cmp(&a.subscribers)
            .then(a.aggregator.cmp(&b.aggregator))
            .then(a.format.cmp(&b.format))
            .then(a.feed_id.cmp(&b.feed_id))
    });
    let aggregator_subscribers = aggregators
        .iter()
        .fold(0u64, |sum, a| sum.saturating_add(a.subscribers));
    let direct_pollers = all.map_or(0, |r| r.direct_pollers);
    let websub = all.and_then(|r| r.websub).unwrap_or(0);
    Estimate {
        date: date(day),
        estimate: aggregator_subscribers
            .saturating_add(direct_pollers)
            .saturating_add(websub),
        aggregator_subscribers,
        direct_pollers,
        websub,
        aggregators,
    }
}

fn families(stored: &Stored, first: i64, today: i64) -> Vec<FamilyReport> {
    let mut sums: BTreeMap<&str, FamilyCounts> = BTreeMap::new();
    for row in stored
        .families
        .iter()
        .filter(|r| (first..=today).contains(&r.day))
    {
        sums.entry(&row.family).or_default().add(&row.counts);
    }
    let mut families: Vec<FamilyReport> = sums
        .into_iter()
        .filter(|(_, c)| c.requests > 0)
        .map(|(family, c)| FamilyReport {
            family: family.to_string(),
            kind: FAMILIES
                .iter()
                .find(|f| f.name == family)
                .map_or("other", |f| kind_name(f.kind)),
            requests: c.requests,
            with_validators: c.with_validators,
            validator_share: share(c.with_validators, c.requests),
            not_modified: c.not_modified,
            not_modified_share: share(c.not_modified, c.requests),
            too_many: c.too_many,
        })
        .collect();
    families.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.family.cmp(&b.family)));
    families
}

/// The report as JSON (`/stats.json`).
pub(crate) fn json(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(report).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The report as a terminal table (`broadsheet stats`).
pub(crate) fn text(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Audience from {} to {} (UTC days); subscribers as of {} (today so far)\n",
        report.from, report.to, report.to
    );
    let _ = writeln!(
        out,
        "{:<32} {:>11} {:>11} {:>7} {:>6} {:>10} {:>9} {:>9} {:>6} {:>6} {:>12}",
        "feed",
        "subscribers",
        "aggregators",
        "direct",
        "WebSub",
        "requests",
        "200",
        "304",
        "429",
        "other",
        "bytes"
    );
    for feed in &report.feeds {
        let s = &feed.subscribers;
        let t = &feed.totals;
        let _ = writeln!(
            out,
            "{:<32} {:>11} {:>11} {:>7} {:>6} {:>10} {:>9} {:>9} {:>6} {:>6} {:>12}",
            feed.feed,
            s.estimate,
            s.aggregator_subscribers,
            s.direct_pollers,
            s.websub,
            t.requests,
            t.ok,
            t.not_modified,
            t.too_many,
            t.other,
            t.bytes
        );
        for a in &s.aggregators {
            let id = if a.feed_id.is_empty() {
                String::new()
            } else {
                format!(" feed-id {}", a.feed_id)
            };
            let _ = writeln!(
                out,
                "  {:<42} {:>11} subscribers, reported {}",
                format!("{} ({}){id}", a.aggregator, a.format),
                a.subscribers,
                a.reported
            );
        }
    }
    if report.feeds.is_empty() {
        let _ = writeln!(out, "(no feed was requested in these days)");
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:<10} {:>10} {:>16} {:>13} {:>6}",
        "client family", "kind", "requests", "with validators", "answered 304", "429"
    );
    for f in &report.families {
        let _ = writeln!(
            out,
            "{:<24} {:<10} {:>10} {:>15.1}% {:>12.1}% {:>6}",
            f.family,
            f.kind,
            f.requests,
            f.validator_share * 100.0,
            f.not_modified_share * 100.0,
            f.too_many
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audience::store::FamilyDay;

    fn row(day: i64, format: &str, requests: u64, direct: u64, websub: u64) -> FeedDay {
        FeedDay {
            day,
            feed: "/".into(),
            format: format.into(),
            counts: Counts {
                requests,
                ok: requests,
                ..Counts::default()
            },
            pollers: direct + 1,
            direct_pollers: direct,
            websub: Some(websub),
        }
    }

    fn report(day: i64, aggregator: &str, id: &str, subscribers: u64, at: i64) -> AggregatorDay {
        AggregatorDay {
            day,
            feed: "/".into(),
            format: "rss".into(),
            aggregator: aggregator.into(),
            feed_id: id.into(),
            subscribers,
            reported_at: at,
        }
    }

    #[test]
    fn the_estimate_is_its_parts_and_each_feed_id_counts_apart() {
        let stored = Stored {
            feeds: vec![
                row(100, "", 10, 4, 2),
                row(100, "rss", 10, 4, 2),
                row(99, "", 5, 1, 0),
            ],
            aggregators: vec![
                report(100, "Feedbin", "1", 3, 2),
                report(100, "Feedbin", "2", 5, 1),
                report(99, "Feedly", "", 100, 1),
                report(100, "Feedly", "", 120, 5),
                // Older than the lookback for day 100.
                report(92, "NewsBlur", "", 50, 1),
            ],
            families: vec![FamilyDay {
                day: 100,
                family: "Feedly".into(),
                counts: FamilyCounts {
                    requests: 4,
                    with_validators: 3,
                    not_modified: 2,
                    too_many: 1,
                },
            }],
        };
        let r = build(&stored, 100, 30, 0, None);
        let feed = &r.feeds[0];
        let s = &feed.subscribers;
        assert_eq!(
            (s.aggregator_subscribers, s.direct_pollers, s.websub),
            (128, 4, 2)
        );
        assert_eq!(s.estimate, 134);
        assert_eq!(s.aggregators.len(), 3);
        assert_eq!(feed.totals.requests, 15);
        let yesterday = &feed.daily[28];
        assert_eq!(yesterday.date, "1970-04-10");
        assert_eq!(
            yesterday.subscribers,
            100 + 1,
            "Feedly's then count and one direct poller"
        );
        assert_eq!(r.site.daily[29].subscribers, 134);
        assert_eq!(r.families[0].validator_share, 0.75);
        assert_eq!(r.families[0].kind, "aggregator");
        let text = text(&r);
        assert!(text.contains("Feedly (rss)"), "{text}");
        assert!(text.contains("feed-id 2"), "{text}");
        let json: serde_json::Value = serde_json::from_slice(&json(&r)).unwrap();
        assert_eq!(json["feeds"][0]["subscribers"]["estimate"], 134);
    }
}
