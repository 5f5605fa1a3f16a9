//! A deterministic synthetic site for benchmarks: `config.toml` and
//! `content/` with N realistic articles spread over S sections.
//!
//! ```sh
//! cargo run --release --example gen_corpus -- DIR --articles N --sections S --seed K
//! ```
//!
//! The same arguments always give byte-identical files (a splitmix64
//! generator seeded with K, no clock, no hash-map order). Each article has
//! about 400 words of Markdown: paragraphs, emphasis, an absolute link, a
//! relative link to another article, a blockquote and, in about one article
//! in eight, an image. Some bylines are non-ASCII (Chinese, accented, Arabic)
//! and some are `{ name, role }` tables; tags and an optional `description`
//! complete the front matter. Dates are one minute apart going back from
//! 2024-05-20T08:00:00Z (shown in a few UTC offsets), so no two articles tie.
//!
//! The front matter is also valid for Hugo (`+++` TOML; Hugo keeps `authors`
//! as a page parameter, tables included), so `bench/run.sh` builds the very
//! same directory with both. The last section (`briefs` with 10 sections)
//! holds short items of about 120 words and has `limit = 1` in its
//! `_index.md`, so the corpus always has a small feed (about 3 KB) beside the
//! site and section feeds (about 60 KB at the default `limit` of 15).
//!
//! DIR must not exist or be empty. Only std and the crate's own dependencies
//! are used.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};

/// The arguments: `DIR --articles N --sections S --seed K [--limit L]`.
struct Args {
    dir: PathBuf,
    articles: usize,
    sections: usize,
    seed: u64,
    limit: usize,
    /// 0: the 24 named tags, evenly used; N: N tags (the named ones, then
    /// `topic 25` and on), few used by thousands of articles and most by a
    /// handful, as a real publication's are.
    tags: usize,
}

