//! BENCHMARKS.md tables from the result lines of a comparison: medians over the rounds, ratios
//! against the peer and the database ceiling, memory and CPU.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::stats::Summary;

const SCENARIOS: &[(&str, &str)] = &[
    ("create", "1. create lead"),
    ("get", "2. get lead by id"),
    ("list", "3. list, first page (50)"),
    ("filter", "4. list, status + owner filter"),
    ("deep", "5. deep page"),
    ("search", "6. search by name"),
];

#[derive(Args)]
pub struct ReportArgs {
    /// JSON lines written by `http`, `grpc` and `pgbench` runs (`--out`).
    #[arg(long)]
    results: PathBuf,
    /// The file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    benchmarks: PathBuf,
    /// Section id: the run replaces the section between this id's markers (appended only when
    /// the file has none yet), so the file keeps one current table per area.
    #[arg(long, default_value = "compare")]
    section: String,
    /// Heading of the section, one level below the area's heading in BENCHMARKS.md.
    #[arg(long, default_value = "Current figures")]
    heading: String,
    /// Markdown placed under the heading (method, machine, data).
    #[arg(long, default_value = "")]
    method: String,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.results)
        .with_context(|| format!("reading {}", args.results.display()))?;
    let results: Vec<Summary> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("parsing result lines")?;
    let section = render(&args.heading, &args.method, &results);
    let existing = std::fs::read_to_string(&args.benchmarks).unwrap_or_default();
    let updated = replace_section(&existing, &args.section, &section);
    std::fs::write(&args.benchmarks, updated)
        .with_context(|| format!("writing {}", args.benchmarks.display()))?;
    print!("{section}");
    Ok(())
}

pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

fn runs<'a>(
    results: &'a [Summary],
    side: &str,
    protocol: &str,
    scenario: &str,
) -> Vec<&'a Summary> {
    results
        .iter()
        .filter(|r| r.side == side && r.protocol == protocol && r.scenario == scenario)
        .collect()
}

fn med(runs: &[&Summary], f: impl Fn(&Summary) -> f64) -> Option<f64> {
    median(runs.iter().map(|r| f(r)).collect())
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "–".to_owned(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "–".to_owned(),
    }
}

fn errors(runs: &[&Summary]) -> Option<u64> {
    (!runs.is_empty()).then(|| runs.iter().map(|r| r.errors()).sum())
}

fn peak_rss(runs: &[&Summary], name: &str) -> Option<f64> {
    runs.iter()
        .flat_map(|r| &r.processes)
        .filter(|p| p.name == name)
        .map(|p| p.peak_rss_mb)
        .reduce(f64::max)
}

fn cpu(runs: &[&Summary], name: &str) -> Option<f64> {
    median(
        runs.iter()
            .flat_map(|r| &r.processes)
            .filter(|p| p.name == name)
            .map(|p| p.cpu_pct)
            .collect(),
    )
}

/// Each of our runs against the ceiling run of the same round (same label), in run order.
fn paired_ratios(us: &[&Summary], ceiling: &[&Summary]) -> Vec<f64> {
    us.iter()
        .filter_map(|u| {
            let c = ceiling
                .iter()
                .find(|c| !u.label.is_empty() && c.label == u.label)?;
            (c.rps > 0.0).then(|| u.rps / c.rps)
        })
        .collect()
}

fn per_run(runs: &[&Summary]) -> String {
    runs.iter()
        .map(|r| format!("{:.0}", r.rps))
        .collect::<Vec<_>>()
        .join(" / ")
}

