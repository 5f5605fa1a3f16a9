//! Pure: `/stats`, the audience page: a chart of the last days' estimated
//! subscribers and requests (server-made SVG: no script, nothing from
//! another origin), a table per feed with its estimate's parts, and the
//! client families' conditional-GET habits. Set in the site's stylesheet
//! (linked by path, as the pages are), with a few rules of its own inline.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::report::{FeedReport, Report, SiteDay};

/// What the page takes from the site.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageContext {
    /// The publication's name.
    pub(crate) title: String,
    /// The site's URL path (`/`, or `/news/` under a base URL with a path).
    pub(crate) site_path: String,
    /// The site's base URL, for links to the feeds.
    pub(crate) base_url: String,
}

/// The rules the page adds to the site's stylesheet.
const STYLE: &str = "
.stats h2 { font-size: 1.5rem; margin: 2rem 0 .5rem; }
.stats h3 { font: 700 1rem/1.3 var(--sans); margin: 1rem 0 .25rem; }
.stats .lede { color: var(--muted); max-width: 46rem; }
.stats table { border-collapse: collapse; font: .875rem/1.4 var(--sans); margin: .5rem 0 1rem; width: 100%; }
.stats caption { text-align: left; font-weight: 700; padding: .25rem 0; }
.stats th, .stats td { padding: .25rem .5rem; border-bottom: 1px solid var(--hair); text-align: right; }
.stats th:first-child, .stats td:first-child { text-align: left; }
.stats thead th { border-bottom: 2px solid var(--rule); }
.stats .scroll { overflow-x: auto; }
.stats .scroll:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.stats .estimate { font: 700 1.125rem/1.4 var(--sans); }
.stats figure { margin: 1rem 0; overflow-x: auto; }
.stats figure:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.stats svg { width: 100%; min-width: 36rem; height: auto; max-width: 60rem; font-family: var(--sans); }
.stats svg text { fill: var(--ink); font-size: 13px; }
.stats svg .grid { stroke: var(--hair); stroke-width: 1; }
.stats svg .axis { stroke: var(--ink); stroke-width: 1.5; }
.stats svg .bar { fill: var(--hair); }
.stats svg .line { fill: none; stroke: var(--accent); stroke-width: 2.5; }
.stats svg .dot { fill: var(--accent); }
.stats .feed { border-top: 1px solid var(--rule); margin-top: 1.5rem; }
";

/// The page, as bytes.
pub(crate) fn html(report: &Report, context: &PageContext) -> Vec<u8> {
    let title = format!("Audience · {}", context.title);
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex, nofollow";
                title { (title) }
                link rel="stylesheet" href=(format!("{}style.css", context.site_path));
                link rel="icon" href=(format!("{}favicon.svg", context.site_path)) type="image/svg+xml";
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { "Skip to the figures" }
                header.masthead.compact {
                    p.nameplate { a href=(context.site_path) { (context.title) } }
                }
                main id="main" class="stats" {
                    header.section-head {
                        h1 { "Audience" }
                        p.standfirst {
                            "From " (report.from) " to " (report.to) " (UTC days). Today so far: "
                            strong { (thousands(report.site.subscribers)) } " estimated subscriptions to "
                            (report.feeds.len()) " feeds, " (thousands(report.site.totals.requests)) " requests in these days."
                        }
                    }
                    (chart(&report.site.daily))
                    p.lede {
                        "A feed's subscribers are estimated as the subscribers aggregators report for it (each aggregator's latest count, per feed id), "
                        "plus the distinct pollers of the day that report none (readers, browsers, scripts; not crawlers), "
                        "plus its WebSub subscriptions. Pollers are told apart by a hash of their address and user agent under a key "
                        "that changes every day and is never stored: no address or user agent is kept."
                    }
                    @for feed in &report.feeds { (feed_section(feed, &context.base_url)) }
                    @if report.feeds.is_empty() { p { "No feed has been requested in these days." } }
                    h2 id="families" { "Client families" }
                    p.lede { "Who sends validators (If-None-Match, If-Modified-Since) and so gets 304 Not Modified instead of the whole feed, over these days." }
                    div.scroll tabindex="0" role="region" aria-label="Client families" {
                        table {
                            thead { tr {
                                th scope="col" { "Family" } th scope="col" { "Kind" } th scope="col" { "Requests" }
                                th scope="col" { "With validators" } th scope="col" { "Answered 304" } th scope="col" { "429" }
                            } }
                            tbody { @for f in &report.families { tr {
                                th scope="row" { (f.family) } td { (f.kind) } td { (thousands(f.requests)) }
                                td { (percent(f.validator_share)) } td { (percent(f.not_modified_share)) } td { (thousands(f.too_many)) }
                            } } }
                        }
                    }
                    @if let Some(counting) = &report.counting {
                        p.lede {
                            "Counting holds " (thousands(counting.memory_bytes)) " bytes in memory and writes every "
                            (counting.flush_seconds) " s. Generated " (report.generated_at) "."
                        }
                    }
                    details {
                        summary { "Every day, all feeds" }
                        div.scroll tabindex="0" role="region" aria-label="Every day, all feeds" { table {
                            thead { tr { th scope="col" { "Day" } th scope="col" { "Estimated subscriptions" } th scope="col" { "Requests" } } }
                            tbody { @for day in &report.site.daily { tr {
                                th scope="row" { (day.date) } td { (thousands(day.subscribers)) } td { (thousands(day.requests)) }
                            } } }
                        } }
                    }
                }
            }
        }
    };
    let mut bytes = markup.into_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

