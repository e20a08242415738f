//! A run as one self-contained HTML page, for reading a counterexample in
//! a browser: a space-time (Lamport) diagram with a lane per producer, the
//! broker, its disk and each consumer; faults (crashes, restarts, dropped
//! connections) marked on the broker's lane; the violation's step
//! highlighted with the checker's verdict; a step slider that shows what the
//! broker held at that step (each queue's ready and unacknowledged messages
//! and what its log had made durable, as the broker's own events report
//! them); and the command that replays the run.
//!
//! The page is inline SVG, CSS and a few lines of plain JavaScript: it
//! needs no network and no framework.

use crate::chart::{self, Step};
use crate::check::Violation;
use crate::history::{Entry, History};
use crate::plan::Millis;
use brokerlab_core::{Event, MessageId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Most steps a page shows; the rest are summarised under the diagram.
pub const STEPS_MAX: usize = 2_000;

/// Pixels between two lanes.
const LANE_GAP: usize = 210;
/// Pixels between two steps.
const ROW: usize = 26;
/// Pixels above the first step: the lanes' names.
const TOP: usize = 50;
/// The longest step text drawn; the whole text is the step's tooltip.
const TEXT_MAX: usize = 48;

/// What the page says about the run besides its history.
#[derive(Clone, Debug)]
pub struct Page<'a> {
    /// The page's title: the run's plan line.
    pub title: &'a str,
    /// Every checker's verdict and the result, as the report prints them.
    pub report: &'a str,
    /// What broke, if anything (the first violation is highlighted).
    pub violation: Option<&'a Violation>,
    /// The command that replays the run.
    pub replay: &'a str,
}

/// What the broker held after a step, as its events report it.
#[derive(Clone, Debug, Default, Serialize)]
struct Held {
    /// When, as the history prints it.
    at: String,
    /// Per queue: messages ready and messages out with consumers, by id.
    queues: BTreeMap<String, Queue>,
    /// Messages whose enqueue record an fsync made durable.
    durable: usize,
    /// The last few of them, newest last.
    durable_last: Vec<u64>,
    /// Crashes so far.
    crashes: usize,
}

#[derive(Clone, Debug, Default, Serialize)]
struct Queue {
    ready: BTreeSet<u64>,
    unacked: BTreeSet<u64>,
}

/// How many of the newest durable ids a step's state lists.
const DURABLE_SHOWN: usize = 8;

impl Held {
    /// Applies one history entry.
    fn apply(&mut self, entry: &Entry, durable: &mut BTreeSet<MessageId>) {
        fn queue<'h>(held: &'h mut Held, name: &str) -> &'h mut Queue {
            held.queues.entry(name.to_owned()).or_default()
        }
        match entry {
            Entry::Broker { event, .. } => match event {
                Event::Enqueued { message, queue: q } => {
                    queue(self, q).ready.insert(message.0);
                }
                Event::Delivered {
                    message, queue: q, ..
                } => {
                    let q = queue(self, q);
                    q.ready.remove(&message.0);
                    q.unacked.insert(message.0);
                }
                Event::Acked { message, queue: q } => {
                    let q = queue(self, q);
                    q.ready.remove(&message.0);
                    q.unacked.remove(&message.0);
                }
                Event::Requeued { message, queue: q } => {
                    let q = queue(self, q);
                    q.unacked.remove(&message.0);
                    q.ready.insert(message.0);
                }
                Event::Expired { message, queue: q }
                | Event::DeadLettered {
                    message, queue: q, ..
                } => {
                    let q = queue(self, q);
                    q.ready.remove(&message.0);
                    q.unacked.remove(&message.0);
                }
                _ => {}
            },
            Entry::Durable { message } => {
                durable.insert(*message);
                self.durable = durable.len();
                self.durable_last.push(message.0);
                let extra = self.durable_last.len().saturating_sub(DURABLE_SHOWN);
                self.durable_last.drain(..extra);
            }
            Entry::Crash => self.crashes += 1,
            Entry::Restart => {
                // Recovery brings back what the log made durable, ready
                // again; the rest was lost with the crash.
                for q in self.queues.values_mut() {
                    let out = std::mem::take(&mut q.unacked);
                    q.ready.extend(out);
                    q.ready.retain(|id| durable.contains(&MessageId(*id)));
                }
            }
            _ => {}
        }
    }
}

