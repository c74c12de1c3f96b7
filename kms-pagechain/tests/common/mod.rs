//! Helpers shared by the integration tests: running one test of the current test binary as a
//! child process, and scanning this process's own memory.

// Test helpers: each binary uses a subset; failing loudly is their job.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::process::Command;

/// Environment variable that tells a test it runs as the child of another test.
pub(crate) const CHILD_ENV: &str = "KMS_PAGECHAIN_TEST_CHILD";

/// Whether this process is the child started by [`run_child`] for `name`.
pub(crate) fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Runs the ignored test `name` of this test binary in a child process and returns its stdout;
/// panics with the child's output if it fails.
pub(crate) fn run_child(name: &str) -> String {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name)
        .output()
        .expect("spawn child test process");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child {name} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child {name} did not run\n{stdout}\n{stderr}"
    );
    stdout
}

/// A readable mapping from `/proc/self/maps`.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) name: String,
}

/// Every readable mapping of this process, except the kernel's `[vvar]`/`[vsyscall]` pages.
pub(crate) fn readable_mappings() -> io::Result<Vec<Mapping>> {
    let maps = fs::read_to_string("/proc/self/maps")?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let name = fields.nth(3).unwrap_or("").to_owned();
        if !perms.starts_with('r') || name.starts_with("[vvar") || name == "[vsyscall]" {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let start = u64::from_str_radix(start, 16).map_err(io::Error::other)?;
        let end = u64::from_str_radix(end, 16).map_err(io::Error::other)?;
        out.push(Mapping { start, end, name });
    }
    Ok(out)
}

/// Counts the places in this process's readable memory that hold the secret whose bitwise
/// complement is `complement`. The secret itself never has to exist in the scanner: a window `w`
/// matches when `w[i] ^ complement[i] == 0xFF` for every `i`. Returns the matches with the name
/// of the mapping they are in.
///
/// Reads go through `/proc/self/mem` into a buffer that is wiped after every chunk and never
/// scanned itself, so the scan leaves no copy of what it found behind for the next scan.
pub(crate) fn find_secret(complement: &[u8]) -> io::Result<Vec<(u64, String)>> {
    assert!(complement.len() >= 16, "needle too short to be unique");
    const CHUNK: usize = 1 << 20;
    let mem = File::open("/proc/self/mem")?;
    let overlap = complement.len() - 1;
    let mut buf = vec![0u8; CHUNK + overlap];
    let mut hits = Vec::new();
    // The scan must not read its own buffer: reading a range that contains the buffer into the
    // buffer replicates what it holds (an overlapping copy), so that range is skipped.
    let own = buf.as_ptr() as u64..buf.as_ptr() as u64 + buf.len() as u64;
    let mut ranges = Vec::new();
    for map in readable_mappings()? {
        if map.start < own.end && own.start < map.end {
            if map.start < own.start {
                ranges.push(Mapping {
                    start: map.start,
                    end: own.start,
                    name: map.name.clone(),
                });
            }
            if own.end < map.end {
                ranges.push(Mapping {
                    start: own.end,
                    end: map.end,
                    name: map.name.clone(),
                });
            }
        } else {
            ranges.push(map);
        }
    }
    for map in ranges {
        let mut addr = map.start;
        let mut carried = 0usize;
        while addr < map.end {
            let want = usize::try_from((map.end - addr).min(CHUNK as u64)).unwrap();
            let n = match mem.read_at(&mut buf[carried..carried + want], addr) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let filled = carried + n;
            let window_start = addr - carried as u64;
            let first = !complement[0];
            let mut i = 0;
            while i + complement.len() <= filled {
                if buf[i] == first
                    && buf[i..i + complement.len()]
                        .iter()
                        .zip(complement)
                        .all(|(b, c)| b ^ c == 0xFF)
                {
                    hits.push((window_start + i as u64, map.name.clone()));
                }
                i += 1;
            }
            // Keep the tail for matches that straddle two chunks, wipe the rest.
            carried = overlap.min(filled);
            buf.copy_within(filled - carried..filled, 0);
            buf[carried..].fill(0);
            std::hint::black_box(&buf);
            addr += n as u64;
        }
        buf.fill(0);
    }
    std::hint::black_box(&buf);
    Ok(hits)
}

/// The `VmFlags` of the `/proc/self/smaps` entry that contains `addr`.
pub(crate) fn vm_flags(addr: usize) -> Vec<String> {
    let smaps = fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let addr = addr as u64;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            inside = start <= addr && addr < end;
            continue;
        }
        if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
            return flags.split_whitespace().map(str::to_owned).collect();
        }
    }
    panic!("no smaps entry contains {addr:#x}");
}