pub fn render(heading: &str, method: &str, results: &[Summary]) -> String {
    let mut out = format!("### {heading}\n\n");
    if !method.trim().is_empty() {
        out.push_str(method.trim());
        out.push_str("\n\n");
    }
    out.push_str(
        "Medians over the rounds. req/s = completed requests per second (errors included and \
         counted separately); ceiling = pgbench running the service's own SQL at the same \
         concurrency.\n\n",
    );
    out.push_str("| scenario | us req/s | us p99 ms | peer req/s | peer p99 ms | ceiling tx/s | ceiling p99 ms | us/peer | us/ceiling | errors us / peer |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for (key, title) in SCENARIOS {
        let us = runs(results, "sc", "http", key);
        let peer = runs(results, "peer", "http", key);
        let ceiling = runs(results, "ceiling", "pgbench", key);
        if us.is_empty() && peer.is_empty() && ceiling.is_empty() {
            continue;
        }
        let (us_rps, peer_rps, ceil_rps) = (
            med(&us, |r| r.rps),
            med(&peer, |r| r.rps),
            med(&ceiling, |r| r.rps),
        );
        let err = |e: Option<u64>| e.map_or("–".to_owned(), |e| e.to_string());
        out.push_str(&format!(
            "| {title} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |\n",
            num(us_rps),
            num(med(&us, |r| r.p99_ms)),
            num(peer_rps),
            num(med(&peer, |r| r.p99_ms)),
            num(ceil_rps),
            num(med(&ceiling, |r| r.p99_ms)),
            ratio(us_rps, peer_rps),
            ratio(us_rps, ceil_rps),
            err(errors(&us)),
            err(errors(&peer)),
        ));
    }

    let paired_rows: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|(key, title)| {
            let ratios = paired_ratios(
                &runs(results, "sc", "http", key),
                &runs(results, "ceiling", "pgbench", key),
            );
            let listed = ratios
                .iter()
                .map(|r| format!("{r:.2}×"))
                .collect::<Vec<_>>()
                .join(" / ");
            let middle = median(ratios)?;
            Some(format!("| {title} | {listed} | {middle:.2}× |\n"))
        })
        .collect();
    if !paired_rows.is_empty() {
        out.push_str(
            "\nus/ceiling round by round (each of our runs divided by the ceiling run of the same \
             round, so a change in the machine's speed during the run moves both sides of each \
             ratio):\n\n| scenario | per round | median |\n|---|---|---|\n",
        );
        paired_rows.iter().for_each(|r| out.push_str(r));
    }

    let grpc_rows: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|(key, title)| {
            let g = runs(results, "sc", "grpc", key);
            (!g.is_empty()).then(|| {
                format!(
                    "| {title} | {} | {} | {} | {} | {} |\n",
                    num(med(&g, |r| r.rps)),
                    num(med(&g, |r| r.p50_ms)),
                    num(med(&g, |r| r.p99_ms)),
                    err_count(&g),
                    per_run(&g),
                )
            })
        })
        .collect();
    if !grpc_rows.is_empty() {
        out.push_str("\nDirect gRPC to the crm service (no gateway):\n\n");
        out.push_str("| scenario | req/s | p50 ms | p99 ms | errors | req/s per round |\n|---|---|---|---|---|---|\n");
        grpc_rows.iter().for_each(|r| out.push_str(r));
    }

    out.push_str("\nMemory and CPU (peak RSS of the process tree over the measured windows; CPU 100 % = one core busy, median over rounds; machine 100 % = all cores):\n\n");
    out.push_str("| scenario | us RSS MB | us CPU % | peer RSS MB | peer CPU % | PostgreSQL CPU % (us / peer / ceiling) | machine CPU % (us / peer) | us req/s per round | peer req/s per round |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (key, title) in SCENARIOS {
        let us = runs(results, "sc", "http", key);
        let peer = runs(results, "peer", "http", key);
        let ceiling = runs(results, "ceiling", "pgbench", key);
        if us.is_empty() && peer.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "| {title} | {} | {} | {} | {} | {} / {} / {} | {} / {} | {} | {} |\n",
            num(peak_rss(&us, "salescompass")),
            num(cpu(&us, "salescompass")),
            num(peak_rss(&peer, "peer")),
            num(cpu(&peer, "peer")),
            num(cpu(&us, "postgres")),
            num(cpu(&peer, "postgres")),
            num(cpu(&ceiling, "postgres")),
            num(med(&us, |r| r.machine_cpu_pct.unwrap_or(0.0))),
            num(med(&peer, |r| r.machine_cpu_pct.unwrap_or(0.0))),
            per_run(&us),
            per_run(&peer),
        ));
    }
    out
}

fn err_count(runs: &[&Summary]) -> String {
    errors(runs).map_or("–".to_owned(), |e| e.to_string())
}

fn markers(section: &str) -> (String, String) {
    (
        format!("<!-- sc-bench:{section}:begin -->"),
        format!("<!-- sc-bench:{section}:end -->"),
    )
}