fn feed_section(feed: &FeedReport, base_url: &str) -> Markup {
    let s = &feed.subscribers;
    let href = format!("{}{}", base_url.trim_end_matches('/'), feed.feed);
    html! {
        section.feed aria-label=(format!("Feed {}", feed.feed)) {
            h2 { a href=(href) { (feed.feed) } }
            p.estimate {
                (thousands(s.estimate)) " estimated subscribers today = "
                (thousands(s.aggregator_subscribers)) " via aggregators + "
                (thousands(s.direct_pollers)) (if s.direct_pollers == 1 { " direct poller + " } else { " direct pollers + " })
                (thousands(s.websub)) " WebSub"
            }
            @if !s.aggregators.is_empty() {
                div.scroll tabindex="0" role="region" aria-label=(format!("Aggregators of {}", feed.feed)) { table {
                    caption { "Aggregators' latest reports" }
                    thead { tr {
                        th scope="col" { "Aggregator" } th scope="col" { "Format" } th scope="col" { "Feed id" }
                        th scope="col" { "Subscribers" } th scope="col" { "Reported" }
                    } }
                    tbody { @for a in &s.aggregators { tr {
                        th scope="row" { (a.aggregator) } td { (a.format) }
                        td { @if a.feed_id.is_empty() { "—" } @else { (a.feed_id) } }
                        td { (thousands(a.subscribers)) } td { (a.reported) }
                    } } }
                } }
            }
            div.scroll tabindex="0" role="region" aria-label=(format!("Requests of {}", feed.feed)) { table {
                caption { "Requests over these days, by format (pollers and WebSub: today)" }
                thead { tr {
                    th scope="col" { "Format" } th scope="col" { "Requests" } th scope="col" { "200" } th scope="col" { "304" }
                    th scope="col" { "429" } th scope="col" { "Other" } th scope="col" { "Bytes sent" }
                    th scope="col" { "Pollers" } th scope="col" { "WebSub" }
                } }
                tbody {
                    @for f in &feed.formats { tr {
                        th scope="row" { (f.format) } td { (thousands(f.totals.requests)) } td { (thousands(f.totals.ok)) }
                        td { (thousands(f.totals.not_modified)) } td { (thousands(f.totals.too_many)) } td { (thousands(f.totals.other)) }
                        td { (thousands(f.totals.bytes)) } td { (thousands(f.pollers)) } td { (thousands(f.websub)) }
                    } }
                    tr {
                        th scope="row" { "all" } td { (thousands(feed.totals.requests)) } td { (thousands(feed.totals.ok)) }
                        td { (thousands(feed.totals.not_modified)) } td { (thousands(feed.totals.too_many)) } td { (thousands(feed.totals.other)) }
                        td { (thousands(feed.totals.bytes)) }
                        td { (thousands(feed.daily.last().map_or(0, |d| d.pollers))) }
                        td { (thousands(s.websub)) }
                    }
                }
            } }
        }
    }
}

