//! mijian-loadgen: N simulated agents with real Ed25519 keys send realistic
//! signed reports (about 30 KB: 50 checks, 20 findings) to a collector and
//! print reports/s and latency percentiles. Between an agent's reports the
//! checks stay the same and a share of the findings changes (`--churn`,
//! default 5%; `--churn 1` makes every finding new every time).
//!
//! Agents enroll through `POST /api/v1/enroll` with a multi-use token
//! (`mijian-collector token create --uses N`). Reports are built and signed
//! before the clock starts, so the figures measure the collector, not the
//! generator. Plain HTTP/1.1 with keep-alive over std sockets, one connection
//! per sender thread; each agent's chain is sent in order by one thread.
//!
//! ```text
//! mijian-loadgen --url http://127.0.0.1:8080 --token mje_… --agents 50 --reports 40 --concurrency 8 [--rate 500]
//! ```

use anyhow::{Context, Result, bail};
use clap::Parser;
use mijian_report::{
    AgentKey, Check, CheckStatus, Finding, FindingKind, Jws, Marking, Report, RuleMatch, Severity,
    Trigger, sha256_hex,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "mijian-loadgen")]
struct Args {
    /// Collector base URL (http:// only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Multi-use enrollment token (not needed with --direct).
    #[arg(long, default_value = "")]
    token: String,
    /// Simulated agents.
    #[arg(long, default_value_t = 50)]
    agents: usize,
    /// Reports per agent (a chain seq 1..=N).
    #[arg(long, default_value_t = 40)]
    reports: u64,
    /// Sender threads (connections).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Skip HTTP: ingest in this process into the store at this database URL
    /// (measures verification + validation + storage alone).
    #[arg(long, value_name = "URL")]
    direct: Option<String>,
    /// Target rate in reports/s across all senders (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Share of findings whose content (the file's hash) changes from one
    /// report of an agent to the next. Real hosts mostly report the same
    /// files again; 1.0 makes every finding new in every report (worst case).
    #[arg(long, default_value_t = 0.05)]
    churn: f64,
    /// Print one signed report of the kind this load sends, then exit.
    #[arg(long)]
    dump: bool,
}

/// Deterministic per (agent, seq, finding): whether that finding changed.
fn changes(kid: &str, seq: u64, i: usize, churn: f64) -> bool {
    let h = sha256_hex(format!("{kid}/{seq}/{i}").as_bytes());
    let x = u32::from_str_radix(&h[..8], 16).unwrap_or(0) as f64 / u32::MAX as f64;
    x < churn
}