/// Replaces the marked section, or appends it: the rest of the file is left as written.
pub fn replace_section(existing: &str, section: &str, body: &str) -> String {
    let (begin, end) = markers(section);
    let block = format!("{begin}\n{body}{end}\n");
    if let (Some(b), Some(e)) = (existing.find(&begin), existing.find(&end))
        && b < e
    {
        let after = &existing[e + end.len()..];
        return format!(
            "{}{block}{}",
            &existing[..b],
            after.strip_prefix('\n').unwrap_or(after)
        );
    }
    let sep = if existing.is_empty() || existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{existing}{sep}{block}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ProcessUse;

    fn result(side: &str, protocol: &str, scenario: &str, rps: f64, p99: f64) -> Summary {
        Summary {
            label: String::new(),
            side: side.into(),
            scenario: scenario.into(),
            protocol: protocol.into(),
            connections: 4,
            seconds: 5.0,
            requests: (rps * 5.0) as u64,
            ok: (rps * 5.0) as u64,
            non_2xx: 0,
            transport_errors: 0,
            errors_by_code: Default::default(),
            rps,
            mean_ms: 1.0,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms: p99,
            max_ms: p99,
            processes: vec![ProcessUse {
                name: if side == "sc" { "salescompass" } else { "peer" }.into(),
                pid: 1,
                peak_rss_mb: rps / 10.0,
                cpu_pct: 50.0,
            }],
            machine_cpu_pct: Some(90.0),
        }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn the_table_shows_medians_and_ratios() {
        let results = vec![
            result("sc", "http", "get", 1000.0, 5.0),
            result("sc", "http", "get", 3000.0, 9.0),
            result("sc", "http", "get", 2000.0, 7.0),
            result("peer", "http", "get", 20.0, 900.0),
            result("peer", "http", "get", 40.0, 700.0),
            result("peer", "http", "get", 30.0, 800.0),
            result("ceiling", "pgbench", "get", 4000.0, 2.0),
        ];
        let table = render("t", "", &results);
        // One level below the area's `##` heading in BENCHMARKS.md.
        assert!(table.starts_with("### t\n\n"), "{table}");
        let row = table
            .lines()
            .find(|l| l.starts_with("| 2. get lead by id | 2000 |"))
            .expect("get row");
        assert_eq!(
            row,
            "| 2. get lead by id | 2000 | 7.00 | 30.0 | 800 | 4000 | 2.00 | 66.67× | 0.50× | 0 / 0 |"
        );
        // Peak RSS is the maximum over rounds, not the median.
        assert!(
            table.contains("| 2. get lead by id | 300 | 50.0 | 4.00 | 50.0 |"),
            "{table}"
        );
        assert!(!table.contains("1. create lead"));
    }

    #[test]
    fn ratios_pair_each_round_with_its_own_ceiling() {
        let labelled = |side, protocol, rps, label: &str| Summary {
            label: label.into(),
            ..result(side, protocol, "get", rps, 1.0)
        };
        let results = vec![
            labelled("sc", "http", 1000.0, "round 1"),
            labelled("sc", "http", 1200.0, "round 2"),
            labelled("sc", "http", 900.0, "round 3"),
            labelled("ceiling", "pgbench", 2000.0, "round 1"),
            labelled("ceiling", "pgbench", 3000.0, "round 2"),
            labelled("ceiling", "pgbench", 1000.0, "round 3"),
        ];
        let table = render("t", "", &results);
        // Medians alone give 1000 / 2000 = 0.50×; round by round the median is 0.50× too, but
        // the rounds themselves (0.50, 0.40, 0.90) are listed.
        assert!(
            table.contains("| 2. get lead by id | 0.50× / 0.40× / 0.90× | 0.50× |"),
            "{table}"
        );
        // Unlabelled runs cannot be paired: no round-by-round table.
        let unlabelled = vec![
            result("sc", "http", "get", 1000.0, 5.0),
            result("ceiling", "pgbench", "get", 2000.0, 2.0),
        ];
        assert!(!render("t", "", &unlabelled).contains("round by round"));
    }

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let doc = "# Benchmarks\n\nintro\n";
        let once = replace_section(doc, "x", "first\n");
        assert_eq!(
            once,
            "# Benchmarks\n\nintro\n\n<!-- sc-bench:x:begin -->\nfirst\n<!-- sc-bench:x:end -->\n"
        );
        let with_tail = format!("{once}\n## Later\n");
        let twice = replace_section(&with_tail, "x", "second\n");
        assert!(twice.contains("second\n<!-- sc-bench:x:end -->\n\n## Later\n"));
        assert!(!twice.contains("first"));
        let other = replace_section(&twice, "y", "third\n");
        assert!(other.contains("second") && other.contains("third"));
    }
}