/// The chart: estimated subscriptions (a line, left axis) and requests (bars,
/// right axis) per day.
fn chart(days: &[SiteDay]) -> Markup {
    const W: f64 = 760.0;
    const H: f64 = 320.0;
    const LEFT: f64 = 64.0;
    const RIGHT: f64 = 72.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 56.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let (sub_max, sub_step) = scale(days.iter().map(|d| d.subscribers).max().unwrap_or(0));
    let (req_max, req_step) = scale(days.iter().map(|d| d.requests).max().unwrap_or(0));
    let n = days.len().max(1);
    let slot = plot_w / n as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let y_sub = |v: u64| TOP + plot_h - plot_h * v as f64 / sub_max as f64;
    let y_req = |v: u64| TOP + plot_h - plot_h * v as f64 / req_max as f64;
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{:.1},{:.1}", x(i), y_sub(d.subscribers)))
        .collect();
    let ticks = |max: u64, step: u64| (0..=max / step).map(move |k| k * step);
    let first = days.first().map_or("", |d| d.date.as_str());
    let last = days.last().map_or("", |d| d.date.as_str());
    html! {
        // Scrolls sideways on a phone rather than shrinking its labels.
        figure tabindex="0" role="region" aria-label="Chart of the last days" {
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { "Estimated subscriptions and requests per day" }
                desc id="chart-desc" {
                    "From " (first) " to " (last) ": estimated subscriptions (line, left axis, up to "
                    (sub_max) ") and requests (bars, right axis, up to " (req_max) ") per UTC day."
                }
                // Legend.
                rect.bar x=(LEFT) y="10" width="14" height="10" {}
                text x=(LEFT + 20.0) y="19" { "Requests per day (right axis)" }
                line.line x1=(LEFT + 240.0) y1="15" x2=(LEFT + 262.0) y2="15" {}
                text x=(LEFT + 268.0) y="19" { "Estimated subscriptions (left axis)" }
                // Grid and left axis labels (subscriptions).
                @for v in ticks(sub_max, sub_step) {
                    line.grid x1=(LEFT) x2=(LEFT + plot_w) y1=(fmt(y_sub(v))) y2=(fmt(y_sub(v))) {}
                    text x=(LEFT - 8.0) y=(fmt(y_sub(v) + 4.0)) text-anchor="end" { (compact(v)) }
                }
                // Right axis labels (requests).
                @for v in ticks(req_max, req_step) {
                    text x=(LEFT + plot_w + 8.0) y=(fmt(y_req(v) + 4.0)) { (compact(v)) }
                }
                // Bars.
                @for (i, d) in days.iter().enumerate() {
                    @if d.requests > 0 {
                        rect.bar x=(fmt(x(i) - slot * 0.35)) y=(fmt(y_req(d.requests))) width=(fmt(slot * 0.7))
                            height=(fmt(TOP + plot_h - y_req(d.requests))) {}
                    }
                }
                // Axes.
                line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(TOP + plot_h) {}
                line.axis x1=(LEFT + plot_w) x2=(LEFT + plot_w) y1=(TOP) y2=(TOP + plot_h) {}
                line.axis x1=(LEFT) x2=(LEFT + plot_w) y1=(TOP + plot_h) y2=(TOP + plot_h) {}
                // Day labels: every fifth day from the last, as MM-DD.
                @for (i, d) in days.iter().enumerate() {
                    @if (n - 1 - i).is_multiple_of(5) {
                        line.axis x1=(fmt(x(i))) x2=(fmt(x(i))) y1=(TOP + plot_h) y2=(TOP + plot_h + 5.0) {}
                        text x=(fmt(x(i))) y=(TOP + plot_h + 20.0) text-anchor="middle" { (d.date.get(5..).unwrap_or(&d.date)) }
                    }
                }
                text x=(LEFT + plot_w / 2.0) y=(H - 8.0) text-anchor="middle" { "Day (UTC, month-day)" }
                // The line of subscriptions.
                polyline.line points=(points.join(" ")) {}
                @for (i, d) in days.iter().enumerate() {
                    circle.dot cx=(fmt(x(i))) cy=(fmt(y_sub(d.subscribers))) r="2.5" {}
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// A round maximum at or above `max`, and a step that divides it into at
/// most five parts (1, 2 or 5 times a power of ten).
fn scale(max: u64) -> (u64, u64) {
    if max == 0 {
        return (5, 1);
    }
    let mut magnitude = 1u64;
    while magnitude.saturating_mul(10) <= max / 5 + 1 && magnitude < u64::MAX / 100 {
        magnitude *= 10;
    }
    for step in [magnitude, magnitude * 2, magnitude * 5, magnitude * 10] {
        let top = max.div_ceil(step).max(1) * step;
        if top / step <= 5 {
            return (top, step);
        }
    }
    let step = magnitude * 10;
    (max.div_ceil(step) * step, step)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An axis label: `950`, `12k`, `1.5M`.
fn compact(n: u64) -> String {
    match n {
        0..=9_999 => thousands(n),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_get_round_maxima_and_at_most_five_steps() {
        assert_eq!(scale(0), (5, 1));
        assert_eq!(scale(3), (3, 1));
        assert_eq!(scale(7), (8, 2));
        assert_eq!(scale(134), (150, 50));
        assert_eq!(scale(1_403), (1_500, 500));
        assert_eq!(scale(99_999), (100_000, 20_000));
        for max in [1, 9, 11, 49, 51, 999, 12_345, 9_999_999] {
            let (top, step) = scale(max);
            assert!(
                top >= max && top % step == 0 && top / step <= 5,
                "{max}: {top} {step}"
            );
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(compact(25_000), "25k");
        assert_eq!(compact(2_500_000), "2.5M");
    }
}
