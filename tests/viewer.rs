//! The counterexample viewer in a real browser: headless Chromium opens the
//! page `brokerlab sim --html` writes, runs its script, and renders the
//! diagram with the violation highlighted.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it and sets
//! `BROKERLAB_REQUIRE_BROWSER=1`, so there the test cannot pass by skipping).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium, or `None` (with a note) where it is not installed and not required.
fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    assert!(
        std::env::var_os("BROKERLAB_REQUIRE_BROWSER").is_none(),
        "{CHROMIUM} is required here"
    );
    eprintln!("skipped: {CHROMIUM} is not installed");
    None
}

/// The page of the lose-on-requeue mutant's failing seed 0.
fn failing_page(dir: &Path) -> PathBuf {
    let page = dir.join("counterexample.html");
    let status = Command::new(env!("CARGO_BIN_EXE_brokerlab"))
        .args(["sim", "--workload", "work-queue", "--seed", "0"])
        .args(["--mutant", "lose-on-requeue", "--html"])
        .arg(&page)
        .stdout(Stdio::null())
        .status()
        .expect("brokerlab runs");
    assert_eq!(status.code(), Some(129), "the mutant breaks seed 0");
    page
}

fn headless(chromium: &str, dir: &Path) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1400,1000",
    ]);
    command.arg(format!("--user-data-dir={}", dir.join("profile").display()));
    command.stderr(Stdio::null());
    command
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brokerlab-viewer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

#[test]
fn the_viewer_runs_its_script_in_chromium_and_marks_the_violating_step_current() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = scratch("dom");
    let page = failing_page(&dir);
    let output = headless(chromium, &dir)
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let rendered = dom
        .split("data-rendered=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|steps| steps.parse::<usize>().ok());
    assert!(
        rendered.is_some_and(|steps| steps > 10),
        "the script ran over every step: {rendered:?}"
    );
    assert!(
        dom.contains("violation current\""),
        "the slider starts on the violating step"
    );
    assert!(
        dom.contains("ready:"),
        "the state panel shows the broker's queues"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_viewer_screenshot_shows_the_diagram_and_the_highlighted_violation() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = scratch("shot");
    let page = failing_page(&dir);
    let shot = dir.join("shot.png");
    let status = headless(chromium, &dir)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .status()
        .expect("chromium runs");
    assert!(status.success());
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("a screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).expect("one frame");
    let channels = info.color_type.samples();
    let (mut red, mut ink) = (0, 0);
    for pixel in pixels[..info.buffer_size()].chunks(channels) {
        let (r, g, b) = (pixel[0], pixel[1], pixel[2]);
        // The violating step's band: #d62728 at 85% over white.
        if r > 190 && g < 110 && b < 110 {
            red += 1;
        }
        // Lanes, arrows and text.
        if r < 120 && g < 120 && b < 120 {
            ink += 1;
        }
    }
    assert!(
        red > 5_000,
        "the violating step is highlighted: {red} red pixels"
    );
    assert!(ink > 5_000, "the diagram is drawn: {ink} dark pixels");
    let _ = std::fs::remove_dir_all(&dir);
}
