//! CPU and memory of the server processes under test, read from /proc while a run measures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::stats::ProcessUse;

const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// A process tree to watch: the process and all its descendants (gunicorn's workers, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub name: String,
    pub pid: u32,
}

/// `name=pid`, as given on the command line.
pub fn parse_watch(raw: &str) -> Result<Watch, String> {
    let (name, pid) = raw
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=PID, got {raw:?}"))?;
    let pid = pid
        .trim()
        .parse()
        .map_err(|_| format!("{pid:?} is not a process id"))?;
    if name.is_empty() {
        return Err("the process name is empty".to_owned());
    }
    Ok(Watch {
        name: name.to_owned(),
        pid,
    })
}

/// Samples the watched trees from `start` until `stop` is set: peak summed RSS, and CPU time
/// over the window. Also returns the whole machine's CPU use over the window.
pub async fn sample(
    watches: Vec<Watch>,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> (Vec<ProcessUse>, Option<f64>) {
    tokio::time::sleep_until(start.into()).await;
    let hz = clock_ticks_per_second();
    let began = Instant::now();
    let machine_before = machine_ticks();
    let ticks_before: Vec<u64> = watches.iter().map(|w| tree_ticks(w.pid)).collect();
    let mut peak_kb = vec![0u64; watches.len()];
    loop {
        for (peak, w) in peak_kb.iter_mut().zip(&watches) {
            *peak = (*peak).max(tree_rss_kb(w.pid));
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let seconds = began.elapsed().as_secs_f64().max(1e-3);
    let uses = watches
        .iter()
        .zip(ticks_before)
        .zip(peak_kb)
        .map(|((w, before), peak)| ProcessUse {
            name: w.name.clone(),
            pid: w.pid,
            peak_rss_mb: peak as f64 / 1024.0,
            cpu_pct: tree_ticks(w.pid).saturating_sub(before) as f64 / hz / seconds * 100.0,
        })
        .collect();
    let machine = match (machine_before, machine_ticks()) {
        (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
            Some(busy1.saturating_sub(busy0) as f64 / (total1 - total0) as f64 * 100.0)
        }
        _ => None,
    };
    (uses, machine)
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields after `comm` in /proc/<pid>/stat (`comm` may contain spaces and parentheses).
fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Field 3 (state) is a letter: keep its position with a 0.
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// `pid` and its descendants, from the parent ids of every process.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).copied()) {
                children.entry(ppid as u32).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// utime + stime + the same of reaped children, summed over the tree: a worker that exits
/// during the window still counts, through its parent.
fn tree_ticks(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(stat_fields)
        .map(|f| f.get(11..15).map_or(0, |t| t.iter().sum::<u64>()))
        .sum()
}

fn tree_rss_kb(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .sum()
}

/// (busy, total) jiffies of the whole machine.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some((total - idle, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_takes_name_equals_pid() {
        assert_eq!(
            parse_watch("peer=42"),
            Ok(Watch {
                name: "peer".into(),
                pid: 42
            })
        );
        assert!(parse_watch("peer").is_err());
        assert!(parse_watch("=42").is_err());
        assert!(parse_watch("peer=x").is_err());
    }

    #[test]
    fn own_process_has_memory_and_is_its_own_tree_root() {
        let me = std::process::id();
        assert_eq!(tree(me).first(), Some(&me));
        assert!(tree_rss_kb(me) > 0);
    }
}
