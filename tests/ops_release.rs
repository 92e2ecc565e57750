//! What a release hands out, checked without building one: `ferry --version` names the
//! version, the commit and the build date; the versions the chart, the image and the
//! release workflow use agree with Cargo.toml; the pre-commit hooks run a command line
//! ferry accepts. (`scripts/check-image.sh`, `scripts/check-chart.sh` and
//! `scripts/check-workflows.sh` build and run the real things.)

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root())
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn ferry_version_names_the_version_the_commit_and_the_build_date() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let re = regex::Regex::new(
        r"^ferry (\S+) \(commit ([0-9a-f]{12}|unknown), built (\d{4})-(\d{2})-(\d{2})\)\n$",
    )
    .unwrap();
    let cap = re
        .captures(&text)
        .unwrap_or_else(|| panic!("`ferry --version` printed {text:?}"));
    assert_eq!(&cap[1], env!("CARGO_PKG_VERSION"));
    let (year, month, day): (u32, u32, u32) = (
        cap[3].parse().unwrap(),
        cap[4].parse().unwrap(),
        cap[5].parse().unwrap(),
    );
    assert!(year >= 2024 && (1..=12).contains(&month) && (1..=31).contains(&day));
    // Built from this git checkout (and not told otherwise): the commit is HEAD's.
    let top = git(&["rev-parse", "--show-toplevel"]).map(PathBuf::from);
    let here = root().canonicalize().unwrap();
    if std::env::var_os("FERRY_BUILD_COMMIT").is_none()
        && top.and_then(|t| t.canonicalize().ok()).as_deref() == Some(here.as_path())
    {
        let head = git(&["rev-parse", "HEAD"]).unwrap();
        assert_eq!(&cap[2], &head[..12], "{text}");
    }
    // Subcommands say the same.
    let sub = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["plan", "--version"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(sub.stdout).unwrap(),
        text.replacen("ferry ", "ferry-plan ", 1)
    );
}

#[test]
fn the_chart_image_and_toolchain_follow_cargo_toml() {
    let chart = read("charts/ferry/Chart.yaml");
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .expect("Chart.yaml has an appVersion");
    assert_eq!(
        app_version.trim_matches('"'),
        env!("CARGO_PKG_VERSION"),
        "the chart's appVersion (the default image tag) is the crate's version"
    );
    // The build image's Rust is the crate's rust-version or newer.
    let cargo = read("Cargo.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    let containerfile = read("Containerfile");
    let image = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .expect("the Containerfile names its build image");
    let tag = image.rsplit(':').next().unwrap();
    let minor = |v: &str| -> (u32, u32) {
        let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap(), parts.next().unwrap())
    };
    assert!(
        minor(tag) >= minor(rust_version),
        "{image} is older than rust-version {rust_version}"
    );
    let workflow = read(".github/workflows/release.yml");
    assert!(workflow.contains(&format!(
        "RUST_TOOLCHAIN: \"{}\"",
        tag.split('-').next().unwrap()
    )));
    // The runtime stage runs as the chart's user.
    assert!(containerfile.contains("USER 65532:65532"));
    let values: Value = serde_saphyr::from_str(&read("charts/ferry/values.yaml")).unwrap();
    assert_eq!(values["podSecurityContext"]["runAsUser"], 65532);
}

#[test]
fn the_pre_commit_hooks_run_a_command_line_ferry_accepts() {
    let hooks: Value = serde_saphyr::from_str(&read(".pre-commit-hooks.yaml")).unwrap();
    let hooks = hooks.as_array().unwrap();
    assert!(hooks.len() >= 2);
    for hook in hooks {
        let entry = hook["entry"].as_str().unwrap();
        let mut argv: Vec<&str> = entry.split_whitespace().collect();
        // As users configure it: `args: [--config, ferry.yaml]`.
        argv.extend(["--config", "ferry.yaml"]);
        let cli = ferry::cli::Cli::try_parse_from(&argv)
            .unwrap_or_else(|e| panic!("{argv:?} is not a ferry command line: {e}"));
        let ferry::cli::Command::Validate(args) = cli.command else {
            panic!("{} does not run ferry validate", hook["id"]);
        };
        assert_eq!(args.config, Path::new("ferry.yaml"));
        assert_eq!(hook["pass_filenames"], false, "{}", hook["id"]);
    }
}