const USAGE: &str = "usage: gen_corpus DIR [--articles N] [--sections S] [--seed K] [--limit L] [--tags T]\n\
    defaults: --articles 1000 --sections 10 --seed 1 --limit 15 (and the 24 named tags, evenly used)";

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut args = Args {
        dir: PathBuf::new(),
        articles: 1000,
        sections: 10,
        seed: 1,
        limit: 15,
        tags: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let value = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            value
                .parse::<u64>()
                .map_err(|_| format!("{name}: `{value}` is not a whole number"))
        };
        match arg.as_str() {
            "--articles" => args.articles = number("--articles")? as usize,
            "--sections" => args.sections = number("--sections")? as usize,
            "--seed" => args.seed = number("--seed")?,
            "--limit" => args.limit = number("--limit")? as usize,
            "--tags" => args.tags = number("--tags")? as usize,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            path if dir.is_none() => dir = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument `{extra}`")),
        }
    }
    args.dir = dir.ok_or("the output directory is missing")?;
    if args.sections == 0 || args.limit == 0 {
        return Err("--sections and --limit must be at least 1".to_string());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    match generate(&args) {
        Ok(bytes) => {
            println!(
                "wrote {} articles in {} sections: {} bytes to {} in {} ms",
                args.articles,
                args.sections,
                bytes,
                args.dir.display(),
                started.elapsed().as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}: {error}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

/// splitmix64 (Steele, Lea and Flood): tiny, fast, and good enough to pick words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0); the modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// True with probability 1/n.
    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

const SECTIONS: [(&str, &str); 10] = [
    ("world", "World"),
    ("business", "Business"),
    ("technology", "Technology"),
    ("science", "Science"),
    ("energy", "Energy"),
    ("culture", "Culture"),
    ("opinion", "Opinion"),
    ("health", "Health"),
    ("sport", "Sport"),
    ("briefs", "Briefs"),
];

const AUTHORS: [&str; 16] = [
    "GONG Qian",
    "TANG Zhexiao",
    "王小明",
    "李娜",
    "José Martínez",
    "Zoë Brontë",
    "François Lefèvre",
    "Łukasz Żółć",
    "فاطمة الزهراء",
    "محمد عبد الله",
    "Anna Schmidt",
    "Oliver Smith",
    "Priya Raman",
    "Kenji Watanabe",
    "Ngozi Okafor",
    "Søren Kierkegård",
];

const TAGS: [&str; 24] = [
    "energy",
    "trade",
    "artificial intelligence",
    "climate",
    "economy",
    "économie",
    "中国",
    "semiconductors",
    "transport",
    "diplomacy",
    "health care",
    "space",
    "agriculture",
    "education",
    "finance",
    "manufacturing",
    "China-Russia relations",
    "China-U.S. relations",
    "elections",
    "water",
    "cities",
    "research",
    "tourism",
    "football",
];

const WORDS: [&str; 120] = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "on",
    "with",
    "as",
    "by",
    "from",
    "at",
    "will",
    "has",
    "have",
    "been",
    "more",
    "than",
    "its",
    "their",
    "new",
    "year",
    "years",
    "government",
    "country",
    "countries",
    "market",
    "markets",
    "energy",
    "power",
    "supply",
    "demand",
    "growth",
    "economy",
    "trade",
    "policy",
    "industry",
    "companies",
    "workers",
    "cooperation",
    "development",
    "technology",
    "research",
    "project",
    "projects",
    "investment",
    "billion",
    "million",
    "percent",
    "increase",
    "decline",
    "region",
    "global",
    "local",
    "national",
    "international",
    "officials",
    "experts",
    "report",
    "data",
    "analysis",
    "pipeline",
    "gas",
    "oil",
    "solar",
    "wind",
    "capacity",
    "network",
    "infrastructure",
    "transport",
    "city",
    "cities",
    "rural",
    "farmers",
    "students",
    "universities",
    "hospitals",
    "patients",
    "water",
    "climate",
    "emissions",
    "targets",
    "agreement",
    "talks",
    "summit",
    "leaders",
    "ministers",
    "council",
    "committee",
    "plan",
    "strategy",
    "framework",
    "standards",
    "rules",
    "costs",
    "prices",
    "exports",
    "imports",
    "manufacturing",
    "factories",
    "chips",
    "models",
    "software",
    "systems",
    "platform",
    "services",
    "consumers",
    "households",
    "income",
    "jobs",
    "training",
    "skills",
    "partners",
    "stability",
    "security",
    "progress",
    "challenges",
];

/// Writes the whole site; returns the bytes written.
fn generate(args: &Args) -> std::io::Result<u64> {
    if args.dir.exists() && fs::read_dir(&args.dir)?.next().is_some() {
        return Err(std::io::Error::other(
            "the directory is not empty: give a new or empty one",
        ));
    }
    let content = args.dir.join("content");
    fs::create_dir_all(&content)?;
    let mut rng = Rng(args.seed);
    let mut total = 0u64;

    let config = format!(
        "# A synthetic site written by `cargo run --example gen_corpus` (seed {seed}).\n\
         title = \"The Synthetic Broadsheet\"\n\
         description = \"{articles} generated articles in {sections} sections, for benchmarks.\"\n\
         base_url = \"http://127.0.0.1:8080/\"\n\
         language = \"en\"\n\
         tag_authority = \"bench.example.com\"\n\
         limit = {limit}\n\
         formats = [\"rss\", \"atom\", \"json\"]\n\
         \n\
         [server]\n\
         bind = \"127.0.0.1:8080\"\n\
         max_age = 300\n",
        seed = args.seed,
        articles = args.articles,
        sections = args.sections,
        limit = args.limit,
    );
    total += write_file(&args.dir.join("config.toml"), config.as_bytes())?;

    let sections: Vec<(String, String)> = (0..args.sections)
        .map(|i| {
            let (slug, title) = SECTIONS[i % SECTIONS.len()];
            if i < SECTIONS.len() {
                (slug.to_string(), title.to_string())
            } else {
                let n = i / SECTIONS.len() + 1;
                (format!("{slug}-{n}"), format!("{title} {n}"))
            }
        })
        .collect();
    for (i, (slug, title)) in sections.iter().enumerate() {
        let dir = content.join(slug);
        fs::create_dir_all(&dir)?;
        let mut index = format!(
            "+++\ntitle = \"{title}\"\ndescription = \"The {title} section of the synthetic broadsheet.\"\n"
        );
        // The last section (short briefs) keeps a one-item feed: the benchmark's small feed.
        if i + 1 == sections.len() && sections.len() > 1 {
            index.push_str("limit = 1\n");
        }
        index.push_str("+++\n");
        total += write_file(&dir.join("_index.md"), index.as_bytes())?;
    }

    // Slugs are drawn first, so a body can link to any other article.
    let slugs: Vec<String> = (0..args.articles)
        .map(|i| {
            let a = rng.pick(&WORDS[20..]);
            let b = rng.pick(&WORDS[20..]);
            format!("{a}-{b}-{i}")
        })
        .collect();
    let newest = Utc.with_ymd_and_hms(2024, 5, 20, 0, 0, 0).single();
    let newest = newest.ok_or_else(|| std::io::Error::other("bad base date"))?;
    let offsets = [0, 8 * 3600, -5 * 3600, 5 * 3600 + 1800, 3600];
    let mut text = String::with_capacity(8 * 1024);
    for (i, slug) in slugs.iter().enumerate() {
        let s = i % sections.len();
        let offset = FixedOffset::east_opt(offsets[rng.below(offsets.len())])
            .unwrap_or(FixedOffset::east_opt(0).expect("zero offset"));
        let date = (newest - Duration::minutes(i as i64)).with_timezone(&offset);
        // A link to another article, relative to this page (`/<section>/<slug>/`).
        let other = rng.below(args.articles);
        let related = format!(
            "../../{}/{}/",
            sections[other % sections.len()].0,
            slugs[other]
        );
        text.clear();
        let brief = sections.len() > 1 && s + 1 == sections.len();
        article(&mut rng, &mut text, date, &related, i, brief, args.tags);
        let path = content.join(&sections[s].0).join(format!("{slug}.md"));
        total += write_file(&path, text.as_bytes())?;
    }
    Ok(total)
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(16 * 1024, fs::File::create(path)?);
    out.write_all(bytes)?;
    out.flush()?;
    Ok(bytes.len() as u64)
}

/// Appends one article (front matter and body) to `out`: about 400 words,
/// or about 120 for a `brief`.
fn article(
    rng: &mut Rng,
    out: &mut String,
    date: DateTime<FixedOffset>,
    related: &str,
    index: usize,
    brief: bool,
    tags: usize,
) {
    out.push_str("+++\ntitle = \"");
    title(rng, out);
    let _ = write!(out, "\"\ndate = {}\n", date.to_rfc3339());
    out.push_str("authors = [");
    for n in 0..rng.between(1, 2) {
        if n > 0 {
            out.push_str(", ");
        }
        let name = rng.pick(&AUTHORS);
        if rng.one_in(10) {
            let _ = write!(out, "{{ name = \"{name}\", role = \"editor\" }}");
        } else {
            let _ = write!(out, "\"{name}\"");
        }
    }
    out.push_str("]\ntags = [");
    if tags == 0 {
        let first = rng.below(TAGS.len());
        for n in 0..rng.between(1, 3) {
            if n > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{}\"", TAGS[(first + n * 7) % TAGS.len()]);
        }
    } else {
        for n in 0..rng.between(1, 4) {
            if n > 0 {
                out.push_str(", ");
            }
            // Tag k is chosen with a probability that falls steeply with k
            // (the cube of a uniform number): with 300 tags, the first is on
            // about one article in four, the last on a few.
            let u = rng.below(1 << 20) as f64 / f64::from(1 << 20);
            let k = ((u * u * u) * tags as f64) as usize;
            match TAGS.get(k) {
                Some(name) => {
                    let _ = write!(out, "\"{name}\"");
                }
                None => {
                    let _ = write!(out, "\"topic {}\"", k + 1);
                }
            }
        }
    }
    out.push_str("]\n");
    if rng.one_in(3) {
        out.push_str("description = \"");
        sentence(rng, out, 14, 24);
        out.push_str("\"\n");
    }
    out.push_str("+++\n\n");

    paragraph(rng, out, 55, 70, Inline::Emphasis);
    paragraph(rng, out, 55, 70, Inline::Link(index));
    if brief {
        return;
    }
    // The rest of about 400 words: four more paragraphs and a blockquote.
    out.push_str("> ");
    sentence(rng, out, 18, 26);
    out.push(' ');
    sentence(rng, out, 10, 16);
    out.push_str("\n>\n> — ");
    out.push_str(rng.pick(&AUTHORS));
    out.push_str("\n\n");
    paragraph(rng, out, 50, 65, Inline::Relative(related));
    if rng.one_in(8) {
        let _ = write!(
            out,
            "![A photograph for article {index}](photo-{}.jpg)\n\n",
            rng.below(5)
        );
    }
    paragraph(rng, out, 55, 70, Inline::Strong);
    paragraph(rng, out, 50, 65, Inline::None);
    paragraph(rng, out, 40, 55, Inline::Emphasis);
}

fn title(rng: &mut Rng, out: &mut String) {
    let words = rng.between(4, 9);
    for n in 0..words {
        if n > 0 {
            out.push(' ');
        }
        capitalized(out, rng.pick(&WORDS[20..]));
        if n == 1 && rng.one_in(6) {
            out.push_str(" &");
        }
    }
    if rng.one_in(8) {
        out.push_str(": 'Less Than <Expected>'");
    }
}

fn capitalized(out: &mut String, word: &str) {
    let mut chars = word.chars();
    if let Some(c) = chars.next() {
        out.extend(c.to_uppercase());
        out.push_str(chars.as_str());
    }
}

/// Appends a sentence of `lo..=hi` words, capitalised and ending with a period.
fn sentence(rng: &mut Rng, out: &mut String, lo: usize, hi: usize) {
    let words = rng.between(lo, hi);
    for n in 0..words {
        let word = rng.pick(&WORDS);
        if n == 0 {
            capitalized(out, word);
        } else {
            out.push(' ');
            out.push_str(word);
            if n + 1 < words && rng.one_in(14) {
                out.push(',');
            }
        }
    }
    out.push('.');
}

/// What a paragraph carries besides plain text.
enum Inline<'a> {
    None,
    Emphasis,
    Strong,
    /// An absolute link to an outside report, numbered by article.
    Link(usize),
    /// A link to another article, relative to this article's page.
    Relative(&'a str),
}

/// Appends a paragraph of about `lo..=hi` words followed by a blank line.
fn paragraph(rng: &mut Rng, out: &mut String, lo: usize, hi: usize, inline: Inline<'_>) {
    let mut words = 0;
    let target = rng.between(lo, hi);
    let mut placed = false;
    while words < target {
        let len = rng.between(8, 18).min(target - words).max(4);
        if words > 0 {
            out.push(' ');
        }
        sentence(rng, out, len, len);
        words += len;
        if !placed && words >= target / 3 {
            placed = true;
            match inline {
                Inline::None => {}
                Inline::Emphasis => {
                    out.push_str(" It was *");
                    out.push_str(rng.pick(&WORDS[20..]));
                    out.push_str("*, not ");
                    out.push_str(rng.pick(&WORDS[20..]));
                    out.push('.');
                    words += 5;
                }
                Inline::Strong => {
                    out.push_str(" **");
                    capitalized(out, rng.pick(&WORDS[20..]));
                    out.push_str(" matters.**");
                    words += 2;
                }
                Inline::Link(index) => {
                    let _ = write!(
                        out,
                        " See [the full report](https://example.org/reports/{index}?lang=en&page=2) for details."
                    );
                    words += 6;
                }
                Inline::Relative(url) => {
                    let _ = write!(out, " Read [our earlier coverage]({url}).");
                    words += 4;
                }
            }
        }
    }
    out.push_str("\n\n");
}