/// A report of agent `key`; `versions[i]` is the content version of finding `i`.
fn realistic(key: &AgentKey, seq: u64, prev: Option<String>, versions: &[u32]) -> Report {
    let mut r = Report::new(&key.kid(), seq, prev, Trigger::Schedule);
    r.host.hostname = format!("ws-{}", &key.kid()[..8]);
    r.host.os = "Kylin V10 SP3 (Linux 4.19.90-52.22.v2207.ky10.x86_64)".into();
    r.host.classification = "秘密".into();
    r.policy.digest = sha256_hex(b"rules");
    for i in 0..50 {
        let status = if i % 7 == 0 {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        };
        r.checks.push(
            Check::new(format!("family{}.check_{i}", i % 9), if i % 5 == 0 { format!("user:user{i}") } else { "host".into() }, status)
                .expected(serde_json::json!({"min": 10, "classes": 3, "note": "GB/T baseline requirement applies to this setting"}))
                .actual(serde_json::json!({"value": i, "source": "/etc/security/pwquality.conf", "line": i + 3}))
                .evidence(serde_json::json!({
                    "file": "/etc/security/pwquality.conf", "line": i + 3,
                    "text": "minlen = 8  # set by the installer; the baseline asks for ten or more characters",
                }))
                .remedy("Set minlen = 10 in /etc/security/pwquality.conf and re-run the check."),
        );
    }
    for i in 0..20 {
        let mut f = Finding::new(
            if i % 4 == 0 {
                FindingKind::MarkedClassified
            } else {
                FindingKind::UnmarkedClassified
            },
            if i % 3 == 0 {
                Severity::High
            } else {
                Severity::Medium
            },
        );
        f.path = Some(format!(
            "/home/user{}/文档/项目资料/第{i}批/技术方案-修订稿-{i:03}.docx",
            i % 3
        ));
        let version = versions.get(i).copied().unwrap_or(0);
        f.sha256 = Some(sha256_hex(
            format!("{}-{i}-{version}", key.kid()).as_bytes(),
        ));
        f.format = Some("docx".into());
        f.matches = (0..4)
            .map(|m| RuleMatch {
                rule: format!("codename-{m}"),
                count: (i + m + 1) as u64,
                first_offset: Some(120 * m as u64),
            })
            .collect();
        if i % 4 == 0 {
            f.marking = Some(Marking {
                level: "秘密".into(),
                period: Some("5年".into()),
                source: Some("head".into()),
            });
        }
        f.message = Some("document contains keyword hits from the configured keyword sets without a classification marking at its head".into());
        f.detail = Some(
            serde_json::json!({"size": 48213 + i, "modified": "2026-01-05T10:22:31Z", "owner": format!("user{}", i % 3)}),
        );
        r.findings.push(f);
    }
    r
}

struct Conn {
    host: String,
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn new(url: &str) -> Result<Conn> {
        let rest = url
            .strip_prefix("http://")
            .context("--url must start with http://")?;
        let addr = rest.trim_end_matches('/').to_string();
        Ok(Conn {
            host: addr.clone(),
            addr,
            stream: None,
        })
    }

    /// POST and return (status, body).
    fn post(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        for attempt in 0..2 {
            if self.stream.is_none() {
                let s = TcpStream::connect(&self.addr)
                    .with_context(|| format!("connect {}", self.addr))?;
                s.set_nodelay(true)?;
                self.stream = Some(BufReader::new(s));
            }
            match self.exchange(path, body) {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 0 => {
                    self.stream = None;
                    let _ = e;
                }
                Err(e) => return Err(e),
            }
        }
        bail!("unreachable")
    }

    fn exchange(&mut self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let s = self.stream.as_mut().context("no connection")?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let w = s.get_mut();
        w.write_all(head.as_bytes())?;
        w.write_all(body)?;
        let mut line = String::new();
        s.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("bad status line")?;
        let mut len = 0usize;
        loop {
            line.clear();
            s.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse()?;
            }
        }
        let mut resp = vec![0; len];
        s.read_exact(&mut resp)?;
        Ok((status, resp))
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.dump {
        let key = AgentKey::generate();
        let payload = realistic(&key, 1, None, &[0; 20]).to_payload();
        std::io::stdout().write_all(&Jws::sign(&payload, &key).to_json())?;
        return Ok(());
    }
    eprintln!("generating {} agents x {} reports ...", a.agents, a.reports);
    let mut conn = Conn::new(&a.url)?;
    let direct: Option<std::sync::Arc<dyn mijian_store::Store>> = a
        .direct
        .as_deref()
        .map(mijian_store::open)
        .transpose()?
        .map(Into::into);
    let mut chains: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut total_bytes = 0usize;
    for _ in 0..a.agents {
        let key = AgentKey::generate();
        if let Some(store) = &direct {
            store.add_agent(
                &key.kid(),
                &serde_json::to_string(&key.public_jwk())?,
                None,
                0,
            )?;
        } else {
            let req = serde_json::json!({"token": a.token, "jwk": key.public_jwk(), "hostname": format!("ws-{}", &key.kid()[..8])});
            let (st, body) = conn.post("/api/v1/enroll", &serde_json::to_vec(&req)?)?;
            if st != 200 {
                bail!("enroll: HTTP {st}: {}", String::from_utf8_lossy(&body));
            }
        }
        let mut prev = None;
        let mut chain = Vec::new();
        let mut versions = [0u32; 20];
        for seq in 1..=a.reports {
            for (i, v) in versions.iter_mut().enumerate() {
                if seq > 1 && changes(&key.kid(), seq, i, a.churn) {
                    *v += 1;
                }
            }
            let payload = realistic(&key, seq, prev.take(), &versions).to_payload();
            prev = Some(sha256_hex(&payload));
            let jws = Jws::sign(&payload, &key).to_json();
            total_bytes += jws.len();
            chain.push(jws);
        }
        chains.push(chain);
    }
    let n: usize = chains.iter().map(Vec::len).sum();
    eprintln!(
        "{n} reports, {} KB average signed size, finding churn {}; sending with {} connections",
        total_bytes / n.max(1) / 1024,
        a.churn,
        a.concurrency
    );

