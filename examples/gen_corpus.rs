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
//! in eight, an image. Dates are one minute apart going back from
//! 2024-05-20T08:00:00Z (shown in a few UTC offsets), so no two articles tie.
//!
//! Bylines and tags follow the shape of a real publication's: a few dozen
//! writers of very unequal output (some names Chinese, accented or Arabic),
//! one to three per article, and an editor per section who signs about one
//! article in four as `{ name, role = "editor" }` (two editors also write);
//! a few hundred tags (`--tags`, default 300), one to three per article,
//! drawn with Zipf's law (the k-th most used tag is on about 1/k as many
//! articles as the first): at 100,000 articles the first is on about a
//! third of them, the tenth on thousands, the last on about a hundred.
//! An optional `description` completes the front matter.
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
    /// N tags (the 24 named ones, then pairs of words), used by Zipf's
    /// law; 0: only the 24 named tags, evenly used (the corpus of run 13).
    tags: usize,
}

const USAGE: &str = "usage: gen_corpus DIR [--articles N] [--sections S] [--seed K] [--limit L] [--tags T]\n\
    defaults: --articles 1000 --sections 10 --seed 1 --limit 15 --tags 300 (0: 24 tags, evenly used)";

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut args = Args {
        dir: PathBuf::new(),
        articles: 1000,
        sections: 10,
        seed: 1,
        limit: 15,
        tags: 300,
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

/// The writers, most prolific first (see [`Zipf`]).
const WRITERS: [&str; 36] = [
    "GONG Qian",
    "TANG Zhexiao",
    "王小明",
    "Anna Schmidt",
    "José Martínez",
    "李娜",
    "Oliver Smith",
    "Zoë Brontë",
    "Priya Raman",
    "François Lefèvre",
    "فاطمة الزهراء",
    "Kenji Watanabe",
    "Łukasz Żółć",
    "Ngozi Okafor",
    "محمد عبد الله",
    "Søren Kierkegård",
    "Maria Rossi",
    "陈静",
    "Ahmed Hassan",
    "Emily Clarke",
    "Carlos Pereira",
    "Ingrid Johansson",
    "Rahul Mehta",
    "Chloé Dubois",
    "David Cohen",
    "Yuki Tanaka",
    "Fatima Zahra Benali",
    "Tomás Ó Briain",
    "Olga Ivanova",
    "Samuel Mensah",
    "刘洋",
    "Hannah Müller",
    "Lucas Silva",
    "Aisha Bello",
    "Mikael Virtanen",
    "Nguyễn Văn An",
];

/// The section editors, one per section in turn; the last two also write.
const EDITORS: [&str; 8] = [
    "Margaret Hale",
    "周文",
    "Robert Nakamura",
    "Amal Haddad",
    "Elena Popescu",
    "Daniel Weber",
    "Anna Schmidt",
    "GONG Qian",
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

    let cast = Cast::new(args.tags);
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
        let at = Slot {
            index: i,
            section: s,
            brief,
        };
        article(&mut rng, &mut text, date, &related, at, &cast);
        let path = content.join(&sections[s].0).join(format!("{slug}.md"));
        total += write_file(&path, text.as_bytes())?;
    }
    Ok(total)
}

/// Where an article stands: its number, its section's, and whether that
/// section holds short briefs.
struct Slot {
    index: usize,
    section: usize,
    brief: bool,
}

/// Who writes and what is tagged: the writers' and the tags' laws, and the tags' names.
struct Cast {
    writers: Zipf,
    /// `None`: the 24 named tags, evenly used.
    tags: Option<Zipf>,
    tag_names: Vec<String>,
}

impl Cast {
    fn new(tags: usize) -> Cast {
        let mut tag_names: Vec<String> = TAGS.iter().map(|t| t.to_string()).collect();
        // Past the named tags, pairs of distinct content words ("solar
        // exports"), in an order that mixes them; each name is new.
        let words = &WORDS[26..];
        let mut step = 0;
        while tag_names.len() < tags && step < words.len() * words.len() {
            let (a, b) = (
                step % words.len(),
                (step * 7 / words.len() + step) % words.len(),
            );
            step += 1;
            let name = format!("{} {}", words[a], words[b]);
            if a != b && !tag_names.contains(&name) {
                tag_names.push(name);
            }
        }
        Cast {
            // Output varies a lot from writer to writer, though less than tags' use.
            writers: Zipf::new(WRITERS.len(), 0.7),
            tags: (tags > 0).then(|| Zipf::new(tag_names.len().min(tags), 1.0)),
            tag_names,
        }
    }
}

/// Zipf's law over `0..n`: rank k (from 0) is drawn with a probability
/// proportional to 1 / (k + 1)^s.
struct Zipf {
    /// Cumulative weights, the last one the total.
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let u = rng.below(1 << 30) as f64 / f64::from(1 << 30) * total;
        self.cumulative
            .partition_point(|&c| c <= u)
            .min(self.cumulative.len() - 1)
    }
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
    Slot {
        index,
        section,
        brief,
    }: Slot,
    cast: &Cast,
) {
    out.push_str("+++\ntitle = \"");
    title(rng, out);
    let _ = write!(out, "\"\ndate = {}\n", date.to_rfc3339());
    out.push_str("authors = [");
    // One writer on most articles, two or three on some.
    let writers = match rng.below(20) {
        0 => 3,
        1..=5 => 2,
        _ => 1,
    };
    let mut names: Vec<&str> = Vec::with_capacity(4);
    while names.len() < writers {
        let name = WRITERS[cast.writers.draw(rng)];
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for (n, name) in names.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{name}\"");
    }
    // The section's editor signs about one article in four.
    if rng.one_in(4) {
        let editor = EDITORS[section % EDITORS.len()];
        let _ = write!(out, ", {{ name = \"{editor}\", role = \"editor\" }}");
    }
    out.push_str("]\ntags = [");
    let count = rng.between(1, 3);
    let mut chosen: Vec<usize> = Vec::with_capacity(count);
    while chosen.len() < count {
        let k = match &cast.tags {
            Some(tags) => tags.draw(rng),
            // The corpus of run 13: consecutive named tags, evenly used.
            None => {
                (chosen.first().copied().unwrap_or(rng.below(TAGS.len())) + chosen.len() * 7)
                    % TAGS.len()
            }
        };
        if !chosen.contains(&k) {
            chosen.push(k);
        }
    }
    for (n, k) in chosen.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{}\"", cast.tag_names[*k]);
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
    out.push_str(rng.pick(&WRITERS));
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