/// A step of the page: the chart's step, or an fsync on the disk's lane.
fn page_step(timed: &crate::history::Timed) -> Option<Step> {
    if let Entry::Durable { message } = &timed.entry {
        return Some(Step {
            at_ns: timed.at_ns,
            from: "D".to_owned(),
            to: None,
            dashed: false,
            text: format!("fsync: id {} durable", message.0),
        });
    }
    chart::step(timed)
}

/// The page of `history`.
#[must_use]
pub fn page(history: &History, page: &Page<'_>) -> String {
    let mut held = Held::default();
    let mut durable = BTreeSet::new();
    let mut steps = Vec::new();
    let mut states = Vec::new();
    let mut left_out = 0;
    for timed in history.entries() {
        held.apply(&timed.entry, &mut durable);
        let Some(step) = page_step(timed) else {
            continue;
        };
        if steps.len() == STEPS_MAX {
            left_out += 1;
            continue;
        }
        held.at = Millis(timed.at_ns).to_string();
        steps.push(step);
        states.push(held.clone());
    }
    let lanes = lanes(&steps);
    // The steps at the violation's instant, or else the last one before it.
    let marked: Option<(u64, usize)> = page.violation.and_then(|violation| {
        let last = steps
            .iter()
            .rposition(|step| step.at_ns <= violation.at_ns)
            .or((!steps.is_empty()).then_some(0))?;
        let at_ns = steps[last].at_ns;
        let first = steps.iter().position(|step| step.at_ns == at_ns)?;
        Some((at_ns, first))
    });
    let focus = page
        .violation
        .and_then(|violation| violation.focus)
        .map(|attempt| format!("a{attempt:#x}"));
    let mut svg = String::new();
    let width = lanes.len() * LANE_GAP;
    let height = TOP + (steps.len() + 1) * ROW;
    let _ = write!(
        svg,
        r#"<svg id="diagram" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
    );
    svg.push_str(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="rgb(51,51,51)"/></marker></defs>"#,
    );
    for (index, lane) in lanes.iter().enumerate() {
        let x = x_of(index);
        let label = match lane.as_str() {
            "D" => "disk (log)".to_owned(),
            other => chart::lane_label(other),
        };
        let _ = write!(
            svg,
            r#"<text class="lane" x="{x}" y="20" text-anchor="middle">{}</text><line class="lane" x1="{x}" y1="30" x2="{x}" y2="{height}"/>"#,
            escape(&label)
        );
    }
    for (index, step) in steps.iter().enumerate() {
        let y = TOP + index * ROW;
        let mut class = String::from("step");
        if is_fault(step) {
            class.push_str(" fault");
        }
        if marked.is_some_and(|(at_ns, _)| at_ns == step.at_ns) {
            class.push_str(" violation");
        }
        if focus
            .as_ref()
            .is_some_and(|focus| step.text.contains(focus))
        {
            class.push_str(" focus");
        }
        let from = x_of(position(&lanes, &step.from));
        let text = shorten(&step.text);
        let _ = write!(
            svg,
            r#"<g class="{class}" id="s{index}" data-step="{index}"><title>{} {}</title><rect class="row" x="0" y="{}" width="{width}" height="{ROW}"/>"#,
            Millis(step.at_ns),
            escape(&step.text),
            y - ROW / 2 - 4,
        );
        match &step.to {
            Some(to) => {
                let to = x_of(position(&lanes, to));
                let dash = if step.dashed {
                    r#" stroke-dasharray="5,3""#
                } else {
                    ""
                };
                let _ = write!(
                    svg,
                    r#"<line class="arrow" x1="{from}" y1="{y}" x2="{to}" y2="{y}" marker-end="url(#arrow)"{dash}/><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
                    (from + to) / 2,
                    y - 4,
                    escape(&text)
                );
            }
            None => {
                let _ = write!(
                    svg,
                    r#"<circle class="note" cx="{from}" cy="{}" r="4"/><text x="{}" y="{}">{}</text>"#,
                    y - 4,
                    from + 8,
                    y,
                    escape(&text)
                );
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    let verdict = match page.violation {
        Some(violation) => format!(
            r#"<div id="verdict" class="broke"><b>{}</b> ({:?}) at {}: {}</div>"#,
            escape(violation.checker),
            violation.kind,
            Millis(violation.at_ns),
            escape(&violation.detail)
        ),
        None => r#"<div id="verdict" class="held">every checker held</div>"#.to_owned(),
    };
    let states = serde_json::to_string(&states)
        .expect("states serialise")
        .replace("</", "<\\/");
    let more = if left_out > 0 {
        format!("<p>{left_out} more steps left out.</p>")
    } else {
        String::new()
    };
    let last = steps.len().saturating_sub(1);
    let start = marked.map_or(0, |(_, first)| first);
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #222; }}
header {{ padding: 10px 16px; background: #f4f4f4; border-bottom: 1px solid #ddd; }}
#verdict {{ margin: 6px 0; padding: 6px 10px; border-radius: 4px; }}
#verdict.broke {{ background: #fde2e2; border: 1px solid #d62728; }}
#verdict.held {{ background: #e3f5e1; border: 1px solid #2ca02c; }}
code, pre {{ font: 12px ui-monospace, monospace; }}
main {{ display: flex; align-items: flex-start; }}
#chart {{ overflow: auto; max-height: calc(100vh - 190px); flex: 1; }}
#state {{ width: 320px; padding: 8px 12px; border-left: 1px solid #ddd; }}
svg text {{ font: 11px ui-monospace, monospace; fill: #222; }}
svg text.lane {{ font: bold 12px system-ui, sans-serif; }}
line.lane {{ stroke: #999; stroke-width: 1; }}
line.arrow {{ stroke: #333; stroke-width: 1.2; }}
circle.note {{ fill: #555; }}
rect.row {{ fill: transparent; }}
g.fault text {{ fill: #c45500; font-weight: bold; }}
g.fault circle.note {{ fill: #ff7f0e; }}
g.focus rect.row {{ fill: #fff3c4; }}
g.violation rect.row {{ fill: #d62728; fill-opacity: 0.85; }}
g.violation text {{ fill: #fff; font-weight: bold; }}
g.current rect.row {{ stroke: #1f77b4; stroke-width: 2; }}
#slider {{ width: 60%; }}
</style></head>
<body>
<header>
<div><b>brokerlab sim</b>: <code>{title}</code></div>
{verdict}
<div>replay: <code id="replay">{replay}</code></div>
<div><label>step <input id="slider" type="range" min="0" max="{last}" value="{start}"> <span id="at"></span></label></div>
</header>
<main><div id="chart">{svg}{more}</div>
<aside id="state"><h3>The broker at this step</h3><div id="held"></div><h3>Report</h3><pre>{report}</pre></aside></main>
<script>
const STATES = {states};
const slider = document.getElementById("slider");
function show(i) {{
  document.querySelectorAll("g.current").forEach(g => g.classList.remove("current"));
  const g = document.getElementById("s" + i);
  if (!g) return;
  g.classList.add("current");
  const s = STATES[i];
  document.getElementById("at").textContent = i + " of {count}, at " + s.at;
  let html = "";
  for (const [name, q] of Object.entries(s.queues)) {{
    html += "<p><b>" + name + "</b><br>ready: " + (q.ready.join(", ") || "none") +
      "<br>unacked: " + (q.unacked.join(", ") || "none") + "</p>";
  }}
  html += "<p><b>log</b><br>durable: " + s.durable + (s.durable_last.length ? " (last: " + s.durable_last.join(", ") + ")" : "") +
    "<br>crashes: " + s.crashes + "</p>";
  document.getElementById("held").innerHTML = html;
}}
slider.addEventListener("input", () => show(Number(slider.value)));
document.querySelectorAll("g.step").forEach(g => g.addEventListener("click", () => {{
  slider.value = g.dataset.step; show(Number(g.dataset.step));
}}));
show(Number(slider.value));
const marked = document.querySelector("g.violation");
if (marked) marked.scrollIntoView({{ block: "center" }});
document.body.dataset.rendered = STATES.length;
</script>
</body></html>
"#,
        title = escape(page.title),
        replay = escape(page.replay),
        report = escape(page.report),
        count = steps.len(),
    )
}

/// The lanes in order: producers, the broker, its disk, consumers.
fn lanes(steps: &[Step]) -> Vec<String> {
    let mut producers = BTreeSet::new();
    let mut consumers = BTreeSet::new();
    for lane in steps
        .iter()
        .flat_map(|step| std::iter::once(&step.from).chain(step.to.as_ref()))
    {
        let number = lane.get(1..).and_then(|n| n.parse::<usize>().ok());
        match (lane.get(..1), number) {
            (Some("P"), Some(n)) => {
                producers.insert(n);
            }
            (Some("C"), Some(n)) => {
                consumers.insert(n);
            }
            _ => {}
        }
    }
    let producers = producers.into_iter().map(|n| format!("P{n}"));
    let consumers = consumers.into_iter().map(|n| format!("C{n}"));
    producers
        .chain(["B".to_owned(), "D".to_owned()])
        .chain(consumers)
        .collect()
}

fn position(lanes: &[String], lane: &str) -> usize {
    lanes
        .iter()
        .position(|known| known == lane)
        .unwrap_or_else(|| lanes.iter().position(|known| known == "B").unwrap_or(0))
}

fn x_of(index: usize) -> usize {
    LANE_GAP / 2 + index * LANE_GAP
}

/// A crash, a restart or a connection lost.
fn is_fault(step: &Step) -> bool {
    step.to.is_none()
        && step.from == "B"
        && (step.text.starts_with("CRASH")
            || step.text.starts_with("restart")
            || step.text.starts_with("connection"))
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= TEXT_MAX {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(TEXT_MAX - 1).collect();
    short.push('…');
    short
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, Simulation, Workload};
    use brokerlab_core::Mutant;

    fn failing_run() -> (History, crate::report::Report) {
        let options =
            Options::swarm(0, Workload::WorkQueue).with_mutant(Some(Mutant::LoseOnRequeue));
        let (report, history) = Simulation::new(0, options).run_keeping_history();
        (history, report)
    }

    #[test]
    fn a_failing_run_page_highlights_the_violation_and_names_its_replay() {
        let (history, report) = failing_run();
        let violation = report.violations.first().expect("the mutant breaks seed 0");
        let text = report.to_string();
        let html = page(
            &history,
            &Page {
                title: "SEED=0 workload=work-queue",
                report: &text,
                violation: Some(violation),
                replay: "brokerlab sim --workload work-queue --seed 0 --mutant lose-on-requeue",
            },
        );
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.matches(r#"class="step"#).count() > 10);
        assert!(
            html.contains(" violation\""),
            "the violating step is marked"
        );
        assert!(html.contains(violation.checker));
        assert!(html.contains("--mutant lose-on-requeue"));
        assert!(html.contains("disk (log)"));
    }

    #[test]
    fn a_page_needs_no_network() {
        let (history, report) = failing_run();
        let text = report.to_string();
        let html = page(
            &history,
            &Page {
                title: "t",
                report: &text,
                violation: report.violations.first(),
                replay: "r",
            },
        );
        // The one URL is the SVG namespace, which is a name, not a fetch.
        let urls = html.matches("http").count();
        assert_eq!(urls, html.matches("http://www.w3.org/2000/svg").count());
        assert!(!html.contains("<link") && !html.contains(" src="));
    }

    #[test]
    fn each_step_carries_what_the_broker_held_after_it() {
        let (history, report) = failing_run();
        let text = report.to_string();
        let html = page(
            &history,
            &Page {
                title: "t",
                report: &text,
                violation: None,
                replay: "r",
            },
        );
        let states = html
            .split("const STATES = ")
            .nth(1)
            .and_then(|rest| rest.split(";\n").next())
            .expect("the states are embedded");
        let states: serde_json::Value = serde_json::from_str(states).expect("valid JSON");
        let steps = html.matches(r#"<g class="step"#).count();
        assert_eq!(states.as_array().map(Vec::len), Some(steps));
        assert!(html.contains("every checker held"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