    // Agents are dealt to senders; each sender interleaves its agents' chains.
    let mut work: Vec<Vec<Vec<u8>>> = (0..a.concurrency.max(1)).map(|_| Vec::new()).collect();
    let mut per: Vec<Vec<Vec<Vec<u8>>>> = (0..a.concurrency.max(1)).map(|_| Vec::new()).collect();
    for (i, c) in chains.into_iter().enumerate() {
        per[i % a.concurrency.max(1)].push(c);
    }
    for (w, chains) in work.iter_mut().zip(per) {
        let longest = chains.iter().map(Vec::len).max().unwrap_or(0);
        let mut chains: Vec<_> = chains.into_iter().map(|c| c.into_iter()).collect();
        for _ in 0..longest {
            for c in chains.iter_mut() {
                if let Some(r) = c.next() {
                    w.push(r);
                }
            }
        }
    }
    let per_thread_interval =
        (a.rate > 0.0).then(|| Duration::from_secs_f64(a.concurrency.max(1) as f64 / a.rate));
    let start = Instant::now();
    let results: Vec<Result<(Vec<Duration>, Vec<u16>)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = work
            .into_iter()
            .enumerate()
            .map(|(k, reports)| {
                let url = a.url.clone();
                let direct = direct.clone();
                sc.spawn(move || -> Result<(Vec<Duration>, Vec<u16>)> {
                    let mut c = Conn::new(&url)?;
                    let mut lat = Vec::with_capacity(reports.len());
                    let mut codes = Vec::with_capacity(reports.len());
                    // Senders are staggered across the interval, so paced
                    // load arrives evenly rather than in bursts of one per sender.
                    let t0 = Instant::now()
                        + per_thread_interval.map_or(Duration::ZERO, |iv| {
                            iv * k as u32 / a.concurrency.max(1) as u32
                        });
                    for (i, r) in reports.iter().enumerate() {
                        if let Some(iv) = per_thread_interval {
                            let due = t0 + iv * i as u32;
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                            }
                        }
                        let s = Instant::now();
                        let st = match &direct {
                            Some(store) => {
                                mijian_collector::ingest::ingest(&**store, r, 0).status()
                            }
                            None => c.post("/api/v1/reports", r)?.0,
                        };
                        lat.push(s.elapsed());
                        codes.push(st);
                    }
                    Ok((lat, codes))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("sender panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut lat = Vec::new();
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    for r in results {
        let (l, c) = r?;
        lat.extend(l);
        for s in c {
            *codes.entry(s).or_default() += 1;
        }
    }
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "sent {} reports in {:.2} s: {:.0} reports/s; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms; status {:?}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(&lat, 0.50)),
        ms(pct(&lat, 0.90)),
        ms(pct(&lat, 0.99)),
        ms(pct(&lat, 1.0)),
        codes
    );
    if codes.keys().any(|c| *c != 202) {
        bail!("some reports were not stored (expected only 202)");
    }
    Ok(())
}
