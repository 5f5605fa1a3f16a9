//! Cold pages (article pages, archive pages, later list pages) kept in spill
//! files rather than in the heap: a server answers them with the bytes
//! `export` writes, the spill files have no name in `data_dir` while it
//! runs and leave nothing when it is killed, and with no writable
//! `data_dir` the pages stay in memory and are served all the same.

use std::path::Path;
use std::process::Command;

use crate::fixture::{client, files_in, spawn_serving, url, Site};

/// A site of `n` articles in two sections, with small feeds, archive pages
/// and list pages, so that it has many pages of every cold kind.
fn site_of(n: usize, settings: &str) -> Site {
    let site = Site::minimal();
    site.append(
        "config.toml",
        &format!("limit = 5\narchive_page_size = 7\npage_size = 6\n{settings}"),
    );
    site.section("alpha", "Alpha").section("beta", "Beta");
    for i in 0..n {
        let section = ["alpha", "beta"][i % 2];
        let (day, hour) = (1 + i / 24, i % 24);
        site.write(
            &format!("content/{section}/a{i:03}.md"),
            &format!(
                "+++\ntitle = \"Article {i}\"\ndate = 2024-03-{day:02}T{hour:02}:00:00Z\ntags = [\"t{}\"]\n+++\n\nBody of article {i}, {}.\n",
                i % 3,
                "long enough to matter ".repeat(20)
            ),
        );
    }
    site
}

/// The exported files of the cold kinds: article pages, archive pages and
/// later list pages, by URL path.
fn cold_files(export: &Path) -> Vec<(String, Vec<u8>)> {
    files_in(export)
        .into_iter()
        .filter_map(|(path, bytes)| {
            let path = path.to_string_lossy().replace('\\', "/");
            let article = path.split('/').nth(1).is_some_and(|slug| {
                slug.len() == 4
                    && slug.starts_with('a')
                    && slug[1..].bytes().all(|b| b.is_ascii_digit())
            });
            let cold = path.contains("archive/") || path.contains("page/") || article;
            let url_path = format!("/{}", path.trim_end_matches("index.html"));
            (cold && !path.ends_with(".gz") && !path.ends_with(".br")).then_some((url_path, bytes))
        })
        .collect()
}

/// Every file in `dir` (recursively), by name.
/// The SQLite files that have names in the data directory (with their
/// journals): the hub's and audience counting's, never a spill file.
fn is_database(name: &str) -> bool {
    name.starts_with("websub.sqlite3") || name.starts_with("audience.sqlite3")
}

fn names_in(dir: &Path) -> Vec<String> {
    files_in(dir)
        .into_iter()
        .map(|(path, _)| path.to_string_lossy().into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_answers_cold_pages_with_the_exported_bytes_from_files_with_no_name() {
    let site = site_of(120, "");
    let export = site.export();
    let cold = cold_files(&export);
    assert!(
        cold.iter().filter(|(p, _)| p.contains("/archive/")).count() > 30
            && cold.iter().filter(|(p, _)| p.contains("page/")).count() > 10
            && cold
                .iter()
                .filter(|(p, _)| p.starts_with("/alpha/a0"))
                .count()
                == 50,
        "the site has pages of every cold kind: {:?}",
        cold.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let server = site.serve();
    let http = client();
    for (path, exported) in &cold {
        let response = http.get(url(&server, path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        let served = response.bytes().await.expect("body");
        assert!(
            served == exported[..],
            "{path}: served bytes differ from the export"
        );
    }
    // The spill files are in the data directory, mapped into this process
    // (the server runs in it), with no name.
    let data_dir = site.path(".broadsheet");
    let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let real_dir = std::fs::canonicalize(&data_dir).expect("the data directory exists");
    assert!(
        maps.lines()
            .any(|line| line.contains(&*real_dir.to_string_lossy()) && line.ends_with("(deleted)")),
        "no spill file of {} is mapped",
        real_dir.display()
    );
    let names = names_in(&data_dir);
    assert!(
        names.iter().all(|name| is_database(name)),
        "only the hub's and the audience's databases have a name in {}: {names:?}",
        data_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_writable_data_dir_cold_pages_stay_in_memory_and_are_served() {
    // The data directory would be below a file: no spill file can be made.
    let site = site_of(
        40,
        "\n[stats]\nenabled = false\n\n[websub]\nenabled = false\ndata_dir = \"blocker/below\"\n",
    );
    site.write("blocker", "a file, not a folder\n");
    let export = site.export();
    let cold = cold_files(&export);
    assert!(cold.len() > 40, "{}", cold.len());
    let server = site.serve();
    let http = client();
    for (path, exported) in &cold {
        let served = http
            .get(url(&server, path))
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body");
        assert!(
            served == exported[..],
            "{path}: served bytes differ from the export"
        );
    }
}

#[test]
fn a_killed_server_leaves_no_spill_file_behind() {
    let site = site_of(60, "");
    let (mut server, addr, _lines) = spawn_serving(
        Command::new(env!("CARGO_BIN_EXE_broadsheet"))
            .current_dir(site.root())
            .args(["serve", "--bind", "127.0.0.1:0", "--no-watch"])
            .env("RUST_LOG", "warn"),
    );
    // It serves an archive page (so its spill files exist) ...
    let response = crate::fixture::raw(
        addr,
        "GET /archive/1/rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(crate::fixture::raw_status(&response), 200, "{response}");
    // ... and is killed, with no chance to clean up.
    server.0.kill().expect("SIGKILL");
    server.0.wait().expect("reaped");
    let names = names_in(&site.path(".broadsheet"));
    assert!(names.iter().all(|name| is_database(name)), "{names:?}");
}
